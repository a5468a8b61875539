package proxytest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// FakeNetfilter is a FakeKernel with the single-rule commands of the
// iptables tool (-N, -C, -I, -D) and iptables-save of one table, so that
// it can stand in for the whole kernel side of a service proxy
// (proxy.Netfilter). Every command is applied as a one-line
// iptables-restore --noflush payload, so it is checked and refused
// exactly as FakeKernel.Restore refuses it, and returns the same
// *RestoreError values.
//
// Hooks lets a test fail or observe commands (a drift test flushes a table
// between two syncs, a retry test fails the next restore).
//
// FakeNetfilter is safe for concurrent use.
type FakeNetfilter struct {
	*FakeKernel

	mu sync.Mutex
	// restoreErrs are returned by the next Restore calls, in order,
	// before the payload is looked at.
	restoreErrs []error
	restores    int
}

// NewFakeNetfilter returns a FakeNetfilter over an empty FakeKernel of
// family.
func NewFakeNetfilter(family Family) *FakeNetfilter {
	return &FakeNetfilter{FakeKernel: NewFakeKernel(family)}
}

// FailNextRestore makes the next Restore return err without applying
// anything (as when iptables-restore cannot take the lock). Calls queue.
func (f *FakeNetfilter) FailNextRestore(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restoreErrs = append(f.restoreErrs, err)
}

// Restores returns how many times Restore was called, failures included.
func (f *FakeNetfilter) Restores() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.restores
}

// Restore applies payload like FakeKernel.Restore, unless a failure was
// queued with FailNextRestore.
func (f *FakeNetfilter) Restore(ctx context.Context, payload []byte) error {
	f.mu.Lock()
	f.restores++
	if len(f.restoreErrs) > 0 {
		err := f.restoreErrs[0]
		f.restoreErrs = f.restoreErrs[1:]
		f.mu.Unlock()
		return err
	}
	f.mu.Unlock()
	return f.FakeKernel.Restore(ctx, payload)
}

// Save returns table in iptables-save format (see Dump), or nothing when
// the table does not exist.
func (f *FakeNetfilter) Save(ctx context.Context, table string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fake iptables-save: %w", err)
	}
	dump := f.Dump()
	start := strings.Index(dump, "*"+table+"\n")
	if start < 0 {
		return nil, nil
	}
	end := strings.Index(dump[start:], "COMMIT\n")
	return []byte(dump[start : start+end+len("COMMIT\n")]), nil
}

// ChainExists reports whether chain exists in table.
func (f *FakeNetfilter) ChainExists(ctx context.Context, table, chain string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	return slices.Contains(f.Chains(table), chain), nil
}

// NewChain creates chain in table ("iptables -N").
func (f *FakeNetfilter) NewChain(ctx context.Context, table, chain string) error {
	return f.command(ctx, table, "-N "+Quote(chain))
}

// RuleExists reports whether chain holds a rule equal to args
// ("iptables -C"), compared as iptables compares them (Rule.Equal). A
// missing chain holds no rule: like go-iptables' Exists, which takes the
// exit status 1 of "iptables -C" for "no", it reports false.
func (f *FakeNetfilter) RuleExists(ctx context.Context, table, chain string, args ...string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	want := Rule{Chain: chain, Args: args}
	if _, err := want.Options(); err != nil {
		return false, err
	}
	for _, r := range f.Rules(table, chain) {
		if r.Equal(want) {
			return true, nil
		}
	}
	return false, nil
}

// InsertRule inserts a rule at position pos of chain ("iptables -I").
func (f *FakeNetfilter) InsertRule(ctx context.Context, table, chain string, pos int, args ...string) error {
	return f.command(ctx, table, "-I "+Quote(chain)+" "+strconv.Itoa(pos)+" "+quoteArgs(args))
}

// DeleteRule deletes the first rule of chain equal to args ("iptables -D").
func (f *FakeNetfilter) DeleteRule(ctx context.Context, table, chain string, args ...string) error {
	return f.command(ctx, table, "-D "+Quote(chain)+" "+quoteArgs(args))
}

// ListRules returns the rules of chain as "iptables -S CHAIN" prints
// them: "-N CHAIN" (or "-P CHAIN POLICY" for a built-in chain), then one
// "-A" line per rule. A missing chain is an error wrapping ErrNoChain.
func (f *FakeNetfilter) ListRules(ctx context.Context, table, chain string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !slices.Contains(f.Chains(table), chain) {
		return nil, fmt.Errorf("iptables -t %s -S %s: %w", table, chain, ErrNoChain)
	}
	out := []string{"-N " + chain}
	if builtin, ok := builtinChains[table]; ok && slices.Contains(builtin, chain) {
		out[0] = "-P " + chain + " ACCEPT"
	}
	for _, r := range f.Rules(table, chain) {
		out = append(out, r.String())
	}
	return out, nil
}

func (f *FakeNetfilter) command(ctx context.Context, table, line string) error {
	return f.FakeKernel.Restore(ctx, []byte("*"+table+"\n"+line+"\nCOMMIT\n"))
}

func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = Quote(a)
	}
	return strings.Join(q, " ")
}
