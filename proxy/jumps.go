package proxy

// JumpRule is a rule kube-proxy keeps in a built-in chain to send packets
// to one of its own chains. kube-proxy ensures these with "iptables -C"
// and "iptables -I" rather than through iptables-restore, because a
// --noflush restore cannot state "this rule exists once" in a chain other
// programs share; the payloads of Plan never touch built-in chains.
type JumpRule struct {
	// Table is "filter" or "nat".
	Table string
	// Chain is the built-in chain holding the rule ("INPUT", ...).
	Chain string
	// Args are the rule's arguments, ending with "-j" and the target,
	// unquoted (one element per argument).
	Args []string
}

// JumpRules returns kube-proxy's jump rules in the order kube-proxy
// ensures them, each prepended to its chain (so the last one ends up
// first). It includes the kubelet's jumps to KUBE-FIREWALL, which
// kube-proxy ensures too.
func JumpRules() []JumpRule {
	ctNew := []string{"-m", "conntrack", "--ctstate", "NEW"}
	rule := func(table, chain, target, comment string, extra []string) JumpRule {
		args := append([]string{}, extra...)
		if comment != "" {
			args = append(args, "-m", "comment", "--comment", comment)
		}
		return JumpRule{Table: table, Chain: chain, Args: append(args, "-j", target)}
	}
	return []JumpRule{
		rule("filter", "INPUT", ChainExternalServices, "kubernetes externally-visible service portals", ctNew),
		rule("filter", "FORWARD", ChainExternalServices, "kubernetes externally-visible service portals", ctNew),
		rule("filter", "INPUT", ChainNodePorts, "kubernetes health check service ports", nil),
		rule("filter", "FORWARD", ChainServices, "kubernetes service portals", ctNew),
		rule("filter", "OUTPUT", ChainServices, "kubernetes service portals", ctNew),
		rule("filter", "FORWARD", ChainForward, "kubernetes forwarding rules", nil),
		rule("filter", "INPUT", ChainProxyFirewall, "kubernetes load balancer firewall", ctNew),
		rule("filter", "OUTPUT", ChainProxyFirewall, "kubernetes load balancer firewall", ctNew),
		rule("filter", "FORWARD", ChainProxyFirewall, "kubernetes load balancer firewall", ctNew),
		rule("nat", "OUTPUT", ChainServices, "kubernetes service portals", nil),
		rule("nat", "PREROUTING", ChainServices, "kubernetes service portals", nil),
		rule("nat", "POSTROUTING", ChainPostrouting, "kubernetes postrouting rules", nil),
		rule("filter", "INPUT", ChainKubeletFirewall, "", nil),
		rule("filter", "OUTPUT", ChainKubeletFirewall, "", nil),
	}
}

// JumpRulesPayload returns an iptables-restore payload that creates
// kube-proxy's top-level chains and prepends the JumpRules to the built-in
// chains. It is meant for a clean table (a fresh network namespace or a
// fake kernel): applied twice it duplicates the jumps, and its chain
// declarations flush the top-level chains, so apply it before the first
// full sync.
func JumpRulesPayload() []byte {
	var b lineBuf
	for _, table := range []string{"filter", "nat"} {
		b.w("*" + table + "\n")
		seen := map[string]bool{}
		for _, j := range JumpRules() {
			target := j.Args[len(j.Args)-1]
			if j.Table == table && !seen[target] {
				seen[target] = true
				writeChainLine(&b, target)
			}
		}
		for _, j := range JumpRules() {
			if j.Table != table {
				continue
			}
			b.w("-I " + j.Chain + " 1")
			for _, a := range j.Args {
				b.w(" ")
				b.w(quoteArg(a))
			}
			b.nl()
		}
		b.w("COMMIT\n")
	}
	return b
}

// quoteArg quotes an argument holding spaces, as iptables-save does.
func quoteArg(a string) string {
	for i := 0; i < len(a); i++ {
		if a[i] == ' ' {
			return `"` + a + `"`
		}
	}
	return a
}
