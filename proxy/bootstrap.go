package proxy

import (
	"context"
	"fmt"
)

// canaryTables are the tables that get a CanaryChain: every table the
// library writes, and mangle, where kube-proxy keeps its own.
var canaryTables = []string{TableMangle, TableNAT, TableFilter}

// jumpRules returns the JumpRules this Proxier's payloads need: the
// kubelet's jumps to KUBE-FIREWALL only when the payloads write that chain
// (LocalhostNodePorts on IPv4).
func (p *Proxier) jumpRules() []JumpRule {
	all := JumpRules()
	out := all[:0]
	for _, j := range all {
		if j.Args[len(j.Args)-1] == ChainKubeletFirewall && (!p.cfg.LocalhostNodePorts || p.cfg.ipv6) {
			continue
		}
		out = append(out, j)
	}
	return out
}

// Bootstrap prepares nf for this Proxier's payloads, as kube-proxy does at
// the start of every sync: it creates the top-level chains (KUBE-SERVICES,
// KUBE-NODEPORTS, ...) that do not exist, prepends each jump of JumpRules
// to its built-in chain unless an equal rule is there already ("iptables
// -C", then "-I CHAIN 1", in kube-proxy's order, so that the last one ends
// up first), and creates the CanaryChain in mangle, nat and filter.
//
// Bootstrap is idempotent: run again it changes nothing. It stops at the
// first error; what it did until then stays, and running it again
// completes it.
func (p *Proxier) Bootstrap(ctx context.Context, nf Netfilter) error {
	for _, j := range p.jumpRules() {
		target := j.Args[len(j.Args)-1]
		if err := ensureChain(ctx, nf, j.Table, target); err != nil {
			return err
		}
		ok, err := nf.RuleExists(ctx, j.Table, j.Chain, j.Args...)
		if err != nil {
			return fmt.Errorf("bootstrap: checking jump %s -> %s in %s: %w", j.Chain, target, j.Table, err)
		}
		if ok {
			continue
		}
		if err := nf.InsertRule(ctx, j.Table, j.Chain, 1, j.Args...); err != nil {
			return fmt.Errorf("bootstrap: inserting jump %s -> %s in %s: %w", j.Chain, target, j.Table, err)
		}
	}
	for _, t := range canaryTables {
		if err := ensureChain(ctx, nf, t, CanaryChain); err != nil {
			return err
		}
	}
	return nil
}

func ensureChain(ctx context.Context, nf Netfilter, table, chain string) error {
	ok, err := nf.ChainExists(ctx, table, chain)
	if err != nil {
		return fmt.Errorf("bootstrap: checking chain %s in %s: %w", chain, table, err)
	}
	if ok {
		return nil
	}
	if err := nf.NewChain(ctx, table, chain); err != nil {
		return fmt.Errorf("bootstrap: creating chain %s in %s: %w", chain, table, err)
	}
	return nil
}
