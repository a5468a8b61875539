package proxytest

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// checkRule validates rule r, whose parsed options are opts, against the
// table as iptables and the kernel would, and returns it ready to store.
func (x *tableTx) checkRule(r Rule, opts []Option) (fakeRule, error) {
	var target, proto string
	protoNegated, truncate := false, false
	isGoto := false
	targetOpts := map[string]Option{}
	for _, o := range opts {
		switch {
		case o.Name == "-j" || o.Name == "-g":
			target, isGoto = o.Value(), o.Name == "-g"
		case o.Name == "-p":
			protoNegated = o.Negated
			proto = strings.ToLower(o.Value())
			if n, ok := protocolNumbers[proto]; ok {
				proto = n
			}
		case o.Module != "" && IsTargetExtension(o.Module):
			targetOpts[o.Name] = o
		case o.Name == "--comment":
			if len(o.Value()) > maxCommentLen {
				truncate = true
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
			if proto != m || protoNegated {
				return fakeRule{}, fmt.Errorf("chain %s: %s match is only valid with -p %s: %w", r.Chain, m, m, ErrBadArgument)
			}
		}
	}
	// iptables refuses an output interface where there is none yet, and an
	// input interface where there is none any more, in built-in chains.
	if c, ok := x.lookup(r.Chain); ok && c.builtin {
		for _, o := range opts {
			switch {
			case o.Name == "-o" && (r.Chain == "PREROUTING" || r.Chain == "INPUT"),
				o.Name == "-i" && (r.Chain == "POSTROUTING" || r.Chain == "OUTPUT"):
				return fakeRule{}, fmt.Errorf("can't use %s with %s: %w", o.Name, r.Chain, ErrBadArgument)
			}
		}
	}
	if err := checkFamily(x.base.family, r.Chain, opts); err != nil {
		return fakeRule{}, err
	}
	if target != "" {
		if IsTargetExtension(target) {
			if isGoto {
				return fakeRule{}, fmt.Errorf("chain %s: -g %s: goto needs a chain: %w", r.Chain, target, ErrBadArgument)
			}
			if natOnlyTargets[target] && x.base.name != "nat" {
				return fakeRule{}, fmt.Errorf("chain %s: target %s is only valid in the nat table, not %s: %w", r.Chain, target, x.base.name, ErrBadArgument)
			}
		} else {
			c, ok := x.lookup(target)
			if !ok {
				return fakeRule{}, fmt.Errorf("chain %s: jump to chain %s, which does not exist in table %s: %w", r.Chain, target, x.base.name, ErrNoChain)
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
	args := slices.Clone(r.Args)
	if truncate {
		// iptables-nft keeps the first 255 bytes of a longer comment and
		// says nothing; so does the fake.
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "--comment" && len(args[i+1]) > maxCommentLen {
				args[i+1] = args[i+1][:maxCommentLen]
			}
		}
		r = Rule{Chain: r.Chain, Args: args}
		var err error
		if opts, err = r.Options(); err != nil {
			return fakeRule{}, err
		}
	}
	fr := fakeRule{rule: Rule{Chain: r.Chain, Args: args}, opts: opts}
	if target != "" && !IsTargetExtension(target) {
		fr.chainTarget = target
	}
	return fr, nil
}

// checkFamily refuses addresses of the other IP family, as iptables-restore
// refuses IPv6 addresses and ip6tables-restore IPv4 ones.
func checkFamily(family Family, chain string, opts []Option) error {
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
			if a.Is4() != (family == IPv4) {
				return fmt.Errorf("chain %s: %s %s is not an %s address: %w", chain, o.Name, o.Value(), family, ErrBadArgument)
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
