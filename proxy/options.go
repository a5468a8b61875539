package proxy

import (
	"fmt"
	"net/netip"
	"regexp"

	v1 "k8s.io/api/core/v1"
)

// DefaultMasqueradeBit is the bit of the packet mark that KUBE-MARK-MASQ
// sets, kube-proxy's default (0x4000).
const DefaultMasqueradeBit = 14

// DefaultLargeClusterEndpoints is kube-proxy's threshold of endpoints above
// which it drops per-endpoint comments to keep the rule set small.
const DefaultLargeClusterEndpoints = 1000

// Options configures a Proxier. The zero value of every field means the
// documented default; only NodeName is needed for a working proxier.
type Options struct {
	// NodeName is this node's name, compared with the nodeName of
	// endpoints to find local ones (externalTrafficPolicy and
	// internalTrafficPolicy Local).
	NodeName string
	// NodeZone is the value of this node's topology.kubernetes.io/zone
	// label, used for topology-aware routing with zone hints. Empty
	// disables same-zone preference.
	NodeZone string
	// NodeIPs are this node's addresses. Those of IPFamily are used for the
	// loadBalancerSourceRanges "allow from node" rules (the first one, like
	// kube-proxy's --node-ip) and, with NodePortAddresses, as the addresses
	// node ports listen on.
	NodeIPs []netip.Addr
	// IPFamily is the family of the rules: v1.IPv4Protocol (the default)
	// or v1.IPv6Protocol. A dual-stack node runs one Proxier per family.
	IPFamily v1.IPFamily
	// ClusterCIDR, when valid, detects pod traffic by source address
	// (kube-proxy --detect-local-mode=ClusterCIDR): traffic to a cluster IP
	// from outside it is masqueraded, and ETP=Local services short-circuit
	// pod traffic to all endpoints.
	ClusterCIDR netip.Prefix
	// PodInterfacePrefix detects pod traffic by input interface name
	// prefix instead (--detect-local-mode=InterfaceNamePrefix), e.g. "veth".
	// It may not be combined with ClusterCIDR.
	PodInterfacePrefix string
	// MasqueradeBit is the mark bit for packets to masquerade, 0-31.
	// Nil means DefaultMasqueradeBit.
	MasqueradeBit *int
	// MasqueradeAll masquerades all traffic to cluster IPs.
	MasqueradeAll bool
	// RandomFully adds --random-fully to the MASQUERADE rule (kube-proxy
	// does when iptables supports it).
	RandomFully bool
	// LocalhostNodePorts makes node ports reachable on 127.0.0.0/8 (IPv4
	// only) and installs the KUBE-FIREWALL anti-martian rule, as
	// kube-proxy's --iptables-localhost-nodeports (default true there). It
	// needs the sysctl net.ipv4.conf.all.route_localnet=1, which this
	// package does not set; hence it is off by default here.
	LocalhostNodePorts bool
	// NFAcct adds the "-m nfacct" counting matches kube-proxy uses when
	// its nfacct counters (ct_state_invalid_dropped_pkts,
	// localhost_nps_accepted_pkts) exist. The caller must create them.
	NFAcct bool
	// ConntrackTCPBeLiberal omits the DROP of conntrack-INVALID packets in
	// KUBE-FORWARD, as kube-proxy does when nf_conntrack_tcp_be_liberal is set.
	ConntrackTCPBeLiberal bool
	// NodePortAddresses restricts node ports to the NodeIPs (and loopback)
	// inside these prefixes (--nodeport-addresses). Empty means every local
	// address (-m addrtype --dst-type LOCAL).
	NodePortAddresses []netip.Prefix
	// LargeClusterEndpoints is the endpoint count above which per-endpoint
	// comments are omitted. Zero means DefaultLargeClusterEndpoints; a
	// negative value disables large-cluster mode.
	LargeClusterEndpoints int
}

var interfacePrefixRE = regexp.MustCompile(`^[a-zA-Z0-9._@-]{1,14}$`)

// config is the validated, derived form of Options.
type config struct {
	Options
	ipv6           bool
	masqMark       string // "0x4000"
	localDetect    bool
	ifLocal        []string
	ifNotLocal     []string
	nodeIP         netip.Addr // primary node IP of the family, may be invalid
	largeThreshold int
	// nodePortLastRules are the trailing rules of nat KUBE-SERVICES.
	nodePortLastRules []string
}

func newConfig(o Options) (*config, error) {
	c := &config{Options: o}
	switch o.IPFamily {
	case "", v1.IPv4Protocol:
		c.IPFamily = v1.IPv4Protocol
	case v1.IPv6Protocol:
		c.ipv6 = true
	default:
		return nil, fmt.Errorf("IPFamily %q: %w", o.IPFamily, ErrInvalidOptions)
	}
	bit := DefaultMasqueradeBit
	if o.MasqueradeBit != nil {
		bit = *o.MasqueradeBit
	}
	if bit < 0 || bit > 31 {
		return nil, fmt.Errorf("MasqueradeBit %d not in 0-31: %w", bit, ErrInvalidOptions)
	}
	c.masqMark = fmt.Sprintf("%#x", uint32(1)<<uint(bit))
	if o.ClusterCIDR.IsValid() && o.PodInterfacePrefix != "" {
		return nil, fmt.Errorf("ClusterCIDR and PodInterfacePrefix are exclusive: %w", ErrInvalidOptions)
	}
	if o.ClusterCIDR.IsValid() {
		if !c.familyOK(o.ClusterCIDR.Addr()) {
			return nil, fmt.Errorf("ClusterCIDR %s is not %s: %w", o.ClusterCIDR, c.IPFamily, ErrInvalidOptions)
		}
		cidr := o.ClusterCIDR.Masked().String()
		c.localDetect = true
		c.ifLocal = []string{"-s", cidr}
		c.ifNotLocal = []string{"!", "-s", cidr}
	}
	if o.PodInterfacePrefix != "" {
		if !interfacePrefixRE.MatchString(o.PodInterfacePrefix) {
			return nil, fmt.Errorf("PodInterfacePrefix %q is not an interface name prefix: %w", o.PodInterfacePrefix, ErrInvalidOptions)
		}
		c.localDetect = true
		c.ifLocal = []string{"-i", o.PodInterfacePrefix + "+"}
		c.ifNotLocal = []string{"!", "-i", o.PodInterfacePrefix + "+"}
	}
	for _, ip := range o.NodeIPs {
		if !ip.IsValid() {
			return nil, fmt.Errorf("NodeIPs holds an invalid address: %w", ErrInvalidOptions)
		}
		if c.familyOK(ip) && !c.nodeIP.IsValid() {
			c.nodeIP = ip
		}
	}
	c.largeThreshold = o.LargeClusterEndpoints
	if c.largeThreshold == 0 {
		c.largeThreshold = DefaultLargeClusterEndpoints
	}
	for _, p := range o.NodePortAddresses {
		if !p.IsValid() {
			return nil, fmt.Errorf("NodePortAddresses holds an invalid prefix: %w", ErrInvalidOptions)
		}
	}
	c.nodePortLastRules = c.buildNodePortLastRules()
	return c, nil
}

// familyOK reports whether ip is of the configured family.
func (c *config) familyOK(ip netip.Addr) bool {
	if c.ipv6 {
		return ip.Is6() && !ip.Is4In6()
	}
	return ip.Is4()
}

const nodePortsComment = `"kubernetes service nodeports; NOTE: this must be the last rule in this chain"`

// buildNodePortLastRules computes the jump(s) from nat KUBE-SERVICES to
// KUBE-NODEPORTS, the last rules of that chain, as kube-proxy does from
// --nodeport-addresses. kube-proxy lists the addresses of the host's
// interfaces; this package uses NodeIPs and the loopback address instead.
func (c *config) buildNodePortLastRules() []string {
	var matchAll, hasFamily bool
	loopback := netip.MustParseAddr("127.0.0.1")
	if c.ipv6 {
		loopback = netip.IPv6Loopback()
	}
	containsV4Loopback := len(c.NodePortAddresses) == 0
	for _, p := range c.NodePortAddresses {
		if p.Addr().Is4() && p.Contains(netip.MustParseAddr("127.0.0.1")) {
			containsV4Loopback = true
		}
		if !c.familyOK(p.Addr()) {
			continue
		}
		hasFamily = true
		if p.Bits() == 0 {
			matchAll = true
		}
	}
	if len(c.NodePortAddresses) == 0 || !hasFamily {
		// kube-proxy: no prefix of this family means "all addresses".
		matchAll = true
	}
	if !containsV4Loopback {
		c.LocalhostNodePorts = false
	}
	if matchAll {
		rule := "-A KUBE-SERVICES -m comment --comment " + nodePortsComment + " -m addrtype --dst-type LOCAL"
		if c.ipv6 {
			rule += " ! -d ::1/128"
		} else if !c.LocalhostNodePorts {
			rule += " ! -d 127.0.0.0/8"
		}
		return []string{rule + " -j KUBE-NODEPORTS"}
	}
	var rules []string
	seen := map[netip.Addr]bool{}
	for _, ip := range append([]netip.Addr{loopback}, c.NodeIPs...) {
		if !c.familyOK(ip) || seen[ip] {
			continue
		}
		in := false
		for _, p := range c.NodePortAddresses {
			if p.Contains(ip) {
				in = true
			}
		}
		if !in {
			continue
		}
		seen[ip] = true
		if ip.IsLoopback() && (c.ipv6 || !c.LocalhostNodePorts) {
			continue
		}
		rules = append(rules, "-A KUBE-SERVICES -m comment --comment "+nodePortsComment+" -d "+ip.String()+" -j KUBE-NODEPORTS")
	}
	return rules
}
