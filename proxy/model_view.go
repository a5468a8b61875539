package proxy

import (
	"bytes"
	"net/netip"
	"strconv"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// This file holds read-only views of the Proxier's committed model for
// the kernel side: the rules the kernel should hold (drift checks), the
// UDP frontends and their serving endpoints (conntrack) and the health
// check node ports (healthcheck servers). They read the model under the
// Proxier's lock and never change it.

// expectedRules returns, for the filter and nat tables, the number of
// rules each chain written by the Proxier should hold according to its
// record of the last commit. A chain whose rules are not known exactly (a
// service port changed after the commit and before this call) maps to -1:
// it must exist, whatever it holds. ok is false before the first commit.
func (p *Proxier) expectedRules() (tables map[string]map[string]int, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.haveWritten {
		return nil, false
	}
	filter := map[string]int{}
	nat := map[string]int{}
	for _, name := range []string{ChainNodePorts, ChainServices, ChainExternalServices, ChainForward, ChainProxyFirewall} {
		filter[name] = 0
	}
	if p.cfg.LocalhostNodePorts && !p.cfg.ipv6 {
		filter[ChainKubeletFirewall] = 0
	}
	for _, name := range []string{ChainNodePorts, ChainServices, ChainMarkMasq, ChainPostrouting} {
		nat[name] = 0
	}
	var static lineBuf
	p.cfg.writeStaticFilterFirewall(&static)
	p.cfg.writeStaticForward(&static)
	countLines(static, filter)
	static = static[:0]
	p.cfg.writeMarkMasq(&static)
	p.cfg.writePostrouting(&static)
	for _, r := range p.cfg.nodePortLastRules {
		static.w(r)
		static.nl()
	}
	countLines(static, nat)
	for _, w := range p.writtenOrder {
		for c := range w.shared {
			table, chain := sharedChain(c)
			if table == TableNAT {
				nat[chain] += len(w.shared[c])
			} else {
				filter[chain] += len(w.shared[c])
			}
		}
		m := p.ports[w.name]
		exact := m != nil && m.rec == w && m.cacheLarge == p.writtenLarge
		start := 0
		for i, ch := range w.chains {
			if !exact {
				nat[ch] = -1
				continue
			}
			nat[ch] = bytes.Count(m.bodies[start:m.bodyEnds[i]], []byte{'\n'})
			start = m.bodyEnds[i]
		}
	}
	return map[string]map[string]int{TableFilter: filter, TableNAT: nat}, true
}

// sharedChain returns the table and chain of a shared-chain index of
// writtenPort.shared.
func sharedChain(c int) (table, chain string) {
	switch c {
	case sharedFilterNodePorts:
		return TableFilter, ChainNodePorts
	case sharedFilterServices:
		return TableFilter, ChainServices
	case sharedFilterExternal:
		return TableFilter, ChainExternalServices
	case sharedFilterFirewall:
		return TableFilter, ChainProxyFirewall
	case sharedNATNodePorts:
		return TableNAT, ChainNodePorts
	default:
		return TableNAT, ChainServices
	}
}

// countLines adds the "-A CHAIN ..." lines of text to counts by chain.
func countLines(text []byte, counts map[string]int) {
	for len(text) > 0 {
		i := bytes.IndexByte(text, '\n')
		line := string(text[:i])
		text = text[i+1:]
		if len(line) > 3 && line[:3] == "-A " {
			chain, _ := ruleSpec(line)
			counts[chain]++
		}
	}
}

// UDPServicePort is one UDP service port as conntrack reconciliation sees
// it: the destinations clients use (Frontends, plus NodePort on any local
// address) and the endpoints the rules may DNAT to (Serving).
type UDPServicePort struct {
	// Name identifies the service port.
	Name ServicePortName
	// Frontends are the cluster IP, external IPs and load-balancer IPs
	// with the service port.
	Frontends []netip.AddrPort
	// NodePort is the node port, 0 when none.
	NodePort uint16
	// Serving are the endpoints that are ready, or serving and
	// terminating, as "ip:port".
	Serving []netip.AddrPort
}

// UDPServicePorts returns the UDP service ports of the last committed sync,
// in record order.
func (p *Proxier) UDPServicePorts() []UDPServicePort {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []UDPServicePort
	for _, w := range p.writtenOrder {
		m := p.ports[w.name]
		if m == nil || m.sp.name.Protocol != v1.ProtocolUDP {
			continue
		}
		sp := m.sp
		port, err := strconv.ParseUint(sp.port, 10, 16)
		if err != nil {
			continue
		}
		u := UDPServicePort{Name: sp.name}
		for _, ip := range append(append([]string{sp.clusterIP}, sp.externalIPs...), sp.lbVIPs...) {
			if a, err := netip.ParseAddr(ip); err == nil {
				u.Frontends = append(u.Frontends, netip.AddrPortFrom(a, uint16(port)))
			}
		}
		if np, err := strconv.ParseUint(sp.nodePort, 10, 16); err == nil {
			u.NodePort = uint16(np)
		}
		for _, ep := range m.eps {
			if !ep.ready && !ep.serving {
				continue
			}
			if ap, err := netip.ParseAddrPort(ep.hostPort); err == nil {
				u.Serving = append(u.Serving, ap)
			}
		}
		out = append(out, u)
	}
	return out
}

// HealthCheckService is a service with externalTrafficPolicy Local and a
// healthCheckNodePort, as the health check servers see it.
type HealthCheckService struct {
	// Port is the healthCheckNodePort.
	Port uint16
	// LocalEndpoints is the number of ready endpoints on this node.
	LocalEndpoints int
}

// HealthCheckServices returns the services of the last committed sync that
// have a health check node port, with their local ready endpoints counted
// once per address over all the service's ports, as kube-proxy's
// LocalReadyEndpoints does.
func (p *Proxier) HealthCheckServices() map[types.NamespacedName]HealthCheckService {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[types.NamespacedName]HealthCheckService{}
	ips := map[types.NamespacedName]map[string]bool{}
	for _, w := range p.writtenOrder {
		m := p.ports[w.name]
		if m == nil || m.sp.hcNodePort == "" {
			continue
		}
		port, err := strconv.ParseUint(m.sp.hcNodePort, 10, 16)
		if err != nil {
			continue
		}
		nn := w.name.NamespacedName
		set := ips[nn]
		if set == nil {
			set = map[string]bool{}
			ips[nn] = set
		}
		for _, ep := range m.eps {
			if ep.local && ep.ready {
				set[ep.ip] = true
			}
		}
		out[nn] = HealthCheckService{Port: uint16(port), LocalEndpoints: len(set)}
	}
	return out
}
