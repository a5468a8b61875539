package proxytest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// FakeKernel is an in-memory netfilter that applies iptables-restore
// payloads with the semantics of "iptables-restore --noflush" (the only mode
// kube-proxy uses), as measured against iptables-nft 1.8.9:
//
//   - A table exists, with its built-in chains (policy ACCEPT), once a
//     payload section for it commits.
//   - ":CHAIN - [0:0]" creates a user-defined chain, or flushes it if it
//     exists; for a built-in chain it only sets the policy (unless "-").
//   - -A appends, -I inserts (at 1, or at n <= len+1), -D deletes the first
//     rule equal in Canonical form (or rule n), -F flushes, -N creates, -X
//     deletes user-defined chains that are empty and that no rule jumps to,
//     -P sets a built-in chain's policy.
//   - A -j/-g to a name that is not a target extension must name an existing
//     user-defined chain of the table; a target must not become reachable
//     from a hook the kernel forbids it in (DNAT from POSTROUTING, ...); a
//     cycle of jumps reachable from a built-in chain is refused.
//   - Each table section is atomic: its lines apply to an overlay that
//     merges into the table at COMMIT. An error leaves the failing table
//     unchanged, but tables committed earlier in the same payload stay
//     applied, exactly as with the real tool.
//
// Errors are *RestoreError values wrapping the sentinels of errors.go.
//
// FakeKernel is safe for concurrent use; each method holds an internal
// mutex, so a Restore is atomic with respect to Dump, Rules and Trace.
type FakeKernel struct {
	family Family
	mu     sync.Mutex
	tables map[string]*fakeTable
}

// Family is the IP family of a FakeKernel: iptables (IPv4) or ip6tables
// (IPv6) keep separate tables, and each refuses the other's addresses.
type Family int

const (
	// IPv4 is the family of iptables-restore.
	IPv4 Family = iota
	// IPv6 is the family of ip6tables-restore.
	IPv6
)

// String returns "IPv4" or "IPv6".
func (f Family) String() string {
	if f == IPv6 {
		return "IPv6"
	}
	return "IPv4"
}

// NewFakeKernel returns an empty FakeKernel of family (IPv4 behaves like
// iptables-restore, IPv6 like ip6tables-restore): no tables until a payload
// names one.
func NewFakeKernel(family Family) *FakeKernel {
	return &FakeKernel{family: family, tables: map[string]*fakeTable{}}
}

// Family returns the kernel's IP family.
func (k *FakeKernel) Family() Family { return k.family }

// Reset removes every table, as after boot.
func (k *FakeKernel) Reset() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.tables = map[string]*fakeTable{}
}

// Restore applies payload with iptables-restore --noflush semantics. It
// returns nil on success or a *RestoreError for the first failing line.
// Tables whose COMMIT was reached before the error stay applied; the table
// being applied when the error occurred is left unchanged.
func (k *FakeKernel) Restore(ctx context.Context, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake iptables-restore: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	var x *tableTx
	var isNew bool
	return parseLines(payload, sectionHandler{
		begin: func(t Table) error {
			if _, ok := builtinChains[t.Name]; !ok {
				return fmt.Errorf("table name %q invalid: %w", t.Name, ErrNoTable)
			}
			base, ok := k.tables[t.Name]
			if !ok {
				base = newFakeTable(t.Name, k.family)
			}
			x, isNew = newTableTx(base), !ok
			return nil
		},
		decl: func(d ChainDecl) error { return x.declare(d) },
		op:   func(o Op, opts []Option) error { return x.apply(o, opts) },
		commit: func(int) error {
			if err := x.checkLoops(); err != nil {
				return err
			}
			x.commit()
			if isNew {
				k.tables[x.base.name] = x.base
			}
			x = nil
			return nil
		},
	})
}

// Tables returns the names of the tables that exist, in iptables-save order.
func (k *FakeKernel) Tables() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for _, n := range tableOrder {
		if _, ok := k.tables[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// Chains returns the chains of table, built-in ones first in their fixed
// order, then user-defined ones sorted; nil if the table does not exist.
func (k *FakeKernel) Chains(table string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	t, ok := k.tables[table]
	if !ok {
		return nil
	}
	return t.sortedChains()
}

// Rules returns a copy of the rules of chain in table, in order, as they
// were written in the payload; nil if the chain does not exist.
func (k *FakeKernel) Rules(table, chain string) []Rule {
	k.mu.Lock()
	defer k.mu.Unlock()
	t, ok := k.tables[table]
	if !ok {
		return nil
	}
	c, ok := t.chains[chain]
	if !ok {
		return nil
	}
	out := make([]Rule, len(c.rules))
	for i, r := range c.rules {
		out[i] = Rule{Chain: r.rule.Chain, Args: slices.Clone(r.rule.Args)}
	}
	return out
}

// Dump renders every existing table in iptables-save format without the
// date comments and with zero counters: tables in the order filter, nat,
// mangle, raw, security; chain declarations with built-in chains first,
// then user-defined chains sorted by name; then rules chain by chain in the
// same order, each as written in the payload that added it. The output is
// deterministic and is itself a valid payload.
func (k *FakeKernel) Dump() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var b strings.Builder
	for _, n := range tableOrder {
		if t, ok := k.tables[n]; ok {
			t.dump(&b, false)
		}
	}
	return b.String()
}

// DumpCanonical is Dump with every rule in Canonical form, so that two
// kernels holding the same rules written differently dump the same text.
func (k *FakeKernel) DumpCanonical() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var b strings.Builder
	for _, n := range tableOrder {
		if t, ok := k.tables[n]; ok {
			t.dump(&b, true)
		}
	}
	return b.String()
}

// dump writes the table in iptables-save form, rules as written or in
// Canonical form.
func (t *fakeTable) dump(b *strings.Builder, canonical bool) {
	fmt.Fprintf(b, "*%s\n", t.name)
	names := t.sortedChains()
	for _, n := range names {
		fmt.Fprintf(b, ":%s %s [0:0]\n", n, t.chains[n].policy)
	}
	for _, n := range names {
		for _, r := range t.chains[n].rules {
			if canonical {
				b.WriteString("-A ")
				b.WriteString(n)
				if spec := (Rule{Args: canonicalArgs(r.opts)}).Spec(); spec != "" {
					b.WriteByte(' ')
					b.WriteString(spec)
				}
			} else {
				b.WriteString(r.rule.String())
			}
			b.WriteByte('\n')
		}
	}
	b.WriteString("COMMIT\n")
}
