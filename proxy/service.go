package proxy

import (
	"net/netip"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
)

// LabelServiceProxyName is the label that hands a Service (and its
// EndpointSlices) to another proxy; kube-proxy ignores such objects.
const LabelServiceProxyName = "service.kubernetes.io/service-proxy-name"

// defaultStickySeconds is the ClientIP affinity timeout the API server
// defaults to (3 hours).
const defaultStickySeconds = 10800

// servicePort is the node-local model of one port of a Service, for one IP
// family: everything the rules depend on, already validated and formatted.
// Two equal servicePorts produce the same rules.
type servicePort struct {
	name       ServicePortName
	nameString string // "ns/name:port"
	sortKey    string // ns/name \x00 port \x00 protocol
	proto      string // "tcp"
	clusterIP  string
	port       string
	nodePort   string // "" when none
	hcNodePort string // "" when none

	externalIPs  []string
	lbVIPs       []string
	sourceRanges []netip.Prefix

	affinity            bool
	stickySeconds       string
	externalPolicyLocal bool
	internalPolicyLocal bool

	svcChain, svlChain, extChain, fwChain string
	svcKey, svlKey, extKey, fwKey         uint64 // chainSortKey of the chains
}

func (sp *servicePort) externallyAccessible() bool {
	return sp.nodePort != "" || len(sp.lbVIPs) != 0 || len(sp.externalIPs) != 0
}

func (sp *servicePort) usesClusterEndpoints() bool {
	return !sp.internalPolicyLocal || sp.externallyAccessible()
}

func (sp *servicePort) usesLocalEndpoints() bool {
	return sp.internalPolicyLocal || (sp.externalPolicyLocal && sp.externallyAccessible())
}

func (sp *servicePort) equal(o *servicePort) bool {
	if sp.name != o.name || sp.clusterIP != o.clusterIP || sp.port != o.port || sp.nodePort != o.nodePort ||
		sp.hcNodePort != o.hcNodePort || sp.affinity != o.affinity || sp.stickySeconds != o.stickySeconds ||
		sp.externalPolicyLocal != o.externalPolicyLocal || sp.internalPolicyLocal != o.internalPolicyLocal ||
		len(sp.externalIPs) != len(o.externalIPs) || len(sp.lbVIPs) != len(o.lbVIPs) || len(sp.sourceRanges) != len(o.sourceRanges) {
		return false
	}
	for i := range sp.externalIPs {
		if sp.externalIPs[i] != o.externalIPs[i] {
			return false
		}
	}
	for i := range sp.lbVIPs {
		if sp.lbVIPs[i] != o.lbVIPs[i] {
			return false
		}
	}
	for i := range sp.sourceRanges {
		if sp.sourceRanges[i] != o.sourceRanges[i] {
			return false
		}
	}
	return true
}

// parseStrictIP parses an IP address the way the API server's strict
// validation accepts it: no leading zeros, no zone, no IPv4-mapped IPv6.
func parseStrictIP(s string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(s)
	if err != nil || ip.Zone() != "" || ip.Is4In6() {
		return netip.Addr{}, false
	}
	return ip, true
}

// skipService reports whether kube-proxy ignores the Service entirely
// (without it being an error): headless, ExternalName, or handed to
// another proxy.
func skipService(svc *v1.Service) bool {
	if _, ok := svc.Labels[LabelServiceProxyName]; ok {
		return true
	}
	if _, ok := svc.Labels[v1.IsHeadlessService]; ok {
		return true
	}
	if svc.Spec.Type == v1.ServiceTypeExternalName {
		return true
	}
	return svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == v1.ClusterIPNone
}

// buildServicePorts validates svc and returns the model of its ports for
// the configured family (nil when the service has no cluster IP of that
// family or is skipped). An invalid Service yields an *ObjectError and no
// ports.
func (c *config) buildServicePorts(svc *v1.Service) ([]*servicePort, error) {
	bad := func(field, value, reason string) error {
		return &ObjectError{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name, Field: field, Value: value, Reason: reason}
	}
	if msgs := validation.IsDNS1123Label(svc.Namespace); len(msgs) > 0 {
		return nil, bad("metadata.namespace", svc.Namespace, msgs[0])
	}
	if msgs := validation.IsDNS1035Label(svc.Name); len(msgs) > 0 {
		return nil, bad("metadata.name", svc.Name, msgs[0])
	}
	if skipService(svc) {
		return nil, nil
	}

	// Cluster IP of our family (GetClusterIPByFamily).
	clusterIPs := svc.Spec.ClusterIPs
	field := "spec.clusterIPs"
	if len(clusterIPs) == 0 {
		clusterIPs = []string{svc.Spec.ClusterIP}
		field = "spec.clusterIP"
	}
	var clusterIP netip.Addr
	for i, s := range clusterIPs {
		ip, ok := parseStrictIP(s)
		if !ok {
			if len(clusterIPs) > 1 || field == "spec.clusterIPs" {
				return nil, bad(field+"["+strconv.Itoa(i)+"]", s, "not a valid IP address")
			}
			return nil, bad(field, s, "not a valid IP address")
		}
		if c.familyOK(ip) && !clusterIP.IsValid() {
			clusterIP = ip
		}
	}

	var externalIPs, lbVIPs []string
	for i, s := range svc.Spec.ExternalIPs {
		ip, ok := parseStrictIP(s)
		if !ok {
			return nil, bad("spec.externalIPs["+strconv.Itoa(i)+"]", s, "not a valid IP address")
		}
		if c.familyOK(ip) {
			externalIPs = append(externalIPs, ip.String())
		}
	}
	for i, ing := range svc.Status.LoadBalancer.Ingress {
		if ing.IP == "" {
			continue
		}
		ip, ok := parseStrictIP(ing.IP)
		if !ok {
			return nil, bad("status.loadBalancer.ingress["+strconv.Itoa(i)+"].ip", ing.IP, "not a valid IP address")
		}
		if ing.IPMode != nil && *ing.IPMode != v1.LoadBalancerIPModeVIP {
			continue // Proxy mode: the load balancer does not deliver to the VIP.
		}
		if c.familyOK(ip) {
			lbVIPs = append(lbVIPs, ip.String())
		}
	}
	var sourceRanges []netip.Prefix
	for i, s := range svc.Spec.LoadBalancerSourceRanges {
		// kube-proxy tolerates surrounding whitespace, for compatibility.
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil || p.Addr().Zone() != "" {
			return nil, bad("spec.loadBalancerSourceRanges["+strconv.Itoa(i)+"]", s, "not a valid CIDR")
		}
		if c.familyOK(p.Addr()) {
			sourceRanges = append(sourceRanges, p.Masked())
		}
	}

	affinity := false
	sticky := ""
	switch svc.Spec.SessionAffinity {
	case "", v1.ServiceAffinityNone:
	case v1.ServiceAffinityClientIP:
		affinity = true
		secs := int32(defaultStickySeconds)
		if cfg := svc.Spec.SessionAffinityConfig; cfg != nil && cfg.ClientIP != nil && cfg.ClientIP.TimeoutSeconds != nil {
			secs = *cfg.ClientIP.TimeoutSeconds
		}
		if secs <= 0 || secs > 86400 {
			return nil, bad("spec.sessionAffinityConfig.clientIP.timeoutSeconds", strconv.Itoa(int(secs)), "must be in 1-86400")
		}
		sticky = strconv.Itoa(int(secs))
	default:
		return nil, bad("spec.sessionAffinity", string(svc.Spec.SessionAffinity), "must be None or ClientIP")
	}

	switch svc.Spec.Type {
	case "", v1.ServiceTypeClusterIP, v1.ServiceTypeNodePort, v1.ServiceTypeLoadBalancer:
	default:
		return nil, bad("spec.type", string(svc.Spec.Type), "unknown service type")
	}
	// apihelpers.ExternallyAccessible / ExternalPolicyLocal / NeedsHealthCheck.
	externallyAccessible := svc.Spec.Type == v1.ServiceTypeLoadBalancer || svc.Spec.Type == v1.ServiceTypeNodePort ||
		((svc.Spec.Type == v1.ServiceTypeClusterIP || svc.Spec.Type == "") && len(svc.Spec.ExternalIPs) > 0)
	switch svc.Spec.ExternalTrafficPolicy {
	case "", v1.ServiceExternalTrafficPolicyCluster, v1.ServiceExternalTrafficPolicyLocal:
	default:
		return nil, bad("spec.externalTrafficPolicy", string(svc.Spec.ExternalTrafficPolicy), "must be Cluster or Local")
	}
	externalPolicyLocal := externallyAccessible && svc.Spec.ExternalTrafficPolicy == v1.ServiceExternalTrafficPolicyLocal
	internalPolicyLocal := false
	if itp := svc.Spec.InternalTrafficPolicy; itp != nil {
		switch *itp {
		case v1.ServiceInternalTrafficPolicyCluster:
		case v1.ServiceInternalTrafficPolicyLocal:
			internalPolicyLocal = true
		default:
			return nil, bad("spec.internalTrafficPolicy", string(*itp), "must be Cluster or Local")
		}
	}
	hc := ""
	if p := svc.Spec.HealthCheckNodePort; p != 0 {
		if p < 0 || p > 65535 {
			return nil, bad("spec.healthCheckNodePort", strconv.Itoa(int(p)), "must be in 1-65535")
		}
		if svc.Spec.Type == v1.ServiceTypeLoadBalancer && externalPolicyLocal {
			hc = strconv.Itoa(int(p))
		}
	}

	if len(svc.Spec.Ports) == 0 {
		return nil, nil
	}
	names := make(map[string]bool, len(svc.Spec.Ports))
	for i, p := range svc.Spec.Ports {
		f := "spec.ports[" + strconv.Itoa(i) + "]"
		if p.Name == "" && len(svc.Spec.Ports) > 1 {
			return nil, bad(f+".name", p.Name, "required when the service has more than one port")
		}
		if p.Name != "" {
			if msgs := validation.IsDNS1123Label(p.Name); len(msgs) > 0 {
				return nil, bad(f+".name", p.Name, msgs[0])
			}
		}
		if names[p.Name] {
			return nil, bad(f+".name", p.Name, "duplicate port name")
		}
		names[p.Name] = true
		switch p.Protocol {
		case "", v1.ProtocolTCP, v1.ProtocolUDP, v1.ProtocolSCTP:
		default:
			return nil, bad(f+".protocol", string(p.Protocol), "must be TCP, UDP or SCTP")
		}
		if p.Port < 1 || p.Port > 65535 {
			return nil, bad(f+".port", strconv.Itoa(int(p.Port)), "must be in 1-65535")
		}
		if p.NodePort < 0 || p.NodePort > 65535 {
			return nil, bad(f+".nodePort", strconv.Itoa(int(p.NodePort)), "must be in 1-65535")
		}
	}
	if !clusterIP.IsValid() {
		return nil, nil // no cluster IP of this family: another Proxier's job.
	}

	nn := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	ports := make([]*servicePort, 0, len(svc.Spec.Ports))
	for _, p := range svc.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = v1.ProtocolTCP
		}
		name := ServicePortName{NamespacedName: nn, Port: p.Name, Protocol: proto}
		sp := &servicePort{
			name:                name,
			nameString:          name.String(),
			sortKey:             nn.Namespace + "/" + nn.Name + "\x00" + p.Name + "\x00" + string(proto),
			proto:               protocolLower(proto),
			clusterIP:           clusterIP.String(),
			port:                strconv.Itoa(int(p.Port)),
			hcNodePort:          hc,
			externalIPs:         externalIPs,
			lbVIPs:              lbVIPs,
			sourceRanges:        sourceRanges,
			affinity:            affinity,
			stickySeconds:       sticky,
			externalPolicyLocal: externalPolicyLocal,
			internalPolicyLocal: internalPolicyLocal,
		}
		if p.NodePort != 0 && (svc.Spec.Type == v1.ServiceTypeNodePort || svc.Spec.Type == v1.ServiceTypeLoadBalancer) {
			sp.nodePort = strconv.Itoa(int(p.NodePort))
		}
		suffix := hash16(sp.nameString + sp.proto)
		sp.svcChain = prefixServiceCluster + suffix
		sp.svlChain = prefixServiceLocal + suffix
		sp.extChain = prefixExternal + suffix
		sp.fwChain = prefixFirewall + suffix
		sp.svcKey, sp.svlKey = chainSortKey(sp.svcChain), chainSortKey(sp.svlChain)
		sp.extKey, sp.fwKey = chainSortKey(sp.extChain), chainSortKey(sp.fwChain)
		ports = append(ports, sp)
	}
	return ports, nil
}
