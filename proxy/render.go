package proxy

import "strconv"

// The chains shared by all services, to which each service port
// contributes lines. Their order is the order of the payload.
const (
	sharedFilterNodePorts = iota
	sharedFilterServices
	sharedFilterExternal
	sharedFilterFirewall
	sharedNATNodePorts
	sharedNATServices
	numShared
)

// lineBuf accumulates payload text without per-line allocations.
type lineBuf []byte

func (b *lineBuf) w(s string) { *b = append(*b, s...) }
func (b *lineBuf) nl()        { *b = append(*b, '\n') }

// portRender holds what kube-proxy's syncProxyRules computes for one
// service port before writing its rules.
type portRender struct {
	sp  *servicePort
	eps []*endpoint
	cat categorizedEndpoints

	hasInternal, hasExternal bool
	usesCluster, usesLocal   bool
	usesExt, usesFW          bool
	internalChain            string
	externalPolicyChain      string
	lbChain                  string

	intTarget, intComment string
	extTarget, extComment string
}

func (c *config) newPortRender(pm *portModel) *portRender {
	sp := pm.sp
	pr := &portRender{sp: pm.sp, eps: pm.eps}
	pr.cat = c.categorizeEndpoints(sp, pm.eps)
	hasAny := pr.cat.hasAny
	pr.usesCluster = len(pr.cat.cluster) > 0 && sp.usesClusterEndpoints()
	pr.usesLocal = len(pr.cat.local) > 0 && sp.usesLocalEndpoints()

	pr.internalChain = sp.svcChain
	pr.hasInternal = hasAny
	if sp.internalPolicyLocal {
		pr.internalChain = sp.svlChain
		if len(pr.cat.local) == 0 {
			pr.hasInternal = false
		}
	}
	pr.externalPolicyChain = sp.svcChain
	pr.hasExternal = hasAny
	if sp.externalPolicyLocal {
		pr.externalPolicyChain = sp.svlChain
		if len(pr.cat.local) == 0 {
			pr.hasExternal = false
		}
	}
	pr.usesExt = hasAny && sp.externallyAccessible()
	pr.lbChain = sp.extChain
	pr.usesFW = hasAny && len(sp.lbVIPs) > 0 && len(sp.sourceRanges) > 0
	if pr.usesFW {
		pr.lbChain = sp.fwChain
	}
	if !hasAny {
		pr.intTarget = "REJECT"
		pr.intComment = `"` + sp.nameString + ` has no endpoints"`
		pr.extTarget, pr.extComment = pr.intTarget, pr.intComment
	} else {
		if !pr.hasInternal {
			pr.intTarget = "DROP"
			pr.intComment = `"` + sp.nameString + ` has no local endpoints"`
		}
		if !pr.hasExternal {
			pr.extTarget = "DROP"
			pr.extComment = `"` + sp.nameString + ` has no local endpoints"`
		}
	}
	return pr
}

// protoDport writes " -m tcp -p tcp -d IP --dport PORT".
func protoDport(b *lineBuf, sp *servicePort, ip, port string) {
	b.w(" -m ")
	b.w(sp.proto)
	b.w(" -p ")
	b.w(sp.proto)
	if ip != "" {
		b.w(" -d ")
		b.w(ip)
	}
	b.w(" --dport ")
	b.w(port)
}

// writeShared writes the port's lines of one shared chain.
func (c *config) writeShared(b *lineBuf, pr *portRender, chain int) {
	sp := pr.sp
	switch chain {
	case sharedFilterNodePorts:
		if sp.hcNodePort != "" {
			b.w(`-A KUBE-NODEPORTS -m comment --comment "`)
			b.w(sp.nameString)
			b.w(` health check node port" -m tcp -p tcp --dport `)
			b.w(sp.hcNodePort)
			b.w(" -j ACCEPT")
			b.nl()
		}
	case sharedFilterServices:
		if !pr.hasInternal {
			b.w("-A KUBE-SERVICES -m comment --comment ")
			b.w(pr.intComment)
			protoDport(b, sp, sp.clusterIP, sp.port)
			b.w(" -j ")
			b.w(pr.intTarget)
			b.nl()
		}
	case sharedFilterExternal:
		if pr.hasExternal {
			return
		}
		for _, ip := range sp.externalIPs {
			b.w("-A KUBE-EXTERNAL-SERVICES -m comment --comment ")
			b.w(pr.extComment)
			protoDport(b, sp, ip, sp.port)
			b.w(" -j ")
			b.w(pr.extTarget)
			b.nl()
		}
		for _, ip := range sp.lbVIPs {
			b.w("-A KUBE-EXTERNAL-SERVICES -m comment --comment ")
			b.w(pr.extComment)
			protoDport(b, sp, ip, sp.port)
			b.w(" -j ")
			b.w(pr.extTarget)
			b.nl()
		}
		if sp.nodePort != "" {
			b.w("-A KUBE-EXTERNAL-SERVICES -m comment --comment ")
			b.w(pr.extComment)
			b.w(" -m addrtype --dst-type LOCAL")
			protoDport(b, sp, "", sp.nodePort)
			b.w(" -j ")
			b.w(pr.extTarget)
			b.nl()
		}
	case sharedFilterFirewall:
		if !pr.usesFW {
			return
		}
		for _, ip := range sp.lbVIPs {
			b.w(`-A KUBE-PROXY-FIREWALL -m comment --comment "`)
			b.w(sp.nameString)
			b.w(" traffic not accepted by ")
			b.w(sp.fwChain)
			b.w(`"`)
			protoDport(b, sp, ip, sp.port)
			b.w(" -j DROP")
			b.nl()
		}
	case sharedNATNodePorts:
		if sp.nodePort == "" || !pr.cat.hasAny {
			return
		}
		if c.LocalhostNodePorts && !c.ipv6 && c.NFAcct {
			b.w("-A KUBE-NODEPORTS -m comment --comment ")
			b.w(sp.nameString)
			protoDport(b, sp, "127.0.0.0/8", sp.nodePort)
			b.w(" -m nfacct --nfacct-name localhost_nps_accepted_pkts -j ")
			b.w(sp.extChain)
			b.nl()
		}
		b.w("-A KUBE-NODEPORTS -m comment --comment ")
		b.w(sp.nameString)
		protoDport(b, sp, "", sp.nodePort)
		b.w(" -j ")
		b.w(sp.extChain)
		b.nl()
	case sharedNATServices:
		if pr.hasInternal {
			b.w(`-A KUBE-SERVICES -m comment --comment "`)
			b.w(sp.nameString)
			b.w(` cluster IP"`)
			protoDport(b, sp, sp.clusterIP, sp.port)
			b.w(" -j ")
			b.w(pr.internalChain)
			b.nl()
		}
		if !pr.cat.hasAny {
			return
		}
		for _, ip := range sp.externalIPs {
			b.w(`-A KUBE-SERVICES -m comment --comment "`)
			b.w(sp.nameString)
			b.w(` external IP"`)
			protoDport(b, sp, ip, sp.port)
			b.w(" -j ")
			b.w(sp.extChain)
			b.nl()
		}
		for _, ip := range sp.lbVIPs {
			b.w(`-A KUBE-SERVICES -m comment --comment "`)
			b.w(sp.nameString)
			b.w(` loadbalancer IP"`)
			protoDport(b, sp, ip, sp.port)
			b.w(" -j ")
			b.w(pr.lbChain)
			b.nl()
		}
	}
}

// Kinds of per-service chains.
const (
	chainEXT = iota
	chainFW
	chainSVC
	chainSVL
	chainSEP
)

// chainRef names one per-service chain and how to write its rules.
type chainRef struct {
	name string
	key  uint64 // chainSortKey(name)
	kind uint8
	pr   *portRender
	ep   *endpoint
}

// ownChains appends the nat chains the port owns to refs.
func (pr *portRender) ownChains(refs []chainRef) []chainRef {
	sp := pr.sp
	if pr.usesExt {
		refs = append(refs, chainRef{name: sp.extChain, key: sp.extKey, kind: chainEXT, pr: pr})
	}
	if pr.usesFW {
		refs = append(refs, chainRef{name: sp.fwChain, key: sp.fwKey, kind: chainFW, pr: pr})
	}
	if pr.usesCluster {
		refs = append(refs, chainRef{name: sp.svcChain, key: sp.svcKey, kind: chainSVC, pr: pr})
	}
	if pr.usesLocal {
		refs = append(refs, chainRef{name: sp.svlChain, key: sp.svlKey, kind: chainSVL, pr: pr})
	}
	for _, ep := range pr.cat.reachable {
		refs = append(refs, chainRef{name: ep.chain, key: ep.chainKey, kind: chainSEP, pr: pr, ep: ep})
	}
	return refs
}

// writeChain writes the rules of one per-service chain.
func (c *config) writeChain(b *lineBuf, ref *chainRef, large bool, prob func(int) string) {
	pr := ref.pr
	sp := pr.sp
	switch ref.kind {
	case chainEXT:
		if !sp.externalPolicyLocal {
			b.w("-A ")
			b.w(ref.name)
			b.w(` -m comment --comment "masquerade traffic for `)
			b.w(sp.nameString)
			b.w(` external destinations" -j KUBE-MARK-MASQ`)
			b.nl()
		} else {
			if c.localDetect {
				b.w("-A ")
				b.w(ref.name)
				b.w(` -m comment --comment "pod traffic for `)
				b.w(sp.nameString)
				b.w(` external destinations"`)
				for _, a := range c.ifLocal {
					b.w(" ")
					b.w(a)
				}
				b.w(" -j ")
				b.w(sp.svcChain)
				b.nl()
			}
			b.w("-A ")
			b.w(ref.name)
			b.w(` -m comment --comment "masquerade LOCAL traffic for `)
			b.w(sp.nameString)
			b.w(` external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`)
			b.nl()
			b.w("-A ")
			b.w(ref.name)
			b.w(` -m comment --comment "route LOCAL traffic for `)
			b.w(sp.nameString)
			b.w(` external destinations" -m addrtype --src-type LOCAL -j `)
			b.w(sp.svcChain)
			b.nl()
		}
		if pr.hasExternal {
			b.w("-A ")
			b.w(ref.name)
			b.w(" -j ")
			b.w(pr.externalPolicyChain)
			b.nl()
		}
	case chainFW:
		allowFromNode := false
		for _, cidr := range sp.sourceRanges {
			b.w("-A ")
			b.w(ref.name)
			b.w(` -m comment --comment "`)
			b.w(sp.nameString)
			b.w(` loadbalancer IP" -s `)
			b.w(cidr.String())
			b.w(" -j ")
			b.w(sp.extChain)
			b.nl()
			if c.nodeIP.IsValid() && cidr.Contains(c.nodeIP) {
				allowFromNode = true
			}
		}
		if allowFromNode {
			for _, ip := range sp.lbVIPs {
				b.w("-A ")
				b.w(ref.name)
				b.w(` -m comment --comment "`)
				b.w(sp.nameString)
				b.w(` loadbalancer IP" -s `)
				b.w(ip)
				b.w(" -j ")
				b.w(sp.extChain)
				b.nl()
			}
		}
		b.w("-A ")
		b.w(ref.name)
		b.w(` -m comment --comment "other traffic to `)
		b.w(sp.nameString)
		b.w(` will be dropped by KUBE-PROXY-FIREWALL"`)
		b.nl()
	case chainSVC, chainSVL:
		eps := pr.cat.cluster
		if ref.kind == chainSVL {
			eps = pr.cat.local
		}
		if ref.name == pr.internalChain && pr.hasInternal && (c.MasqueradeAll || c.localDetect) {
			b.w("-A ")
			b.w(ref.name)
			b.w(` -m comment --comment "`)
			b.w(sp.nameString)
			b.w(` cluster IP"`)
			protoDport(b, sp, sp.clusterIP, sp.port)
			if !c.MasqueradeAll {
				for _, a := range c.ifNotLocal {
					b.w(" ")
					b.w(a)
				}
			}
			b.w(" -j KUBE-MARK-MASQ")
			b.nl()
		}
		if sp.affinity {
			for _, ep := range eps {
				endpointRuleStart(b, ref.name, sp, ep.hostPort, large)
				b.w(" -m recent --name ")
				b.w(ep.chain)
				b.w(" --rcheck --seconds ")
				b.w(sp.stickySeconds)
				b.w(" --reap -j ")
				b.w(ep.chain)
				b.nl()
			}
		}
		for i, ep := range eps {
			endpointRuleStart(b, ref.name, sp, ep.hostPort, large)
			if i < len(eps)-1 {
				b.w(" -m statistic --mode random --probability ")
				b.w(prob(len(eps) - i))
			}
			b.w(" -j ")
			b.w(ep.chain)
			b.nl()
		}
	case chainSEP:
		ep := ref.ep
		b.w("-A ")
		b.w(ref.name)
		if !large {
			b.w(" -m comment --comment ")
			b.w(sp.nameString)
		}
		b.w(" -s ")
		b.w(ep.ip)
		b.w(" -j KUBE-MARK-MASQ")
		b.nl()
		b.w("-A ")
		b.w(ref.name)
		if !large {
			b.w(" -m comment --comment ")
			b.w(sp.nameString)
		}
		if sp.affinity {
			b.w(" -m recent --name ")
			b.w(ref.name)
			b.w(" --set")
		}
		b.w(" -m ")
		b.w(sp.proto)
		b.w(" -p ")
		b.w(sp.proto)
		b.w(" -j DNAT --to-destination ")
		b.w(ep.hostPort)
		b.nl()
	}
}

// outChain is one nat chain of a payload, with its rules already
// rendered.
type outChain struct {
	key  uint64
	name string
	body []byte
}

// writeChainLine writes ":NAME - [0:0]".
// endpointRuleStart writes the start of a service chain's rule towards one
// endpoint: "-A CHAIN" and, outside large-cluster mode, kube-proxy's
// "ns/name:port -> ip:port" comment.
func endpointRuleStart(b *lineBuf, chain string, sp *servicePort, hostPort string, large bool) {
	b.w("-A ")
	b.w(chain)
	if !large {
		b.w(` -m comment --comment "`)
		b.w(sp.nameString)
		b.w(" -> ")
		b.w(hostPort)
		b.w(`"`)
	}
}

func writeChainLine(b *lineBuf, name string) {
	b.w(":")
	b.w(name)
	b.w(" - [0:0]")
	b.nl()
}

// writeStaticFilter writes the rules of KUBE-FIREWALL (when used) and
// KUBE-FORWARD.
func (c *config) writeStaticFilterFirewall(b *lineBuf) {
	if c.LocalhostNodePorts && !c.ipv6 {
		b.w(`-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`)
		b.nl()
	}
}

func (c *config) writeStaticForward(b *lineBuf) {
	if !c.ConntrackTCPBeLiberal {
		b.w("-A KUBE-FORWARD -m conntrack --ctstate INVALID")
		if c.NFAcct {
			b.w(" -m nfacct --nfacct-name ct_state_invalid_dropped_pkts")
		}
		b.w(" -j DROP")
		b.nl()
	}
	b.w(`-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark `)
	b.w(c.masqMark + "/" + c.masqMark)
	b.w(" -j ACCEPT")
	b.nl()
	b.w(`-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`)
	b.nl()
}

func (c *config) writeMarkMasq(b *lineBuf) {
	b.w("-A KUBE-MARK-MASQ -j MARK --or-mark ")
	b.w(c.masqMark)
	b.nl()
}

func (c *config) writePostrouting(b *lineBuf) {
	b.w("-A KUBE-POSTROUTING -m mark ! --mark ")
	b.w(c.masqMark + "/" + c.masqMark)
	b.w(" -j RETURN")
	b.nl()
	b.w("-A KUBE-POSTROUTING -j MARK --xor-mark ")
	b.w(c.masqMark)
	b.nl()
	b.w(`-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE`)
	if c.RandomFully {
		b.w(" --random-fully")
	}
	b.nl()
}

// probabilities caches kube-proxy's "%0.10f" of 1/n.
type probabilities []string

func (p *probabilities) get(n int) string {
	for len(*p) <= n {
		i := len(*p)
		s := "<bad value>"
		if i > 0 {
			s = strconv.FormatFloat(1.0/float64(i), 'f', 10, 64)
		}
		*p = append(*p, s)
	}
	return (*p)[n]
}
