package proxytest

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Rule is one iptables rule: the chain it belongs to and its rule
// specification as a list of arguments, unquoted (so a comment with spaces
// is one argument). Rules are plain values: compare them with Equal, which
// compares meaning as iptables does for "-D", or with == on String().
//
// The accessors (Value, Has, HasMatch, Target, ...) parse Args on each call
// and treat a malformed rule as having no options; use Options to see the
// parse error. A Rule is safe for concurrent reads.
type Rule struct {
	// Chain is the chain the rule is in, such as "KUBE-SERVICES".
	Chain string
	// Args is the rule specification after "-A CHAIN", one argument per
	// element, without quotes.
	Args []string
}

// Option is one parsed option of a rule.
type Option struct {
	// Module is the extension the option belongs to: "" for iptables'
	// own options (-s, -d, -i, -o, -p, -f, -m, -j, -g), the match module
	// for match options ("comment" for --comment, "tcp" for --dport after
	// "-p tcp", even without an explicit "-m tcp"), or the target for
	// target options ("DNAT" for --to-destination).
	Module string
	// Name is the option as iptables-save prints it: long spellings of
	// generic options are shortened ("--destination" is "-d") and
	// "--destination-port" is "--dport".
	Name string
	// Negated is true when the option was preceded by "!".
	Negated bool
	// Values holds the option's arguments (none for flags such as
	// --rcheck, two for --tcp-flags).
	Values []string
}

// Value returns the option's first value, or "" for a flag.
func (o Option) Value() string {
	if len(o.Values) == 0 {
		return ""
	}
	return o.Values[0]
}

// ParseRule parses a rule specification (the arguments after "-A CHAIN",
// quoted as in a payload) for chain. It checks what iptables checks before
// talking to the kernel: known match modules, targets and options, option
// arity, negation placement and address syntax. It does not check that a
// jump target chain exists; FakeKernel.Restore does.
func ParseRule(chain, spec string) (Rule, error) {
	if err := checkChainName(chain); err != nil {
		return Rule{}, err
	}
	args, err := Tokenize(spec)
	if err != nil {
		return Rule{}, err
	}
	r := Rule{Chain: chain, Args: args}
	if _, err := r.Options(); err != nil {
		return Rule{}, err
	}
	return r, nil
}

// MustParseRule is ParseRule for tests and examples with literal rules; it
// panics on error.
func MustParseRule(chain, spec string) Rule {
	r, err := ParseRule(chain, spec)
	if err != nil {
		panic(err)
	}
	return r
}

// checkChainName applies iptables' chain name rules: 1 to 28 bytes, no
// whitespace, not starting with '-' or '!'.
func checkChainName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty chain name: %w", ErrSyntax)
	case len(name) > 28:
		return fmt.Errorf("chain name %q too long (must be under 29 chars): %w", name, ErrSyntax)
	case name[0] == '-' || name[0] == '!':
		return fmt.Errorf("chain name %q not allowed to start with %q: %w", name, name[0], ErrSyntax)
	case strings.ContainsAny(name, " \t\n\r\v\f\"'"):
		return fmt.Errorf("invalid chain name %q: %w", name, ErrSyntax)
	}
	return nil
}

// Options parses Args into options, in order. The options' Values share
// memory with Args. Errors wrap ErrSyntax (a
// missing value, a stray argument, a misplaced "!"), ErrUnknownExtension
// (an unknown module, option or target option) or ErrBadArgument (an
// address or protocol that does not parse).
func (r Rule) Options() ([]Option, error) {
	opts := make([]Option, 0, len(r.Args)/2+1)
	var (
		loaded   []string // match modules loaded so far, in order
		target   string   // target extension, once -j/-g names one
		protocol string   // value of -p, for implicit protocol matches
		negate   bool
		// seen and seenExt hold the generic options and the
		// "module option" pairs given so far (rules are short: a slice
		// beats a map).
		seen    []string
		seenExt []string
	)
	for i := 0; i < len(r.Args); i++ {
		tok := r.Args[i]
		if tok == "!" {
			if negate {
				return nil, fmt.Errorf("rule in chain %s: multiple \"!\" flags not allowed: %w", r.Chain, ErrSyntax)
			}
			negate = true
			continue
		}
		if !strings.HasPrefix(tok, "-") || tok == "-" {
			return nil, fmt.Errorf("rule in chain %s: bad argument %q: %w", r.Chain, tok, ErrSyntax)
		}
		name := tok
		if alias, ok := genericAliases[name]; ok {
			name = alias
		}
		if n, ok := genericArity[name]; ok {
			if i+n >= len(r.Args) && n > 0 {
				return nil, fmt.Errorf("rule in chain %s: option %s requires an argument: %w", r.Chain, tok, ErrSyntax)
			}
			o := Option{Name: name, Negated: negate, Values: r.Args[i+1 : i+1+n : i+1+n]}
			i += n
			negate = false
			switch name {
			case "-m":
				if o.Negated {
					return nil, fmt.Errorf("rule in chain %s: unexpected ! flag before --match: %w", r.Chain, ErrSyntax)
				}
				if _, ok := matchModules[o.Values[0]]; !ok {
					return nil, fmt.Errorf("rule in chain %s: couldn't load match %q: %w", r.Chain, o.Values[0], ErrUnknownExtension)
				}
				loaded = append(loaded, o.Values[0])
				// A new instance of the module may take its options again.
				seenExt = slices.DeleteFunc(seenExt, func(k string) bool {
					return strings.HasPrefix(k, o.Values[0]+" ")
				})
			case "-j", "-g":
				if o.Negated {
					return nil, fmt.Errorf("rule in chain %s: cannot have ! before %s: %w", r.Chain, name, ErrSyntax)
				}
				if slices.Contains(seen, "-j") || slices.Contains(seen, "-g") {
					return nil, fmt.Errorf("rule in chain %s: multiple -j/-g flags not allowed: %w", r.Chain, ErrSyntax)
				}
				if err := checkTargetName(o.Values[0]); err != nil {
					return nil, fmt.Errorf("rule in chain %s: %w", r.Chain, err)
				}
				if _, ok := targetExtensions[o.Values[0]]; ok {
					target = o.Values[0]
				}
				seen = append(seen, name)
			default:
				if slices.Contains(seen, name) {
					return nil, fmt.Errorf("rule in chain %s: multiple %s flags not allowed: %w", r.Chain, name, ErrSyntax)
				}
				seen = append(seen, name)
				if err := checkGenericValue(&o); err != nil {
					return nil, fmt.Errorf("rule in chain %s: %w", r.Chain, err)
				}
				if name == "-p" && !o.Negated {
					protocol = strings.ToLower(o.Values[0])
					if n, ok := protocolNumbers[protocol]; ok {
						protocol = n
					}
				}
			}
			opts = append(opts, o)
			continue
		}
		if alias, ok := optionAliases[name]; ok {
			name = alias
		}
		module, n, isTarget, ok := resolveOption(name, loaded, target, protocol)
		if !ok {
			return nil, fmt.Errorf("rule in chain %s: unknown option %q: %w", r.Chain, tok, ErrUnknownExtension)
		}
		if negate && (isTarget || notNegatable[name]) {
			return nil, fmt.Errorf("rule in chain %s: option %s cannot be inverted: %w", r.Chain, tok, ErrSyntax)
		}
		if i+n >= len(r.Args) && n > 0 {
			return nil, fmt.Errorf("rule in chain %s: option %s requires an argument: %w", r.Chain, tok, ErrSyntax)
		}
		key := module + " " + name
		if slices.Contains(seenExt, key) {
			return nil, fmt.Errorf("rule in chain %s: option %s given twice for %s: %w", r.Chain, tok, module, ErrSyntax)
		}
		seenExt = append(seenExt, key)
		values := r.Args[i+1 : i+1+n : i+1+n]
		for _, v := range values {
			if v == "!" {
				return nil, fmt.Errorf("rule in chain %s: option %s: intrapositioned negation is not supported: %w", r.Chain, tok, ErrSyntax)
			}
		}
		if !slices.Contains(loaded, module) && !isTarget {
			loaded = append(loaded, module) // implicit protocol match
		}
		opts = append(opts, Option{Module: module, Name: name, Negated: negate, Values: values})
		i += n
		negate = false
	}
	if negate {
		return nil, fmt.Errorf("rule in chain %s: \"!\" at end of rule: %w", r.Chain, ErrSyntax)
	}
	return opts, nil
}

// resolveOption finds the extension that owns option name: the target
// first, then the loaded match modules from the most recent, then the
// protocol match implied by "-p".
func resolveOption(name string, loaded []string, target, protocol string) (module string, arity int, isTarget, ok bool) {
	if target != "" {
		if n, found := targetExtensions[target][name]; found {
			return target, n, true, true
		}
	}
	for i := len(loaded) - 1; i >= 0; i-- {
		if n, found := matchModules[loaded[i]][name]; found {
			return loaded[i], n, false, true
		}
	}
	switch protocol {
	case "tcp", "udp", "sctp":
		if n, found := matchModules[protocol][name]; found {
			return protocol, n, false, true
		}
	}
	return "", 0, false, false
}

// checkTargetName applies iptables' target name rules.
func checkTargetName(name string) error {
	if name == "" {
		return fmt.Errorf("invalid target name (too short): %w", ErrSyntax)
	}
	if len(name) > 28 {
		return fmt.Errorf("invalid target name %q (28 chars max): %w", name, ErrSyntax)
	}
	if strings.ContainsAny(name, " \t\n\r\v\f") {
		return fmt.Errorf("invalid target name %q: %w", name, ErrSyntax)
	}
	return nil
}

// checkGenericValue validates the value of -s, -d, -p, -i and -o.
func checkGenericValue(o *Option) error {
	if len(o.Values) == 0 {
		return nil
	}
	v := o.Values[0]
	switch o.Name {
	case "-s", "-d":
		if _, err := parseAddrOrPrefix(v); err != nil {
			return fmt.Errorf("option %s: %w", o.Name, err)
		}
	case "-p":
		p := strings.ToLower(v)
		if name, ok := protocolNumbers[p]; ok {
			p = name
		}
		switch p {
		case "tcp", "udp", "sctp", "icmp", "ipv6-icmp", "icmpv6", "all", "esp", "ah", "gre", "udplite", "dccp":
		default:
			return fmt.Errorf("option -p: unknown protocol %q: %w", v, ErrBadArgument)
		}
	case "-i", "-o":
		if v == "" || len(v) > 15 || strings.ContainsAny(v, "/ \t") {
			return fmt.Errorf("option %s: bad interface name %q: %w", o.Name, v, ErrBadArgument)
		}
	}
	return nil
}

// parseAddrOrPrefix parses an iptables address argument: a single IP
// address (meaning /32 or /128) or a CIDR prefix. Host names, which
// iptables would resolve, are refused.
func parseAddrOrPrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad address %q: %w", s, ErrBadArgument)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("bad address %q: %w", s, ErrBadArgument)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Option returns the first option named name (as iptables-save spells
// it, for example "-d", "--dport", "--comment", "--to-destination").
func (r Rule) Option(name string) (Option, bool) {
	opts, err := r.Options()
	if err != nil {
		return Option{}, false
	}
	for _, o := range opts {
		if o.Name == name {
			return o, true
		}
	}
	return Option{}, false
}

// Value returns the first value of the first option named name, or "" if
// there is none. It does not say whether the option was negated; use
// Option for that.
func (r Rule) Value(name string) string {
	o, _ := r.Option(name)
	return o.Value()
}

// Has reports whether the rule has an option named name, such as
// "--rcheck" or "-s".
func (r Rule) Has(name string) bool {
	_, ok := r.Option(name)
	return ok
}

// HasMatch reports whether the rule loads match module module with "-m
// module" (or implicitly, as "-p tcp --dport 80" loads "tcp").
func (r Rule) HasMatch(module string) bool {
	opts, err := r.Options()
	if err != nil {
		return false
	}
	for _, o := range opts {
		if (o.Name == "-m" && o.Value() == module) || (o.Module == module && !IsTargetExtension(module)) {
			return true
		}
	}
	return false
}

// Target returns the rule's target: the value of -j or -g ("ACCEPT",
// "DNAT", "KUBE-SVC-..."), or "" when the rule has none.
func (r Rule) Target() string {
	if v := r.Value("-j"); v != "" {
		return v
	}
	return r.Value("-g")
}

// Goto reports whether the rule's target is a goto (-g) rather than a jump.
func (r Rule) Goto() bool { return r.Has("-g") }

// Comment returns the value of "-m comment --comment", or "".
func (r Rule) Comment() string { return r.Value("--comment") }

// Spec renders the rule specification (without "-A CHAIN"), quoting
// arguments so that ParseRule reads it back to an equal Rule.
func (r Rule) Spec() string {
	var b strings.Builder
	joinArgs(&b, r.Args)
	return b.String()
}

// String renders the rule as a payload line, "-A CHAIN spec".
func (r Rule) String() string {
	var b strings.Builder
	b.WriteString("-A ")
	b.WriteString(r.Chain)
	if len(r.Args) > 0 {
		b.WriteByte(' ')
		joinArgs(&b, r.Args)
	}
	return b.String()
}

// Canonical returns the rule in a normal form close to what iptables-save
// prints, so that two rules iptables considers the same compare equal:
// generic options first in the order -s -d -i -o -p -f, addresses with
// their prefix length and host bits cleared, numeric protocols named, then
// the matches in the order they were loaded with implicit protocol matches made explicit ("-p tcp --dport 80" becomes
// "-p tcp -m tcp --dport 80"), each match's options sorted by name after
// its "-m", then the target and its options sorted by name. Values are
// normalised as the kernel stores them (marks in hex, MARK as --set-xmark,
// probabilities to 11 digits, conntrack states in kernel order) and
// options at their default value (recent --rsource and full --mask, REJECT
// --reject-with icmp-port-unreachable) are dropped. It returns the Options
// error for a malformed rule.
func (r Rule) Canonical() (Rule, error) {
	opts, err := r.Options()
	if err != nil {
		return Rule{}, err
	}
	return Rule{Chain: r.Chain, Args: canonicalArgs(opts)}, nil
}

// canonicalArgs renders parsed options in Canonical form.
func canonicalArgs(opts []Option) []string {
	args := make([]string, 0, 3*len(opts))
	add := func(o Option) {
		if o.Negated {
			args = append(args, "!")
		}
		args = append(args, o.Name)
		args = append(args, o.Values...)
	}
	for _, name := range []string{"-s", "-d", "-i", "-o", "-p", "-f"} {
		for _, o := range opts {
			if o.Name != name {
				continue
			}
			o.Values = slices.Clone(o.Values)
			switch name {
			case "-s", "-d":
				p, _ := parseAddrOrPrefix(o.Values[0])
				o.Values[0] = p.String()
			case "-p":
				p := strings.ToLower(o.Values[0])
				if n, ok := protocolNumbers[p]; ok {
					p = n
				}
				o.Values[0] = p
			}
			add(o)
		}
	}
	// Matches, in load order (which matters to the kernel: a "-D" whose
	// matches come in another order deletes nothing), each with its
	// options sorted.
	var modules []string
	for _, o := range opts {
		switch {
		case o.Name == "-m":
			if !slices.Contains(modules, o.Value()) {
				modules = append(modules, o.Value())
			}
		case o.Module != "" && !IsTargetExtension(o.Module):
			if !slices.Contains(modules, o.Module) {
				modules = append(modules, o.Module)
			}
		}
	}
	for _, m := range modules {
		args = append(args, "-m", m)
		var mine []Option
		for _, o := range opts {
			if o.Module == m && !IsTargetExtension(m) {
				mine = append(mine, o)
			}
		}
		for _, o := range sortedCanonical(mine) {
			add(o)
		}
	}
	for _, o := range opts {
		if o.Name == "-j" || o.Name == "-g" {
			add(o)
			var mine []Option
			for _, t := range opts {
				if t.Module == o.Value() && IsTargetExtension(t.Module) {
					mine = append(mine, t)
				}
			}
			for _, t := range sortedCanonical(mine) {
				add(t)
			}
		}
	}
	return args
}

// Equal reports whether r and o are the same rule in the same chain as
// iptables sees it (compared in Canonical form). Malformed rules are equal
// only if their chains and arguments are identical.
func (r Rule) Equal(o Rule) bool {
	if r.Chain != o.Chain {
		return false
	}
	a, errA := r.Canonical()
	b, errB := o.Canonical()
	if errA != nil || errB != nil {
		return errA != nil && errB != nil && slices.Equal(r.Args, o.Args)
	}
	return slices.Equal(a.Args, b.Args)
}

// sortedCanonical normalises each option's value, drops defaults and sorts
// the rest by name.
func sortedCanonical(opts []Option) []Option {
	var out []Option
	for _, o := range opts {
		if o, keep := canonicalValue(o); keep {
			out = append(out, o)
		}
	}
	slices.SortStableFunc(out, func(a, b Option) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// maxCommentLen is the longest comment the kernel keeps; iptables-nft
// 1.8.9 silently truncates longer ones.
const maxCommentLen = 255

// ctStateOrder is the order in which iptables-save prints conntrack states.
var ctStateOrder = []string{"INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "SNAT", "DNAT"}

// canonicalValue rewrites an extension option the way the kernel stores it
// and iptables-save prints it, and reports false for options whose value is
// the default (which iptables-save prints but a payload may omit, or the
// reverse). A value that does not parse is left as written.
func canonicalValue(o Option) (Option, bool) {
	o.Values = slices.Clone(o.Values)
	switch {
	case o.Name == "--comment" && len(o.Value()) > maxCommentLen:
		o.Values[0] = o.Value()[:maxCommentLen]
	case o.Module == "recent" && o.Name == "--rsource":
		return o, false
	case o.Module == "recent" && o.Name == "--mask":
		if v := o.Value(); v == "255.255.255.255" || v == "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" {
			return o, false
		}
	case o.Module == "REJECT" && o.Name == "--reject-with":
		if v := o.Value(); v == "icmp-port-unreachable" || v == "icmp6-port-unreachable" {
			return o, false
		}
	case o.Name == "--probability":
		// xt_statistic keeps lround(p * 2^31) and prints it with %.11f.
		if p, err := strconv.ParseFloat(o.Value(), 64); err == nil && p >= 0 && p <= 1 {
			o.Values[0] = fmt.Sprintf("%.11f", math.Round(p*0x80000000)/0x80000000)
		}
	case o.Module == "mark" || o.Module == "connmark":
		if v, m, err := parseMark(o.Value()); err == nil {
			if m == 0xffffffff {
				o.Values[0] = fmt.Sprintf("%#x", v)
			} else {
				o.Values[0] = fmt.Sprintf("%#x/%#x", v, m)
			}
		}
	case o.Module == "MARK":
		// libxt_MARK turns every form into --set-xmark value/mask.
		v, m, err := parseMark(o.Value())
		if err != nil {
			break
		}
		switch o.Name {
		case "--set-mark":
			m |= v
		case "--or-mark":
			m = v
		case "--and-mark":
			v, m = 0, ^v
		case "--xor-mark":
			m = 0
		}
		o.Name = "--set-xmark"
		o.Values[0] = fmt.Sprintf("%#x/%#x", v, m)
	case o.Name == "--ctstate" || o.Name == "--state":
		states := strings.Split(o.Value(), ",")
		slices.SortStableFunc(states, func(a, b string) int {
			return slices.Index(ctStateOrder, a) - slices.Index(ctStateOrder, b)
		})
		o.Values[0] = strings.Join(slices.Compact(states), ",")
	}
	return o, true
}
