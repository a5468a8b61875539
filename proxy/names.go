package proxy

import (
	"crypto/sha256"
	"encoding/base32"
	"net"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Names of the chains kube-proxy owns. They are the same in both families.
const (
	// ChainServices is KUBE-SERVICES, the entry chain for service VIPs (nat
	// and filter).
	ChainServices = "KUBE-SERVICES"
	// ChainExternalServices is KUBE-EXTERNAL-SERVICES (filter), which
	// rejects or drops external traffic to services without usable endpoints.
	ChainExternalServices = "KUBE-EXTERNAL-SERVICES"
	// ChainNodePorts is KUBE-NODEPORTS (nat and filter).
	ChainNodePorts = "KUBE-NODEPORTS"
	// ChainPostrouting is KUBE-POSTROUTING (nat), which masquerades marked
	// packets.
	ChainPostrouting = "KUBE-POSTROUTING"
	// ChainMarkMasq is KUBE-MARK-MASQ (nat), which sets the masquerade mark.
	ChainMarkMasq = "KUBE-MARK-MASQ"
	// ChainForward is KUBE-FORWARD (filter).
	ChainForward = "KUBE-FORWARD"
	// ChainProxyFirewall is KUBE-PROXY-FIREWALL (filter), which drops load
	// balancer traffic not accepted by a KUBE-FW chain.
	ChainProxyFirewall = "KUBE-PROXY-FIREWALL"
	// ChainKubeletFirewall is KUBE-FIREWALL (filter), the kubelet's chain
	// holding the anti-martian rule for localhost node ports.
	ChainKubeletFirewall = "KUBE-FIREWALL"
)

// Prefixes of the per-service and per-endpoint chains.
const (
	prefixServiceCluster = "KUBE-SVC-"
	prefixServiceLocal   = "KUBE-SVL-"
	prefixFirewall       = "KUBE-FW-"
	prefixExternal       = "KUBE-EXT-"
	prefixEndpoint       = "KUBE-SEP-"
)

// ServicePortName identifies one port of a Service, as kube-proxy's
// proxy.ServicePortName does. Its String form ("ns/name:port", or "ns/name"
// for an unnamed port) is what the chain-name hashes and the rule comments
// are made from.
type ServicePortName struct {
	types.NamespacedName
	Port     string
	Protocol v1.Protocol
}

// String returns "namespace/name:port", or "namespace/name" when the port
// is unnamed, exactly as kube-proxy formats it.
func (n ServicePortName) String() string {
	s := n.Namespace + "/" + n.Name
	if n.Port != "" {
		s += ":" + n.Port
	}
	return s
}

// protocolLower returns the protocol as iptables spells it ("tcp").
func protocolLower(p v1.Protocol) string {
	switch p {
	case v1.ProtocolTCP:
		return "tcp"
	case v1.ProtocolUDP:
		return "udp"
	case v1.ProtocolSCTP:
		return "sctp"
	}
	return strings.ToLower(string(p))
}

// hash16 returns the first 16 characters of base32(sha256(s)), the
// suffix of every per-service chain name.
func hash16(s string) string {
	return chainName("", s)
}

// chainName returns prefix followed by the first 16 characters of
// base32(sha256(concatenation of parts)), with a single allocation.
func chainName(prefix string, parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p)) //nolint:errcheck // hash.Hash never fails
	}
	var sum [sha256.Size]byte
	var enc [56]byte // base32 of 32 bytes
	base32.StdEncoding.Encode(enc[:], h.Sum(sum[:0]))
	buf := make([]byte, 0, len(prefix)+16)
	buf = append(buf, prefix...)
	buf = append(buf, enc[:16]...)
	return string(buf)
}

// ServicePortChainName returns the KUBE-SVC-XXXX chain of a service port:
// the chain that dispatches to endpoints with the Cluster traffic policy.
func ServicePortChainName(n ServicePortName) string {
	return prefixServiceCluster + hash16(n.String()+protocolLower(n.Protocol))
}

// ServicePortLocalChainName returns the KUBE-SVL-XXXX chain of a service
// port: the chain that dispatches to this node's endpoints with the Local
// traffic policy.
func ServicePortLocalChainName(n ServicePortName) string {
	return prefixServiceLocal + hash16(n.String()+protocolLower(n.Protocol))
}

// ServiceExternalChainName returns the KUBE-EXT-XXXX chain of a service
// port, which handles traffic to its node port, external IPs and load
// balancer IPs.
func ServiceExternalChainName(n ServicePortName) string {
	return prefixExternal + hash16(n.String()+protocolLower(n.Protocol))
}

// ServiceFirewallChainName returns the KUBE-FW-XXXX chain of a service port,
// which implements loadBalancerSourceRanges.
func ServiceFirewallChainName(n ServicePortName) string {
	return prefixFirewall + hash16(n.String()+protocolLower(n.Protocol))
}

// EndpointChainName returns the KUBE-SEP-XXXX chain of one endpoint of a
// service port. endpoint is "ip:port" ("[ip]:port" for IPv6), as
// net.JoinHostPort formats it.
func EndpointChainName(n ServicePortName, endpoint string) string {
	return prefixEndpoint + hash16(n.String()+protocolLower(n.Protocol)+endpoint)
}

// joinHostPort formats an endpoint the way kube-proxy's Endpoint.String does.
func joinHostPort(ip string, port int) string {
	return net.JoinHostPort(ip, strconv.Itoa(port))
}

// chainSortKey maps a nat chain name to an integer whose order is the
// order of the names, as far as it goes: 3 bits for the chain kind (in
// the byte order of the prefixes) and 5 bits for each of the first 12
// characters of the base32 hash ('2'-'7' before 'A'-'Z', as in ASCII).
// Equal keys must be ordered by comparing the names.
func chainSortKey(name string) uint64 {
	var kind uint64
	var rest string
	switch {
	case strings.HasPrefix(name, prefixExternal):
		kind, rest = 0, name[len(prefixExternal):]
	case strings.HasPrefix(name, prefixFirewall):
		kind, rest = 1, name[len(prefixFirewall):]
	case name == ChainMarkMasq:
		kind = 2
	case name == ChainPostrouting:
		kind = 3
	case strings.HasPrefix(name, prefixEndpoint):
		kind, rest = 4, name[len(prefixEndpoint):]
	case strings.HasPrefix(name, prefixServiceCluster):
		kind, rest = 5, name[len(prefixServiceCluster):]
	case strings.HasPrefix(name, prefixServiceLocal):
		kind, rest = 6, name[len(prefixServiceLocal):]
	default:
		kind = 7
	}
	key := kind
	for i := 0; i < 12; i++ {
		var v uint64
		if i < len(rest) {
			switch ch := rest[i]; {
			case ch >= '2' && ch <= '7':
				v = uint64(ch - '2')
			case ch >= 'A' && ch <= 'Z':
				v = uint64(ch-'A') + 6
			}
		}
		key = key<<5 | v
	}
	return key
}
