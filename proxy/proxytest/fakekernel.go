package proxytest

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// FakeKernel is an in-memory netfilter that applies iptables-restore
// payloads with the semantics of "iptables-restore --noflush" (the only mode
// kube-proxy uses), as measured against iptables-nft 1.8.9:
//
//   - Each table exists with its built-in chains (policy ACCEPT) once a
//     payload names it.
//   - ":CHAIN - [0:0]" creates a user-defined chain, or flushes it if it
//     exists; for a built-in chain it only sets the policy.
//   - -A appends, -I inserts (at 1 or at n <= len+1), -D deletes the first
//     rule that is the same as iptables sees it (or rule n), -F flushes, -N
//     creates, -X deletes a user-defined chain that is empty and
//     unreferenced, -P sets a built-in chain's policy.
//   - A -j/-g to a name that is not a target extension must name an existing
//     chain of the table; jump loops are refused at COMMIT.
//   - Each table section is atomic: its lines apply to a copy that replaces
//     the table at COMMIT. An error leaves the failing table unchanged, but
//     tables committed earlier in the same payload stay applied, exactly as
//     with the real tool.
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

type fakeTable struct {
	name   string
	family Family
	chains map[string]*fakeChain
}

type fakeChain struct {
	name    string
	builtin bool
	policy  string
	rules   []fakeRule
	// flushed marks a chain that existed before the table section being
	// applied and was flushed by it (see ErrUnreliableInsert).
	flushed bool
}

type fakeRule struct {
	rule  Rule
	canon string // canonical spec, for -D matching
	// pending marks a rule added by the table section being applied.
	pending bool
	// anchor marks a rule that a positional -I of the section being
	// applied was placed relative to.
	anchor bool
}

// flush empties c, refusing to drop a pending anchor rule.
func (c *fakeChain) flush() error {
	for _, r := range c.rules {
		if r.pending && r.anchor {
			return fmt.Errorf("chain %s: flushing rule %q, which a positional -I earlier in this table section was anchored on: %w", c.name, r.rule.Spec(), ErrUnreliableInsert)
		}
	}
	c.rules = nil
	c.flushed = true
	return nil
}

// remove deletes rule i of c, refusing to drop a pending anchor rule.
func (c *fakeChain) remove(i int) error {
	if r := c.rules[i]; r.pending && r.anchor {
		return fmt.Errorf("chain %s: deleting rule %q, which a positional -I earlier in this table section was anchored on: %w", c.name, r.rule.Spec(), ErrUnreliableInsert)
	}
	c.rules = slices.Delete(c.rules, i, i+1)
	return nil
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

func newFakeTable(name string, family Family) *fakeTable {
	t := &fakeTable{name: name, family: family, chains: map[string]*fakeChain{}}
	for _, c := range builtinChains[name] {
		t.chains[c] = &fakeChain{name: c, builtin: true, policy: "ACCEPT"}
	}
	return t
}

func (t *fakeTable) clone() *fakeTable {
	c := &fakeTable{name: t.name, family: t.family, chains: make(map[string]*fakeChain, len(t.chains))}
	for n, ch := range t.chains {
		cp := *ch
		cp.rules = slices.Clone(ch.rules)
		c.chains[n] = &cp
	}
	return c
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
	var work *fakeTable
	return parseLines(payload, sectionHandler{
		begin: func(t Table) error {
			if _, ok := builtinChains[t.Name]; !ok {
				return fmt.Errorf("table name %q invalid: %w", t.Name, ErrNoTable)
			}
			if cur, ok := k.tables[t.Name]; ok {
				work = cur.clone()
			} else {
				work = newFakeTable(t.Name, k.family)
			}
			return nil
		},
		decl: func(d ChainDecl) error { return work.declare(d) },
		op:   func(o Op) error { return work.apply(o) },
		commit: func(int) error {
			if err := work.checkLoops(); err != nil {
				return err
			}
			for _, c := range work.chains {
				c.flushed = false
				for i := range c.rules {
					c.rules[i].pending = false
					c.rules[i].anchor = false
				}
			}
			k.tables[work.name] = work
			work = nil
			return nil
		},
	})
}

// declare applies a ":CHAIN POLICY [p:b]" line.
func (t *fakeTable) declare(d ChainDecl) error {
	if c, ok := t.chains[d.Name]; ok {
		if c.builtin {
			if d.Policy != "-" {
				c.policy = d.Policy
			}
			return nil
		}
		return c.flush()
	}
	if IsTargetExtension(d.Name) {
		return fmt.Errorf("chain name %q may not clash with target name: %w", d.Name, ErrSyntax)
	}
	t.chains[d.Name] = &fakeChain{name: d.Name, policy: "-"}
	return nil
}

// chain returns the named chain or an ErrNoChain error.
func (t *fakeTable) chain(name string) (*fakeChain, error) {
	c, ok := t.chains[name]
	if !ok {
		return nil, fmt.Errorf("chain %s in table %s: %w", name, t.name, ErrNoChain)
	}
	return c, nil
}

// apply applies one command line to the table.
func (t *fakeTable) apply(o Op) error {
	switch o.Kind {
	case OpAppend, OpInsert:
		c, err := t.chain(o.Chain)
		if err != nil {
			return err
		}
		fr, err := t.checkRule(o.Rule)
		if err != nil {
			return err
		}
		fr.pending = true
		if o.Kind == OpAppend {
			c.rules = append(c.rules, fr)
			return nil
		}
		pos := max(o.Position, 1)
		if pos > len(c.rules)+1 {
			return fmt.Errorf("chain %s has %d rules, cannot insert at %d: %w", c.name, len(c.rules), pos, ErrBadPosition)
		}
		if pos > 1 {
			if c.flushed {
				return fmt.Errorf("chain %s: -I at %d after the chain was flushed in this table section: %w", c.name, pos, ErrUnreliableInsert)
			}
			anchor := pos - 1
			if anchor == len(c.rules) {
				anchor--
				if c.rules[anchor].pending {
					return fmt.Errorf("chain %s: -I at %d (one past the end) after a rule added in this table section: %w", c.name, pos, ErrUnreliableInsert)
				}
			}
			c.rules[anchor].anchor = true
		}
		c.rules = slices.Insert(c.rules, pos-1, fr)
		return nil
	case OpDelete:
		c, err := t.chain(o.Chain)
		if err != nil {
			return err
		}
		if o.Position > 0 {
			if o.Position > len(c.rules) {
				return fmt.Errorf("chain %s has %d rules, cannot delete rule %d (index of deletion too big): %w", c.name, len(c.rules), o.Position, ErrNoRule)
			}
			return c.remove(o.Position - 1)
		}
		canon, err := o.Rule.Canonical()
		if err != nil {
			return err
		}
		want := canon.Spec()
		for i, r := range c.rules {
			if r.canon == want {
				return c.remove(i)
			}
		}
		return fmt.Errorf("chain %s: no rule %q: %w", c.name, o.Rule.Spec(), ErrNoRule)
	case OpFlush:
		if o.Chain == "" {
			for _, n := range t.sortedChains() {
				if err := t.chains[n].flush(); err != nil {
					return err
				}
			}
			return nil
		}
		c, err := t.chain(o.Chain)
		if err != nil {
			return err
		}
		return c.flush()
	case OpNewChain:
		if _, ok := t.chains[o.Chain]; ok {
			return fmt.Errorf("chain %s in table %s: %w", o.Chain, t.name, ErrChainExists)
		}
		if IsTargetExtension(o.Chain) {
			return fmt.Errorf("chain name %q may not clash with target name: %w", o.Chain, ErrSyntax)
		}
		t.chains[o.Chain] = &fakeChain{name: o.Chain, policy: "-"}
		return nil
	case OpPolicy:
		c, err := t.chain(o.Chain)
		if err != nil {
			return err
		}
		if !c.builtin {
			return fmt.Errorf("chain %s is not built-in and has no policy: %w", c.name, ErrBadPolicy)
		}
		c.policy = o.Policy
		return nil
	case OpDeleteChain:
		var names []string
		if o.Chain == "" {
			for n, c := range t.chains {
				if !c.builtin {
					names = append(names, n)
				}
			}
			sort.Strings(names)
		} else {
			c, err := t.chain(o.Chain)
			if err != nil {
				return err
			}
			if c.builtin {
				return fmt.Errorf("cannot delete chain %s: %w", c.name, ErrBuiltinChain)
			}
			names = []string{o.Chain}
		}
		for _, n := range names {
			if len(t.chains[n].rules) > 0 {
				return fmt.Errorf("cannot delete chain %s: it holds %d rules: %w", n, len(t.chains[n].rules), ErrChainNotEmpty)
			}
			if from := t.referrer(n); from != "" {
				return fmt.Errorf("cannot delete chain %s: chain %s jumps to it: %w", n, from, ErrChainInUse)
			}
		}
		for _, n := range names {
			delete(t.chains, n)
		}
		return nil
	}
	return fmt.Errorf("unknown command %q: %w", o.Kind, ErrSyntax)
}

// referrer returns the name of a chain holding a rule that jumps to chain,
// or "".
func (t *fakeTable) referrer(chain string) string {
	names := make([]string, 0, len(t.chains))
	for n := range t.chains {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, r := range t.chains[n].rules {
			if r.rule.Target() == chain {
				return n
			}
		}
	}
	return ""
}

// checkRule validates a rule against the table as iptables and the kernel
// would, and returns it with its canonical form.
func (t *fakeTable) checkRule(r Rule) (fakeRule, error) {
	opts, err := r.Options()
	if err != nil {
		return fakeRule{}, err
	}
	canon, err := r.Canonical()
	if err != nil {
		return fakeRule{}, err
	}
	var target, proto string
	isGoto := false
	targetOpts := map[string]Option{}
	for _, o := range opts {
		switch {
		case o.Name == "-j" || o.Name == "-g":
			target, isGoto = o.Value(), o.Name == "-g"
		case o.Name == "-p":
			proto = strings.ToLower(o.Value())
			if n, ok := protocolNumbers[proto]; ok {
				proto = n
			}
		case o.Module != "" && IsTargetExtension(o.Module):
			targetOpts[o.Name] = o
		case o.Name == "--comment":
			if len(o.Value()) > 255 {
				return fakeRule{}, fmt.Errorf("chain %s: comment of %d bytes is longer than 255: %w", r.Chain, len(o.Value()), ErrBadArgument)
			}
		case o.Name == "--probability":
			p, err := strconv.ParseFloat(o.Value(), 64)
			if err != nil || p < 0 || p > 1 {
				return fakeRule{}, fmt.Errorf("chain %s: --probability %q must be between 0 and 1: %w", r.Chain, o.Value(), ErrBadArgument)
			}
		}
	}
	for _, o := range opts {
		if o.Name != "-m" {
			continue
		}
		switch m := o.Value(); m {
		case "tcp", "udp", "sctp":
			if proto != m || r.Has("-p") && mustOption(r, "-p").Negated {
				return fakeRule{}, fmt.Errorf("chain %s: %s match is only valid with -p %s: %w", r.Chain, m, m, ErrBadArgument)
			}
		}
	}
	if err := t.checkFamily(r.Chain, opts); err != nil {
		return fakeRule{}, err
	}
	if target != "" {
		if IsTargetExtension(target) {
			if isGoto {
				return fakeRule{}, fmt.Errorf("chain %s: -g %s: goto needs a chain: %w", r.Chain, target, ErrBadArgument)
			}
			if natOnlyTargets[target] && t.name != "nat" {
				return fakeRule{}, fmt.Errorf("chain %s: target %s is only valid in the nat table, not %s: %w", r.Chain, target, t.name, ErrBadArgument)
			}
		} else {
			c, ok := t.chains[target]
			if !ok {
				return fakeRule{}, fmt.Errorf("chain %s: jump to chain %s, which does not exist in table %s: %w", r.Chain, target, t.name, ErrNoChain)
			}
			if c.builtin {
				return fakeRule{}, fmt.Errorf("chain %s: cannot jump to built-in chain %s: %w", r.Chain, target, ErrBadArgument)
			}
		}
	}
	switch target {
	case "DNAT", "SNAT":
		key := map[string]string{"DNAT": "--to-destination", "SNAT": "--to-source"}[target]
		o, ok := targetOpts[key]
		if !ok {
			return fakeRule{}, fmt.Errorf("chain %s: %s needs %s: %w", r.Chain, target, key, ErrBadArgument)
		}
		_, hasPort, err := parseNATDestination(o.Value())
		if err != nil {
			return fakeRule{}, fmt.Errorf("chain %s: %s %s: %w", r.Chain, target, key, err)
		}
		if hasPort && proto != "tcp" && proto != "udp" && proto != "sctp" && proto != "dccp" {
			return fakeRule{}, fmt.Errorf("chain %s: %s with a port needs -p tcp, udp, sctp or dccp: %w", r.Chain, target, ErrBadArgument)
		}
	case "MARK":
		n := 0
		for name, o := range targetOpts {
			if _, _, err := parseMark(o.Value()); err != nil {
				return fakeRule{}, fmt.Errorf("chain %s: MARK %s: %w", r.Chain, name, err)
			}
			n++
		}
		if n != 1 {
			return fakeRule{}, fmt.Errorf("chain %s: MARK needs exactly one of --set-xmark, --set-mark, --or-mark, --and-mark, --xor-mark: %w", r.Chain, ErrBadArgument)
		}
	}
	return fakeRule{rule: Rule{Chain: r.Chain, Args: slices.Clone(r.Args)}, canon: canon.Spec()}, nil
}

// mustOption returns the named option of a rule already known to parse.
func mustOption(r Rule, name string) Option {
	o, _ := r.Option(name)
	return o
}

// checkFamily refuses addresses of the other IP family, as iptables-restore
// refuses IPv6 addresses and ip6tables-restore IPv4 ones.
func (t *fakeTable) checkFamily(chain string, opts []Option) error {
	for _, o := range opts {
		var addrs []netip.Addr
		switch o.Name {
		case "-s", "-d":
			p, err := parseAddrOrPrefix(o.Value())
			if err != nil {
				return fmt.Errorf("chain %s: %w", chain, err)
			}
			addrs = append(addrs, p.Addr())
		case "--to-destination", "--to-source":
			ap, _, err := parseNATDestination(o.Value())
			if err != nil {
				return fmt.Errorf("chain %s: %s: %w", chain, o.Name, err)
			}
			addrs = append(addrs, ap.Addr())
		}
		for _, a := range addrs {
			if a.Is4() != (t.family == IPv4) {
				return fmt.Errorf("chain %s: %s %s is not an %s address: %w", chain, o.Name, o.Value(), t.family, ErrBadArgument)
			}
		}
	}
	return nil
}

// parseNATDestination parses a DNAT/SNAT address: "IP", "IP:PORT",
// "[IPv6]:PORT", "[IPv6]". Ranges are not supported by the fake.
func parseNATDestination(s string) (netip.AddrPort, bool, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, true, nil
	}
	in := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	if a, err := netip.ParseAddr(in); err == nil && a.Zone() == "" {
		return netip.AddrPortFrom(a, 0), false, nil
	}
	return netip.AddrPort{}, false, fmt.Errorf("bad address %q (ranges are not supported by the fake): %w", s, ErrBadArgument)
}

// parseMark parses "VALUE[/MASK]" as iptables' mark options do; a missing
// mask is all ones.
func parseMark(s string) (value, mask uint32, err error) {
	v, m, hasMask := strings.Cut(s, "/")
	value64, err1 := strconv.ParseUint(v, 0, 32)
	mask64 := uint64(0xffffffff)
	var err2 error
	if hasMask {
		mask64, err2 = strconv.ParseUint(m, 0, 32)
	}
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("bad mark %q: %w", s, ErrBadArgument)
	}
	return uint32(value64), uint32(mask64), nil
}

// checkLoops refuses a table in which a cycle of jumps is reachable from a
// built-in chain ("RULE_APPEND failed (Too many links)").
func (t *fakeTable) checkLoops() error {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var visit func(string, []string) error
	visit = func(n string, path []string) error {
		switch state[n] {
		case visiting:
			return fmt.Errorf("table %s: jump loop %s: %w", t.name, strings.Join(append(path, n), " -> "), ErrLoop)
		case done:
			return nil
		}
		state[n] = visiting
		for _, r := range t.chains[n].rules {
			if tgt := r.rule.Target(); tgt != "" {
				if _, ok := t.chains[tgt]; ok {
					if err := visit(tgt, append(path, n)); err != nil {
						return err
					}
				}
			}
		}
		state[n] = done
		return nil
	}
	// Like the kernel, only chains reachable from a built-in chain are
	// checked: an unreachable cycle is accepted.
	for _, n := range builtinChains[t.name] {
		if err := visit(n, nil); err != nil {
			return err
		}
	}
	return nil
}

// sortedChains lists the chains as iptables-save does: built-ins in their
// fixed order, then user-defined chains sorted by name.
func (t *fakeTable) sortedChains() []string {
	var names []string
	for _, b := range builtinChains[t.name] {
		if _, ok := t.chains[b]; ok {
			names = append(names, b)
		}
	}
	var user []string
	for n, c := range t.chains {
		if !c.builtin {
			user = append(user, n)
		}
	}
	sort.Strings(user)
	return append(names, user...)
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
				if r.canon != "" {
					b.WriteByte(' ')
					b.WriteString(r.canon)
				}
			} else {
				b.WriteString(r.rule.String())
			}
			b.WriteByte('\n')
		}
	}
	b.WriteString("COMMIT\n")
}
