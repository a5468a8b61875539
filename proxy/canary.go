package proxy

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
)

// maxDriftReasons bounds the differences a drift error lists.
const maxDriftReasons = 5

// DriftReport is the result of CheckDrift: what was compared and what
// differs.
type DriftReport struct {
	// Rules is the number of rules per table found in the chains the
	// Proxier owns (for the rules-total metrics).
	Rules map[string]int
	// Reasons lists differences, at most a handful, such as "nat:
	// chain KUBE-SVC-X missing"; empty when the kernel matches.
	Reasons []string
}

// CheckDrift compares what nf holds with what the Proxier last committed,
// reading nat and filter once each with iptables-save: the CanaryChain must exist
// in mangle, nat and filter, each jump of Bootstrap must be in its
// built-in chain, every chain the Proxier wrote must exist and hold the
// number of rules it wrote. It detects a flush of any table ("iptables -t
// nat -F" removes the jumps and empties the chains), a deleted table or
// chain, and a flushed chain. It returns an error wrapping ErrDrift
// listing the first differences; the caller repairs with Bootstrap and a
// full sync (the Syncer does). Other errors are those of nf.Save.
//
// Rules are compared by number, not text: a rule rewritten in place by
// someone else is not detected.
func (p *Proxier) CheckDrift(ctx context.Context, nf Netfilter) (DriftReport, error) {
	rep := DriftReport{Rules: map[string]int{}}
	expected, haveWritten := p.expectedRules()
	jumps := p.jumpRules()
	add := func(format string, args ...any) {
		if len(rep.Reasons) < maxDriftReasons {
			rep.Reasons = append(rep.Reasons, fmt.Sprintf(format, args...))
		}
	}
	for _, table := range canaryTables {
		if table == TableMangle {
			// Nothing else of ours there: spare a whole-table read.
			ok, err := nf.ChainExists(ctx, table, CanaryChain)
			if err != nil {
				return rep, fmt.Errorf("checking drift: %w", err)
			}
			if !ok {
				add("%s: canary chain %s missing", table, CanaryChain)
			}
			continue
		}
		saved, err := nf.Save(ctx, table)
		if err != nil {
			return rep, fmt.Errorf("checking drift: %w", err)
		}
		st := parseSaved(saved)
		if _, ok := st.rules[CanaryChain]; !ok {
			add("%s: canary chain %s missing", table, CanaryChain)
		}
		for _, j := range jumps {
			if j.Table != table {
				continue
			}
			target := j.Args[len(j.Args)-1]
			if !slices.Contains(st.jumps[j.Chain], target) {
				add("%s: jump %s -> %s missing", table, j.Chain, target)
			}
		}
		if !haveWritten {
			continue
		}
		want := expected[table]
		names := make([]string, 0, len(want))
		for name := range want {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			n, ok := st.rules[name]
			switch {
			case !ok:
				add("%s: chain %s missing", table, name)
			case want[name] >= 0 && n != want[name]:
				add("%s: chain %s holds %d rules, want %d", table, name, n, want[name])
			}
			rep.Rules[table] += n
		}
	}
	if len(rep.Reasons) > 0 {
		return rep, fmt.Errorf("%w: %s", ErrDrift, strings.Join(rep.Reasons, "; "))
	}
	return rep, nil
}

// quickCheckChains are the chains CheckDriftQuick counts the rules of:
// the fixed chains every service adds lines to.
var quickCheckChains = []struct{ table, chain string }{
	{TableNAT, ChainServices}, {TableNAT, ChainNodePorts}, {TableNAT, ChainPostrouting}, {TableNAT, ChainMarkMasq},
	{TableFilter, ChainServices}, {TableFilter, ChainNodePorts}, {TableFilter, ChainExternalServices},
	{TableFilter, ChainForward}, {TableFilter, ChainProxyFirewall},
}

// CheckDriftQuick is the cheap form of CheckDrift, for frequent checks on
// large rule sets: it asks for single chains only, never for a whole
// table (iptables-nft-save of one table of a 10,000-service node costs
// seconds, see doc.go). It checks that the CanaryChain exists in mangle,
// nat and filter, that each jump of Bootstrap is in place ("iptables -C"),
// and that the fixed chains every service adds lines to (KUBE-SERVICES,
// KUBE-NODEPORTS, ... in nat and filter) hold the number of rules the
// Proxier wrote. That catches a flush of a table or of one of those
// chains, a deleted table, and the deletion of a per-service chain (which
// first needs the rule jumping to it gone). A per-service chain flushed or
// edited in place is left to CheckDrift. Errors wrap ErrDrift as for
// CheckDrift; a failing command is reported as drift too.
func (p *Proxier) CheckDriftQuick(ctx context.Context, nf Netfilter) error {
	var reasons []string
	add := func(format string, args ...any) {
		if len(reasons) < maxDriftReasons {
			reasons = append(reasons, fmt.Sprintf(format, args...))
		}
	}
	for _, table := range canaryTables {
		ok, err := nf.ChainExists(ctx, table, CanaryChain)
		if err != nil && ctx.Err() != nil {
			return err
		}
		if err != nil || !ok {
			add("%s: canary chain %s missing (%v)", table, CanaryChain, err)
		}
	}
	for _, j := range p.jumpRules() {
		target := j.Args[len(j.Args)-1]
		ok, err := nf.RuleExists(ctx, j.Table, j.Chain, j.Args...)
		if err != nil && ctx.Err() != nil {
			return err
		}
		if err != nil || !ok {
			add("%s: jump %s -> %s missing", j.Table, j.Chain, target)
		}
	}
	if expected, ok := p.expectedRules(); ok {
		for _, qc := range quickCheckChains {
			want, ok := expected[qc.table][qc.chain]
			if !ok {
				continue
			}
			lines, err := nf.ListRules(ctx, qc.table, qc.chain)
			if err != nil && ctx.Err() != nil {
				return err
			}
			if err != nil {
				add("%s: chain %s missing", qc.table, qc.chain)
				continue
			}
			n := 0
			for _, l := range lines {
				if strings.HasPrefix(l, "-A ") {
					n++
				}
			}
			if want >= 0 && n != want {
				add("%s: chain %s holds %d rules, want %d", qc.table, qc.chain, n, want)
			}
		}
	}
	if len(reasons) > 0 {
		return fmt.Errorf("%w: %s", ErrDrift, strings.Join(reasons, "; "))
	}
	return nil
}

// savedTable is what CheckDrift reads from iptables-save output: the
// rule count of every chain and the targets of the built-in chains' rules.
type savedTable struct {
	rules map[string]int
	jumps map[string][]string // built-in chain -> targets
}

func parseSaved(saved []byte) savedTable {
	st := savedTable{rules: map[string]int{}, jumps: map[string][]string{}}
	for len(saved) > 0 {
		i := bytes.IndexByte(saved, '\n')
		var line []byte
		if i < 0 {
			line, saved = saved, nil
		} else {
			line, saved = saved[:i], saved[i+1:]
		}
		switch {
		case len(line) > 1 && line[0] == ':':
			if sp := bytes.IndexByte(line, ' '); sp > 1 {
				st.rules[string(line[1:sp])] += 0
			}
		case bytes.HasPrefix(line, []byte("-A ")):
			rest := line[3:]
			sp := bytes.IndexByte(rest, ' ')
			if sp < 0 {
				sp = len(rest)
			}
			chain := string(rest[:sp])
			st.rules[chain]++
			if isBuiltinChain(chain) {
				if j := bytes.LastIndex(line, []byte(" -j ")); j >= 0 {
					target := line[j+4:]
					if k := bytes.IndexByte(target, ' '); k >= 0 {
						target = target[:k]
					}
					st.jumps[chain] = append(st.jumps[chain], string(target))
				}
			}
		}
	}
	return st
}

func isBuiltinChain(name string) bool {
	switch name {
	case "PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING":
		return true
	}
	return false
}
