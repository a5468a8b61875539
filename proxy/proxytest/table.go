package proxytest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// fakeTable is one committed table of a FakeKernel.
type fakeTable struct {
	name   string
	family Family
	chains map[string]*fakeChain
	// parents counts, per chain, the rules of each other chain that jump
	// or go to it: parents[to][from].
	parents map[string]map[string]int
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
	rule Rule
	// canon is the canonical spec, for -D matching; computed on first
	// use (see canonSpec), as most rules are never compared.
	canon string
	// opts are the rule's parsed options, kept for the tracer.
	opts []Option
	// chainTarget is the chain the rule jumps or goes to, "" for none or
	// a target extension.
	chainTarget string
	// pending marks a rule added by the table section being applied.
	pending bool
	// anchor marks a rule that a positional -I of the section being
	// applied was placed relative to.
	anchor bool
}

// canonSpec returns the rule's canonical spec, computing it once.
func (r *fakeRule) canonSpec() string {
	if r.canon == "" {
		r.canon = Rule{Args: canonicalArgs(r.opts)}.Spec()
	}
	return r.canon
}

func newFakeTable(name string, family Family) *fakeTable {
	t := &fakeTable{name: name, family: family, chains: map[string]*fakeChain{}, parents: map[string]map[string]int{}}
	for _, c := range builtinChains[name] {
		t.chains[c] = &fakeChain{name: c, builtin: true, policy: "ACCEPT"}
	}
	return t
}

// sortedChains lists the chains as iptables-save does: built-ins in their
// fixed order, then user-defined chains sorted by name.
func (t *fakeTable) sortedChains() []string {
	names := slices.Clone(builtinChains[t.name])
	var user []string
	for n, c := range t.chains {
		if !c.builtin {
			user = append(user, n)
		}
	}
	sort.Strings(user)
	return append(names, user...)
}

// tableTx is a table section being applied to base. Changed, new and
// deleted chains live in an overlay until COMMIT merges them into base, so
// a section costs what it changes, not the size of the table, and an
// error discards the overlay and leaves base untouched.
type tableTx struct {
	base *fakeTable
	// overlay holds chains copied for change or created (non-nil) and
	// chains deleted (nil) by this section.
	overlay map[string]*fakeChain
	// parentDelta is this section's change to base.parents.
	parentDelta map[string]map[string]int
	// newEdges are the jumps added by this section, [from, to]; only they
	// can create a loop.
	newEdges [][2]string
}

func newTableTx(base *fakeTable) *tableTx {
	return &tableTx{base: base, overlay: map[string]*fakeChain{}, parentDelta: map[string]map[string]int{}}
}

// lookup returns chain name as this section sees it.
func (x *tableTx) lookup(name string) (*fakeChain, bool) {
	if c, ok := x.overlay[name]; ok {
		return c, c != nil
	}
	c, ok := x.base.chains[name]
	return c, ok
}

// mutable returns chain name, which must exist, copied into the overlay.
func (x *tableTx) mutable(name string) *fakeChain {
	if c := x.overlay[name]; c != nil {
		return c
	}
	cp := *x.base.chains[name]
	cp.rules = slices.Clone(cp.rules)
	x.overlay[name] = &cp
	return &cp
}

// chain returns the named chain, copied for change, or an ErrNoChain error.
func (x *tableTx) chain(name string) (*fakeChain, error) {
	if _, ok := x.lookup(name); !ok {
		return nil, fmt.Errorf("chain %s in table %s: %w", name, x.base.name, ErrNoChain)
	}
	return x.mutable(name), nil
}

// link adds n (+1 or -1) rules jumping from chain from to chain to.
func (x *tableTx) link(from, to string, n int) {
	m := x.parentDelta[to]
	if m == nil {
		m = map[string]int{}
		x.parentDelta[to] = m
	}
	m[from] += n
}

// parents returns the chains that hold a rule jumping to name, sorted.
func (x *tableTx) parents(name string) []string {
	var out []string
	for from, n := range x.base.parents[name] {
		if n+x.parentDelta[name][from] > 0 {
			out = append(out, from)
		}
	}
	for from, n := range x.parentDelta[name] {
		if _, inBase := x.base.parents[name][from]; !inBase && n > 0 {
			out = append(out, from)
		}
	}
	sort.Strings(out)
	return out
}

// names returns the names of all chains as this section sees them, in
// iptables-save order.
func (x *tableTx) names() []string {
	names := slices.Clone(builtinChains[x.base.name])
	var user []string
	for n, c := range x.base.chains {
		if _, changed := x.overlay[n]; !changed && !c.builtin {
			user = append(user, n)
		}
	}
	for n, c := range x.overlay {
		if c != nil && !c.builtin {
			user = append(user, n)
		}
	}
	sort.Strings(user)
	return append(names, user...)
}

// addRule inserts fr at index i of chain c (from mutable).
func (x *tableTx) addRule(c *fakeChain, i int, fr fakeRule) {
	c.rules = slices.Insert(c.rules, i, fr)
	if fr.chainTarget != "" {
		x.link(c.name, fr.chainTarget, 1)
		x.newEdges = append(x.newEdges, [2]string{c.name, fr.chainTarget})
	}
}

// flush empties chain c (from mutable), refusing to drop a pending anchor
// rule.
func (x *tableTx) flush(c *fakeChain) error {
	for _, r := range c.rules {
		if r.pending && r.anchor {
			return fmt.Errorf("chain %s: flushing rule %q, which a positional -I earlier in this table section was anchored on: %w", c.name, r.rule.Spec(), ErrUnreliableInsert)
		}
	}
	for _, r := range c.rules {
		if r.chainTarget != "" {
			x.link(c.name, r.chainTarget, -1)
		}
	}
	c.rules = nil
	c.flushed = true
	return nil
}

// remove deletes rule i of chain c (from mutable), refusing to drop a
// pending anchor rule.
func (x *tableTx) remove(c *fakeChain, i int) error {
	r := c.rules[i]
	if r.pending && r.anchor {
		return fmt.Errorf("chain %s: deleting rule %q, which a positional -I earlier in this table section was anchored on: %w", c.name, r.rule.Spec(), ErrUnreliableInsert)
	}
	if r.chainTarget != "" {
		x.link(c.name, r.chainTarget, -1)
	}
	c.rules = slices.Delete(c.rules, i, i+1)
	return nil
}

// declare applies a ":CHAIN POLICY [p:b]" line.
func (x *tableTx) declare(d ChainDecl) error {
	if c, ok := x.lookup(d.Name); ok {
		if c.builtin {
			if d.Policy != "-" {
				x.mutable(d.Name).policy = d.Policy
			}
			return nil
		}
		return x.flush(x.mutable(d.Name))
	}
	if IsTargetExtension(d.Name) {
		return fmt.Errorf("chain name %q may not clash with target name: %w", d.Name, ErrSyntax)
	}
	x.overlay[d.Name] = &fakeChain{name: d.Name, policy: "-"}
	return nil
}

// apply applies one command line, whose rule has the parsed options opts.
func (x *tableTx) apply(o Op, opts []Option) error {
	switch o.Kind {
	case OpAppend, OpInsert:
		c, err := x.chain(o.Chain)
		if err != nil {
			return err
		}
		fr, err := x.checkRule(o.Rule, opts)
		if err != nil {
			return err
		}
		fr.pending = true
		if err := x.checkHooks(c.name, fr); err != nil {
			return err
		}
		if o.Kind == OpAppend {
			x.addRule(c, len(c.rules), fr)
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
		x.addRule(c, pos-1, fr)
		return nil
	case OpDelete:
		c, err := x.chain(o.Chain)
		if err != nil {
			return err
		}
		if o.Position > 0 {
			if o.Position > len(c.rules) {
				return fmt.Errorf("chain %s has %d rules, cannot delete rule %d (index of deletion too big): %w", c.name, len(c.rules), o.Position, ErrNoRule)
			}
			return x.remove(c, o.Position-1)
		}
		want := Rule{Args: canonicalArgs(opts)}.Spec()
		for i := range c.rules {
			if c.rules[i].canonSpec() == want {
				return x.remove(c, i)
			}
		}
		return fmt.Errorf("chain %s: no rule %q: %w", c.name, o.Rule.Spec(), ErrNoRule)
	case OpFlush:
		if o.Chain == "" {
			for _, n := range x.names() {
				if c, _ := x.lookup(n); len(c.rules) == 0 {
					continue
				}
				if err := x.flush(x.mutable(n)); err != nil {
					return err
				}
			}
			return nil
		}
		c, err := x.chain(o.Chain)
		if err != nil {
			return err
		}
		return x.flush(c)
	case OpNewChain:
		if _, ok := x.lookup(o.Chain); ok {
			return fmt.Errorf("chain %s in table %s: %w", o.Chain, x.base.name, ErrChainExists)
		}
		if IsTargetExtension(o.Chain) {
			return fmt.Errorf("chain name %q may not clash with target name: %w", o.Chain, ErrSyntax)
		}
		x.overlay[o.Chain] = &fakeChain{name: o.Chain, policy: "-"}
		return nil
	case OpPolicy:
		c, err := x.chain(o.Chain)
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
			for _, n := range x.names() {
				if c, _ := x.lookup(n); !c.builtin {
					names = append(names, n)
				}
			}
		} else {
			c, ok := x.lookup(o.Chain)
			if !ok {
				return fmt.Errorf("chain %s in table %s: %w", o.Chain, x.base.name, ErrNoChain)
			}
			if c.builtin {
				return fmt.Errorf("cannot delete chain %s: %w", c.name, ErrBuiltinChain)
			}
			names = []string{o.Chain}
		}
		for _, n := range names {
			if c, _ := x.lookup(n); len(c.rules) > 0 {
				return fmt.Errorf("cannot delete chain %s: it holds %d rules: %w", n, len(c.rules), ErrChainNotEmpty)
			}
			if p := x.parents(n); len(p) > 0 {
				return fmt.Errorf("cannot delete chain %s: chain %s jumps to it: %w", n, p[0], ErrChainInUse)
			}
		}
		for _, n := range names {
			x.overlay[n] = nil
		}
		return nil
	}
	return fmt.Errorf("unknown command %q: %w", o.Kind, ErrSyntax)
}

// checkLoops refuses the section if one of its new jumps leads to a cycle
// of jumps that a built-in chain reaches ("RULE_APPEND failed (Too many
// links)"). Like the kernel, it accepts a cycle no built-in chain reaches.
func (x *tableTx) checkLoops() error {
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var cycle []string
	var visit func(n string, path []string) bool
	visit = func(n string, path []string) bool {
		switch state[n] {
		case visiting:
			cycle = append(slices.Clone(path), n)
			return true
		case done:
			return false
		}
		state[n] = visiting
		c, _ := x.lookup(n)
		for _, r := range c.rules {
			if r.chainTarget != "" && visit(r.chainTarget, append(path, n)) {
				return true
			}
		}
		state[n] = done
		return false
	}
	var reachable map[string]bool
	for _, e := range x.newEdges {
		if _, ok := x.lookup(e[1]); !ok {
			continue // deleted later in the section
		}
		if !visit(e[1], nil) {
			continue
		}
		if reachable == nil {
			reachable = x.reachableFromBuiltins()
		}
		if reachable[cycle[len(cycle)-1]] {
			return fmt.Errorf("table %s: jump loop %s: %w", x.base.name, strings.Join(cycle, " -> "), ErrLoop)
		}
		// An unreachable cycle: forget the partial walk and go on.
		for n, s := range state {
			if s == visiting {
				delete(state, n)
			}
		}
	}
	return nil
}

// reachableFromBuiltins returns the chains a built-in chain reaches.
func (x *tableTx) reachableFromBuiltins() map[string]bool {
	seen := map[string]bool{}
	stack := slices.Clone(builtinChains[x.base.name])
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[n] {
			continue
		}
		seen[n] = true
		c, _ := x.lookup(n)
		for _, r := range c.rules {
			if r.chainTarget != "" && !seen[r.chainTarget] {
				stack = append(stack, r.chainTarget)
			}
		}
	}
	return seen
}

// commit merges the section into base, clearing the section's marks.
func (x *tableTx) commit() {
	for n, c := range x.overlay {
		if c == nil {
			delete(x.base.chains, n)
			continue
		}
		c.flushed = false
		for i := range c.rules {
			c.rules[i].pending = false
			c.rules[i].anchor = false
		}
		x.base.chains[n] = c
	}
	for to, deltas := range x.parentDelta {
		m := x.base.parents[to]
		if m == nil {
			m = map[string]int{}
			x.base.parents[to] = m
		}
		for from, d := range deltas {
			if v := m[from] + d; v > 0 {
				m[from] = v
			} else {
				delete(m, from)
			}
		}
		if len(m) == 0 {
			delete(x.base.parents, to)
		}
	}
}

// targetHooks lists, for the targets the kernel restricts, the built-in
// chains (hooks) they may be reached from.
var targetHooks = map[string][]string{
	"DNAT":       {"PREROUTING", "OUTPUT"},
	"REDIRECT":   {"PREROUTING", "OUTPUT"},
	"SNAT":       {"POSTROUTING", "INPUT"},
	"MASQUERADE": {"POSTROUTING"},
	"REJECT":     {"INPUT", "FORWARD", "OUTPUT"},
}

// hooksReaching returns the built-in chains from which chain name is
// reached, following jumps backwards.
func (x *tableTx) hooksReaching(name string) []string {
	seen := map[string]bool{name: true}
	stack := []string{name}
	var hooks []string
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if c, ok := x.lookup(n); ok && c.builtin {
			hooks = append(hooks, n)
		}
		for _, p := range x.parents(n) {
			if !seen[p] {
				seen[p] = true
				stack = append(stack, p)
			}
		}
	}
	sort.Strings(hooks)
	return hooks
}

// checkHooks refuses adding rule fr to chain if it would let a packet
// reach a target from a hook the kernel does not allow it in (DNAT from
// POSTROUTING, MASQUERADE from PREROUTING, ...): iptables-nft fails such
// a line with "RULE_APPEND failed (Invalid argument)". For a jump, every
// target in the chains it leads to is checked against the hooks that reach
// chain.
func (x *tableTx) checkHooks(chain string, fr fakeRule) error {
	target := ""
	for _, o := range fr.opts {
		if o.Name == "-j" || o.Name == "-g" {
			target = o.Value()
		}
	}
	if _, restricted := targetHooks[target]; !restricted && fr.chainTarget == "" {
		return nil
	}
	hooks := x.hooksReaching(chain)
	if len(hooks) == 0 {
		return nil
	}
	check := func(in, target string) error {
		allowed, restricted := targetHooks[target]
		if !restricted {
			return nil
		}
		for _, h := range hooks {
			if !slices.Contains(allowed, h) {
				return fmt.Errorf("chain %s: target %s would be reached from %s, where the kernel does not allow it: %w", in, target, h, ErrBadArgument)
			}
		}
		return nil
	}
	if fr.chainTarget == "" {
		return check(chain, target)
	}
	seen := map[string]bool{fr.chainTarget: true}
	stack := []string{fr.chainTarget}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		c, _ := x.lookup(n)
		for _, r := range c.rules {
			if r.chainTarget != "" {
				if !seen[r.chainTarget] {
					seen[r.chainTarget] = true
					stack = append(stack, r.chainTarget)
				}
				continue
			}
			if err := check(n, r.rule.Target()); err != nil {
				return err
			}
		}
	}
	return nil
}
