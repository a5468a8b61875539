package proxy

import (
	"slices"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
)

// endpoint is the node-local model of one endpoint of one service port.
type endpoint struct {
	ip          string // canonical form
	hostPort    string // "ip:port" / "[ip]:port"
	chain       string // KUBE-SEP-XXXX
	chainKey    uint64 // chainSortKey(chain)
	local       bool
	ready       bool
	serving     bool
	terminating bool
	zoneHints   []string // sorted
	nodeHints   []string // sorted
}

func (e *endpoint) equal(o *endpoint) bool {
	return e.hostPort == o.hostPort && e.chain == o.chain && e.local == o.local && e.ready == o.ready &&
		e.serving == o.serving && e.terminating == o.terminating &&
		slices.Equal(e.zoneHints, o.zoneHints) && slices.Equal(e.nodeHints, o.nodeHints)
}

// sliceOwner returns the Service an EndpointSlice belongs to, from its
// kubernetes.io/service-name label, validating the slice's identity.
func sliceOwner(s *discovery.EndpointSlice) (types.NamespacedName, error) {
	bad := func(field, value, reason string) error {
		return &ObjectError{Kind: "EndpointSlice", Namespace: s.Namespace, Name: s.Name, Field: field, Value: value, Reason: reason}
	}
	if msgs := validation.IsDNS1123Label(s.Namespace); len(msgs) > 0 {
		return types.NamespacedName{}, bad("metadata.namespace", s.Namespace, msgs[0])
	}
	if msgs := validation.IsDNS1123Subdomain(s.Name); len(msgs) > 0 {
		return types.NamespacedName{}, bad("metadata.name", s.Name, msgs[0])
	}
	svc, ok := s.Labels[discovery.LabelServiceName]
	if !ok || svc == "" {
		return types.NamespacedName{}, bad("metadata.labels["+discovery.LabelServiceName+"]", svc, "required")
	}
	if msgs := validation.IsDNS1035Label(svc); len(msgs) > 0 {
		return types.NamespacedName{}, bad("metadata.labels["+discovery.LabelServiceName+"]", svc, msgs[0])
	}
	return types.NamespacedName{Namespace: s.Namespace, Name: svc}, nil
}

// skipSlice reports whether kube-proxy's informers never see the slice.
func skipSlice(s *discovery.EndpointSlice) bool {
	if _, ok := s.Labels[LabelServiceProxyName]; ok {
		return true
	}
	_, ok := s.Labels[v1.IsHeadlessService]
	return ok
}

// validateSlice checks the fields of a slice that reach the rules. A slice
// of another address family is not an error; it is simply not ours.
func (c *config) validateSlice(s *discovery.EndpointSlice) error {
	bad := func(field, value, reason string) error {
		return &ObjectError{Kind: "EndpointSlice", Namespace: s.Namespace, Name: s.Name, Field: field, Value: value, Reason: reason}
	}
	switch s.AddressType {
	case discovery.AddressTypeIPv4, discovery.AddressTypeIPv6, discovery.AddressTypeFQDN:
	default:
		return bad("addressType", string(s.AddressType), "must be IPv4, IPv6 or FQDN")
	}
	if !c.sliceFamily(s) {
		return nil
	}
	for i, p := range s.Ports {
		f := "ports[" + strconv.Itoa(i) + "]"
		if p.Name != nil && *p.Name != "" {
			if msgs := validation.IsDNS1123Label(*p.Name); len(msgs) > 0 {
				return bad(f+".name", *p.Name, msgs[0])
			}
		}
		if p.Port != nil && (*p.Port < 0 || *p.Port > 65535) {
			return bad(f+".port", strconv.Itoa(int(*p.Port)), "must be in 1-65535")
		}
		if p.Protocol != nil {
			switch *p.Protocol {
			case v1.ProtocolTCP, v1.ProtocolUDP, v1.ProtocolSCTP:
			default:
				return bad(f+".protocol", string(*p.Protocol), "must be TCP, UDP or SCTP")
			}
		}
	}
	for i, ep := range s.Endpoints {
		for j, a := range ep.Addresses {
			ip, ok := parseStrictIP(a)
			if !ok || !c.familyOK(ip) {
				return bad("endpoints["+strconv.Itoa(i)+"].addresses["+strconv.Itoa(j)+"]", a, "not a valid "+string(s.AddressType)+" address")
			}
		}
	}
	return nil
}

func (c *config) sliceFamily(s *discovery.EndpointSlice) bool {
	if c.ipv6 {
		return s.AddressType == discovery.AddressTypeIPv6
	}
	return s.AddressType == discovery.AddressTypeIPv4
}

// buildEndpoints merges the endpoints of all slices of a service for one
// service port, de-duplicated by "ip:port" and sorted by it, as
// kube-proxy's EndpointSliceCache does. slices must be sorted by name so
// that the choice between duplicates is deterministic: the last one that
// is not terminating wins, or the first one if all are terminating
// (kube-proxy keeps a running pod over a terminating one with a reused IP).
func (c *config) buildEndpoints(sp *servicePort, slicesByName []*discovery.EndpointSlice) []*endpoint {
	var eps []*endpoint
	for _, s := range slicesByName {
		if !c.sliceFamily(s) {
			continue
		}
		for _, p := range s.Ports {
			if p.Name == nil || p.Port == nil || *p.Port == 0 {
				continue // kube-proxy ignores such ports.
			}
			proto := v1.ProtocolTCP
			if p.Protocol != nil {
				proto = *p.Protocol
			}
			if *p.Name != sp.name.Port || proto != sp.name.Protocol {
				continue
			}
			port := int(*p.Port)
			if eps == nil {
				eps = make([]*endpoint, 0, len(s.Endpoints))
			}
			for _, e := range s.Endpoints {
				if len(e.Addresses) == 0 {
					continue
				}
				ip, _ := parseStrictIP(e.Addresses[0]) // validated
				ep := &endpoint{
					ip:          ip.String(),
					local:       e.NodeName != nil && c.NodeName != "" && *e.NodeName == c.NodeName,
					ready:       e.Conditions.Ready == nil || *e.Conditions.Ready,
					serving:     e.Conditions.Serving == nil || *e.Conditions.Serving,
					terminating: e.Conditions.Terminating != nil && *e.Conditions.Terminating,
				}
				ep.hostPort = joinHostPort(ep.ip, port)
				if e.Hints != nil {
					for _, z := range e.Hints.ForZones {
						ep.zoneHints = append(ep.zoneHints, z.Name)
					}
					for _, n := range e.Hints.ForNodes {
						ep.nodeHints = append(ep.nodeHints, n.Name)
					}
					slices.Sort(ep.zoneHints)
					ep.zoneHints = slices.Compact(ep.zoneHints)
					slices.Sort(ep.nodeHints)
					ep.nodeHints = slices.Compact(ep.nodeHints)
				}
				eps = append(eps, ep)
			}
		}
	}
	if len(eps) == 0 {
		return nil
	}
	// Stable: duplicates stay in slice order.
	slices.SortStableFunc(eps, func(a, b *endpoint) int { return strings.Compare(a.hostPort, b.hostPort) })
	out := eps[:0]
	for i := 0; i < len(eps); {
		j := i + 1
		for j < len(eps) && eps[j].hostPort == eps[i].hostPort {
			j++
		}
		pick := eps[i]
		for _, ep := range eps[i+1 : j] {
			if !ep.terminating {
				pick = ep
			}
		}
		out = append(out, pick)
		i = j
	}
	clear(eps[len(out):])
	for _, ep := range out {
		ep.chain = chainName(prefixEndpoint, sp.nameString, sp.proto, ep.hostPort)
		ep.chainKey = chainSortKey(ep.chain)
	}
	return out
}
