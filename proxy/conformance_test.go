package proxy_test

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// overallObjects is the input of kube-proxy's TestOverallIPTablesRules
// (pkg/proxy/iptables/proxier_test.go).
func overallObjects() ([]*v1.Service, []*discovery.EndpointSlice) {
	services := []*v1.Service{
		// ClusterIP service
		makeService("ns1", "svc1", func(svc *v1.Service) {
			svc.Spec.ClusterIP = "172.30.0.41"
			svc.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP}}
		}),
		// LoadBalancer service with Local traffic policy
		makeService("ns2", "svc2", func(svc *v1.Service) {
			svc.Spec.Type = v1.ServiceTypeLoadBalancer
			svc.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
			svc.Spec.ClusterIP = "172.30.0.42"
			svc.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP, NodePort: 3001}}
			svc.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "1.2.3.4"}}
			svc.Spec.ExternalIPs = []string{"192.168.99.22"}
			svc.Spec.HealthCheckNodePort = 30000
		}),
		// NodePort service
		makeService("ns3", "svc3", func(svc *v1.Service) {
			svc.Spec.Type = v1.ServiceTypeNodePort
			svc.Spec.ClusterIP = "172.30.0.43"
			svc.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP, NodePort: 3003}}
		}),
		// ExternalIP service
		makeService("ns4", "svc4", func(svc *v1.Service) {
			svc.Spec.Type = v1.ServiceTypeNodePort
			svc.Spec.ClusterIP = "172.30.0.44"
			svc.Spec.ExternalIPs = []string{"192.168.99.33"}
			svc.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}}
		}),
		// LoadBalancer service with Cluster traffic policy, source ranges and affinity
		makeService("ns5", "svc5", func(svc *v1.Service) {
			svc.Spec.Type = v1.ServiceTypeLoadBalancer
			svc.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyCluster
			svc.Spec.ClusterIP = "172.30.0.45"
			svc.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP, NodePort: 3002}}
			svc.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "5.6.7.8"}}
			svc.Spec.HealthCheckNodePort = 30000
			svc.Spec.LoadBalancerSourceRanges = []string{" 203.0.113.0/25"}
			svc.Spec.SessionAffinity = v1.ServiceAffinityClientIP
			svc.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](10800)}}
		}),
		// ClusterIP service with no endpoints
		makeService("ns6", "svc6", func(svc *v1.Service) {
			svc.Spec.ClusterIP = "172.30.0.46"
			svc.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}}
		}),
	}
	slices := []*discovery.EndpointSlice{
		makeSlice("ns1", "svc1", 1, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{{Addresses: []string{"10.180.0.1"}}}
			s.Ports = tcpPort("p80", 80)
		}),
		// Not local: no NodeName.
		makeSlice("ns2", "svc2", 1, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{{Addresses: []string{"10.180.0.2"}}}
			s.Ports = tcpPort("p80", 80)
		}),
		makeSlice("ns3", "svc3", 1, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{{Addresses: []string{"10.180.0.3"}}}
			s.Ports = tcpPort("p80", 80)
		}),
		makeSlice("ns4", "svc4", 1, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{
				{Addresses: []string{"10.180.0.4"}},
				{Addresses: []string{"10.180.0.5"}, NodeName: ptr.To(testNodeName)},
			}
			s.Ports = tcpPort("p80", 80)
		}),
		makeSlice("ns5", "svc5", 1, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{{Addresses: []string{"10.180.0.3"}}}
			s.Ports = tcpPort("p80", 80)
		}),
	}
	return services, slices
}

// TestKubeProxyOverallRules feeds the objects of kube-proxy's
// TestOverallIPTablesRules and compares the payload byte for byte with the
// expected rules of that test (testdata/kubeproxy/overall.golden, copied
// from kube-proxy, never rewritten by -update).
func TestKubeProxyOverallRules(t *testing.T) {
	services, slices := overallObjects()
	p := newProxier(t, kubeProxyTestOptions())
	if err := p.SetState(services, slices); err != nil {
		t.Fatalf("SetState: %v", err)
	}
	checkGolden(t, "kubeproxy/overall.golden", fullPayload(t, p))
}
