package manifest

import (
	"errors"
	"fmt"
	"net/netip"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// prepareService applies the API server's defaults to a Service
// (pkg/apis/core/v1/defaults.go SetDefaults_Service and the IP family
// defaulting of the REST strategy) and validates what the node relies on.
// Allocation of cluster IPs and node ports is done afterwards by the
// allocator. It returns a *DocumentError without File and Document.
func prepareService(svc *v1.Service, serviceCIDR netip.Prefix) error {
	if svc.Namespace == "" {
		svc.Namespace = v1.NamespaceDefault
	}
	bad := func(field string, err error) error {
		return &DocumentError{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name, Field: field, Err: err}
	}
	if svc.Name == "" {
		return bad("metadata.name", errors.New("required"))
	}
	for _, msg := range validation.IsDNS1035Label(svc.Name) {
		return bad("metadata.name", errors.New(msg))
	}
	for _, msg := range validation.IsDNS1123Label(svc.Namespace) {
		return bad("metadata.namespace", errors.New(msg))
	}
	spec := &svc.Spec
	if spec.Type == "" {
		spec.Type = v1.ServiceTypeClusterIP
	}
	switch spec.Type {
	case v1.ServiceTypeClusterIP, v1.ServiceTypeNodePort, v1.ServiceTypeLoadBalancer, v1.ServiceTypeExternalName:
	default:
		return bad("spec.type", fmt.Errorf("%q is not ClusterIP, NodePort, LoadBalancer or ExternalName", spec.Type))
	}
	if spec.SessionAffinity == "" {
		spec.SessionAffinity = v1.ServiceAffinityNone
	}
	if spec.Type == v1.ServiceTypeExternalName {
		return nil
	}
	if spec.InternalTrafficPolicy == nil {
		p := v1.ServiceInternalTrafficPolicyCluster
		spec.InternalTrafficPolicy = &p
	}
	if (spec.Type == v1.ServiceTypeNodePort || spec.Type == v1.ServiceTypeLoadBalancer) && spec.ExternalTrafficPolicy == "" {
		spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyCluster
	}
	if len(spec.Ports) == 0 && spec.ClusterIP != v1.ClusterIPNone {
		return bad("spec.ports", errors.New("required"))
	}
	names := map[string]bool{}
	for i := range spec.Ports {
		p := &spec.Ports[i]
		field := fmt.Sprintf("spec.ports[%d]", i)
		if p.Protocol == "" {
			p.Protocol = v1.ProtocolTCP
		}
		if err := checkProtocol(p.Protocol); err != nil {
			return bad(field+".protocol", err)
		}
		if p.Port < 1 || p.Port > 65535 {
			return bad(field+".port", fmt.Errorf("%d is not between 1 and 65535", p.Port))
		}
		if len(spec.Ports) > 1 && p.Name == "" {
			return bad(field+".name", errors.New("required when there is more than one port"))
		}
		if p.Name != "" {
			for _, msg := range validation.IsDNS1123Label(p.Name) {
				return bad(field+".name", errors.New(msg))
			}
			if names[p.Name] {
				return bad(field+".name", fmt.Errorf("duplicate port name %q", p.Name))
			}
			names[p.Name] = true
		}
		switch {
		case p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0:
			p.TargetPort = intstr.FromInt32(p.Port)
		case p.TargetPort.Type == intstr.Int && (p.TargetPort.IntVal < 1 || p.TargetPort.IntVal > 65535):
			return bad(field+".targetPort", fmt.Errorf("%d is not between 1 and 65535", p.TargetPort.IntVal))
		case p.TargetPort.Type == intstr.String:
			for _, msg := range validation.IsValidPortName(p.TargetPort.StrVal) {
				return bad(field+".targetPort", errors.New(msg))
			}
		}
		if p.NodePort != 0 && spec.Type == v1.ServiceTypeClusterIP {
			return bad(field+".nodePort", errors.New("may not be used when type is ClusterIP"))
		}
	}
	if spec.ClusterIP != "" && spec.ClusterIP != v1.ClusterIPNone {
		ip, err := netip.ParseAddr(spec.ClusterIP)
		if err != nil {
			return bad("spec.clusterIP", err)
		}
		if !serviceCIDR.Contains(ip) {
			return bad("spec.clusterIP", fmt.Errorf("%s is not in the service CIDR %s", ip, serviceCIDR))
		}
		spec.ClusterIP = ip.String()
	}
	if len(spec.ClusterIPs) > 0 && spec.ClusterIPs[0] != spec.ClusterIP {
		return bad("spec.clusterIPs", errors.New("clusterIPs[0] must equal clusterIP"))
	}
	for i, s := range spec.ExternalIPs {
		if _, err := netip.ParseAddr(s); err != nil {
			return bad(fmt.Sprintf("spec.externalIPs[%d]", i), err)
		}
	}
	family := v1.IPv4Protocol
	if serviceCIDR.Addr().Is6() {
		family = v1.IPv6Protocol
	}
	if len(spec.IPFamilies) == 0 {
		spec.IPFamilies = []v1.IPFamily{family}
	} else if len(spec.IPFamilies) > 1 || spec.IPFamilies[0] != family {
		return bad("spec.ipFamilies", fmt.Errorf("this node is single-stack %s", family))
	}
	if spec.IPFamilyPolicy == nil {
		p := v1.IPFamilyPolicySingleStack
		spec.IPFamilyPolicy = &p
	}
	return nil
}
