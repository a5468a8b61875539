package proxy

import (
	"bytes"
	"context"
	"fmt"
	"time"

	goiptables "github.com/coreos/go-iptables/iptables"
	v1 "k8s.io/api/core/v1"
	utilexec "k8s.io/utils/exec"
)

// IPTablesOptions configures NewIPTables. The zero value drives the
// distribution's default IPv4 iptables in the caller's network namespace.
type IPTablesOptions struct {
	// IPFamily selects iptables (v1.IPv4Protocol, the default) or
	// ip6tables (v1.IPv6Protocol).
	IPFamily v1.IPFamily
	// Backend selects iptables-nft or iptables-legacy; BackendAuto uses
	// the unprefixed commands.
	Backend BackendMode
	// NetNS, when set, is the path of a network namespace (such as
	// /run/netns/NAME) in which every command runs. Empty means the
	// namespace of the calling process.
	NetNS string
	// Exec runs the restore, save and version commands; nil means the
	// real k8s.io/utils/exec. The single-rule commands always go through
	// github.com/coreos/go-iptables, which execs the tools itself.
	Exec utilexec.Interface
}

// IPTables is the real Netfilter: iptables-restore --noflush for
// payloads, iptables-save for reading a table back, and
// github.com/coreos/go-iptables for chains and single rules, all with the
// lock flags the installed version supports.
//
// IPTables is safe for concurrent use. With IPTablesOptions.NetNS set,
// commands run on a few threads kept inside that namespace, up to four at
// once (the parallel restores of a split payload); call Close when done.
type IPTables struct {
	backend Backend
	exec    utilexec.Interface
	ipt     *goiptables.IPTables
	ns      *nsThread
}

var _ Netfilter = (*IPTables)(nil)

// NewIPTables detects the backend and version of the iptables tools once
// (DetectBackend) and returns an IPTables driving them. Errors wrap
// ErrNoBackend when the tools are missing.
func NewIPTables(ctx context.Context, opts IPTablesOptions) (*IPTables, error) {
	t := &IPTables{exec: opts.Exec}
	if t.exec == nil {
		t.exec = utilexec.New()
	}
	if opts.NetNS != "" {
		ns, err := newNSThread(opts.NetNS)
		if err != nil {
			return nil, err
		}
		t.ns = ns
	}
	var err error
	t.run(func() {
		t.backend, err = DetectBackend(ctx, t.exec, opts.IPFamily, opts.Backend)
		if err != nil {
			return
		}
		proto := goiptables.ProtocolIPv4
		if opts.IPFamily == v1.IPv6Protocol {
			proto = goiptables.ProtocolIPv6
		}
		waitSecs := 5
		t.ipt, err = goiptables.New(goiptables.IPFamily(proto), goiptables.Path(t.backend.IPTables), goiptables.Timeout(waitSecs))
		if err != nil {
			err = fmt.Errorf("go-iptables for %s: %w: %w", t.backend.IPTables, ErrNoBackend, err)
		}
	})
	if err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// Backend returns what NewIPTables detected.
func (t *IPTables) Backend() Backend { return t.backend }

// Close releases the namespace thread, if any. The IPTables must not be
// used afterwards.
func (t *IPTables) Close() {
	if t.ns != nil {
		t.ns.close()
		t.ns = nil
	}
}

// run runs f inside the configured namespace.
func (t *IPTables) run(f func()) {
	if t.ns == nil {
		f()
		return
	}
	t.ns.do(f)
}

// Restore runs "iptables-restore --noflush" with the lock flags of the
// installed version and payload on standard input. On failure it returns a
// *RestoreError naming the failing line and its neighbours.
func (t *IPTables) Restore(ctx context.Context, payload []byte) error {
	var err error
	t.run(func() { err = runRestore(ctx, t.exec, t.backend, payload) })
	return err
}

// runRestore is Restore without the namespace switch.
func runRestore(ctx context.Context, ex utilexec.Interface, b Backend, payload []byte) error {
	args := append(append([]string(nil), b.RestoreWaitFlags...), "--noflush")
	cmd := ex.CommandContext(ctx, b.Restore, args...)
	cmd.SetStdin(bytes.NewReader(payload))
	var stderr bytes.Buffer
	cmd.SetStdout(&stderr)
	cmd.SetStderr(&stderr)
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%w (%w)", err, ctxErr)
		}
		return newRestoreError(b.Restore, payload, stderr.Bytes(), err)
	}
	return nil
}

// Save runs "iptables-save -t table".
func (t *IPTables) Save(ctx context.Context, table string) ([]byte, error) {
	var out []byte
	var err error
	t.run(func() {
		cmd := t.exec.CommandContext(ctx, t.backend.Save, "-t", table)
		var stdout, stderr bytes.Buffer
		cmd.SetStdout(&stdout)
		cmd.SetStderr(&stderr)
		if err = cmd.Run(); err != nil {
			err = fmt.Errorf("%s -t %s: %w (%s)", t.backend.Save, table, err, bytes.TrimSpace(stderr.Bytes()))
			return
		}
		out = stdout.Bytes()
	})
	return out, err
}

// goIPT runs one go-iptables call in the namespace, after checking ctx
// (go-iptables takes no context; its commands are bounded by the lock
// wait of 5 s).
func (t *IPTables) goIPT(ctx context.Context, f func(*goiptables.IPTables) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var err error
	start := time.Now()
	t.run(func() { err = f(t.ipt) })
	if err != nil {
		return fmt.Errorf("%s (after %s): %w", t.backend.IPTables, time.Since(start).Round(time.Millisecond), err)
	}
	return nil
}

// ChainExists reports whether chain exists in table.
func (t *IPTables) ChainExists(ctx context.Context, table, chain string) (bool, error) {
	var ok bool
	err := t.goIPT(ctx, func(ipt *goiptables.IPTables) (err error) {
		ok, err = ipt.ChainExists(table, chain)
		return err
	})
	return ok, err
}

// NewChain creates chain in table.
func (t *IPTables) NewChain(ctx context.Context, table, chain string) error {
	return t.goIPT(ctx, func(ipt *goiptables.IPTables) error { return ipt.NewChain(table, chain) })
}

// RuleExists reports whether chain holds a rule equal to args.
func (t *IPTables) RuleExists(ctx context.Context, table, chain string, args ...string) (bool, error) {
	var ok bool
	err := t.goIPT(ctx, func(ipt *goiptables.IPTables) (err error) {
		ok, err = ipt.Exists(table, chain, args...)
		return err
	})
	return ok, err
}

// InsertRule inserts a rule at position pos of chain.
func (t *IPTables) InsertRule(ctx context.Context, table, chain string, pos int, args ...string) error {
	return t.goIPT(ctx, func(ipt *goiptables.IPTables) error { return ipt.Insert(table, chain, pos, args...) })
}

// DeleteRule deletes the first rule of chain equal to args.
func (t *IPTables) DeleteRule(ctx context.Context, table, chain string, args ...string) error {
	return t.goIPT(ctx, func(ipt *goiptables.IPTables) error { return ipt.Delete(table, chain, args...) })
}

// ListRules returns "iptables -S CHAIN" of one chain.
func (t *IPTables) ListRules(ctx context.Context, table, chain string) ([]string, error) {
	var out []string
	err := t.goIPT(ctx, func(ipt *goiptables.IPTables) (err error) {
		out, err = ipt.List(table, chain)
		return err
	})
	return out, err
}
