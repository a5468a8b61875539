package proxy_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/proxy"
	"github.com/nodekit/nodekit/proxy/proxytest"
)

// flow is one packet traced through the rules and its expected fate, in
// the format of outcomes().
type flow struct {
	name   string
	src    string
	dst    string
	proto  string // default tcp
	port   uint16
	output bool     // OUTPUT hook (locally generated) instead of PREROUTING
	in     string   // input interface of a PREROUTING packet (default eth0)
	recent []string // existing "recent" lists (session affinity)
	want   string
}

// outcomes renders a trace as "p VERDICT [dnat] [masq]" joined by "; ".
func outcomes(res *proxytest.TraceResult) string {
	var parts []string
	for _, o := range res.Outcomes {
		s := fmt.Sprintf("%.2f %s", o.Probability, o.Verdict)
		if o.DNAT.IsValid() {
			s += " " + o.DNAT.String()
		}
		if o.Masquerade {
			s += " masq"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

var testNodeIPs = []netip.Addr{netip.MustParseAddr(testNodeIP)}

func runFlows(t *testing.T, k *proxytest.FakeKernel, localAddrs []netip.Addr, flows []flow) {
	t.Helper()
	for _, f := range flows {
		t.Run(f.name, func(t *testing.T) {
			pkt := proxytest.Packet{
				Src: netip.MustParseAddr(f.src), Dst: netip.MustParseAddr(f.dst),
				Proto: f.proto, SrcPort: 40000, DstPort: f.port,
				Hook: "PREROUTING", InInterface: "eth0", OutInterface: "eth1",
				LocalAddrs: localAddrs, Recent: f.recent,
			}
			if pkt.Proto == "" {
				pkt.Proto = "tcp"
			}
			if f.in != "" {
				pkt.InInterface = f.in
			}
			if f.output {
				pkt.Hook = "OUTPUT"
				pkt.InInterface = ""
			}
			res, err := k.Trace(pkt)
			if err != nil {
				t.Fatalf("Trace: %v", err)
			}
			if got := outcomes(res); got != f.want {
				t.Errorf("%s %s -> %s:%d (%s):\n got: %s\nwant: %s\ntrace:\n%s", f.proto, f.src, f.dst, f.port, pkt.Hook, got, f.want, res)
			}
		})
	}
}

func archetypeOptions() proxy.Options {
	return proxy.Options{
		NodeName:    testNodeName,
		NodeZone:    "zone-a",
		NodeIPs:     testNodeIPs,
		ClusterCIDR: netip.MustParsePrefix("10.0.0.0/8"),
	}
}

func ep(ip string, node string, mutate ...func(*discovery.Endpoint)) discovery.Endpoint {
	e := discovery.Endpoint{Addresses: []string{ip}}
	if node != "" {
		e.NodeName = ptr.To(node)
	}
	for _, m := range mutate {
		m(&e)
	}
	return e
}

func terminating(serving bool) func(*discovery.Endpoint) {
	return func(e *discovery.Endpoint) {
		e.Conditions = discovery.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(serving), Terminating: ptr.To(true)}
	}
}

func zone(z string) func(*discovery.Endpoint) {
	return func(e *discovery.Endpoint) {
		e.Hints = &discovery.EndpointHints{ForZones: []discovery.ForZone{{Name: z}}}
	}
}

type archetype struct {
	name     string
	local    []netip.Addr // the node's addresses for the tracer (default testNodeIPs)
	opts     func(*proxy.Options)
	family   proxytest.Family
	services []*v1.Service
	slices   []*discovery.EndpointSlice
	flows    []flow
}

const (
	pod      = "10.0.0.2"
	external = testExternalClient
)

func archetypes() []archetype {
	// The endpoint chain of ns3/fw:p80 -> 10.180.2.1:80, whose "recent"
	// list records ClientIP affinity.
	affinityChain := proxy.EndpointChainName(proxy.ServicePortName{
		NamespacedName: types.NamespacedName{Namespace: "ns3", Name: "fw"}, Port: "p80", Protocol: v1.ProtocolTCP,
	}, "10.180.2.1:80")
	return []archetype{{
		name: "clusterip",
		services: []*v1.Service{makeService("ns1", "web", func(s *v1.Service) {
			s.Spec.ClusterIP = "172.30.0.41"
			s.Spec.Ports = []v1.ServicePort{
				{Name: "http", Port: 80, Protocol: v1.ProtocolTCP, TargetPort: intstr.FromString("http")},
				{Name: "dns", Port: 53, Protocol: v1.ProtocolUDP},
				{Name: "sctp", Port: 53, Protocol: v1.ProtocolSCTP},
			}
		})},
		slices: []*discovery.EndpointSlice{makeSlice("ns1", "web", 1, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{ep("10.180.0.1", testNodeName), ep("10.180.2.1", "node2")}
			// The named target port "http" was resolved to 8080 by the
			// EndpointSlice controller.
			s.Ports = []discovery.EndpointPort{
				{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(v1.ProtocolTCP)},
				{Name: ptr.To("dns"), Port: ptr.To[int32](5353), Protocol: ptr.To(v1.ProtocolUDP)},
				{Name: ptr.To("sctp"), Port: ptr.To[int32](53), Protocol: ptr.To(v1.ProtocolSCTP)},
			}
		})},
		flows: []flow{
			{name: "pod to cluster IP", src: pod, dst: "172.30.0.41", port: 80, want: "0.50 ACCEPT 10.180.0.1:8080; 0.50 ACCEPT 10.180.2.1:8080"},
			{name: "hairpin", src: "10.180.0.1", dst: "172.30.0.41", port: 80, want: "0.50 ACCEPT 10.180.0.1:8080 masq; 0.50 ACCEPT 10.180.2.1:8080"},
			{name: "off-cluster to cluster IP", src: external, dst: "172.30.0.41", port: 80, want: "0.50 ACCEPT 10.180.0.1:8080 masq; 0.50 ACCEPT 10.180.2.1:8080 masq"},
			{name: "udp", src: pod, dst: "172.30.0.41", proto: "udp", port: 53, want: "0.50 ACCEPT 10.180.0.1:5353; 0.50 ACCEPT 10.180.2.1:5353"},
			{name: "sctp", src: pod, dst: "172.30.0.41", proto: "sctp", port: 53, want: "0.50 ACCEPT 10.180.0.1:53; 0.50 ACCEPT 10.180.2.1:53"},
			{name: "tcp on the udp port", src: pod, dst: "172.30.0.41", port: 53, want: "1.00 ACCEPT"},
			{name: "host to cluster IP", src: testNodeIP, dst: "172.30.0.41", port: 80, output: true, want: "0.50 ACCEPT 10.180.0.1:8080 masq; 0.50 ACCEPT 10.180.2.1:8080 masq"},
		},
	}, {
		name: "nodeport",
		services: []*v1.Service{makeService("ns1", "np", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeNodePort
			s.Spec.ClusterIP = "172.30.0.42"
			s.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP, NodePort: 30080}}
		})},
		slices: []*discovery.EndpointSlice{makeSlice("ns1", "np", 1, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{ep("10.180.2.1", "node2")}
			s.Ports = tcpPort("p80", 80)
		})},
		flows: []flow{
			{name: "external to node port", src: external, dst: testNodeIP, port: 30080, want: "1.00 ACCEPT 10.180.2.1:80 masq"},
			{name: "pod to node port", src: pod, dst: testNodeIP, port: 30080, want: "1.00 ACCEPT 10.180.2.1:80 masq"},
			{name: "host to own node port", src: testNodeIP, dst: testNodeIP, port: 30080, output: true, want: "1.00 ACCEPT 10.180.2.1:80 masq"},
			{name: "localhost node port is off", src: "127.0.0.1", dst: "127.0.0.1", port: 30080, output: true, want: "1.00 ACCEPT"},
			{name: "node port on a non-local address", src: external, dst: "192.168.0.9", port: 30080, want: "1.00 ACCEPT"},
			{name: "cluster IP", src: pod, dst: "172.30.0.42", port: 80, want: "1.00 ACCEPT 10.180.2.1:80"},
		},
	}, {
		name: "loadbalancer-local",
		services: []*v1.Service{makeService("ns2", "lb", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeLoadBalancer
			s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
			s.Spec.ClusterIP = "172.30.0.43"
			s.Spec.ExternalIPs = []string{"192.168.99.11"}
			s.Spec.HealthCheckNodePort = 30000
			s.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP, NodePort: 30081}}
			s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "1.2.3.4"}}
		})},
		slices: []*discovery.EndpointSlice{makeSlice("ns2", "lb", 1, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{ep("10.180.0.1", testNodeName), ep("10.180.2.1", "node2")}
			s.Ports = tcpPort("p80", 80)
		})},
		flows: []flow{
			{name: "external to LB keeps source, local endpoint only", src: external, dst: "1.2.3.4", port: 80, want: "1.00 ACCEPT 10.180.0.1:80"},
			{name: "external to external IP", src: external, dst: "192.168.99.11", port: 80, want: "1.00 ACCEPT 10.180.0.1:80"},
			{name: "external to node port", src: external, dst: testNodeIP, port: 30081, want: "1.00 ACCEPT 10.180.0.1:80"},
			{name: "pod to LB short-circuits to all endpoints", src: pod, dst: "1.2.3.4", port: 80, want: "0.50 ACCEPT 10.180.0.1:80; 0.50 ACCEPT 10.180.2.1:80"},
			{name: "host to LB is masqueraded", src: testNodeIP, dst: "1.2.3.4", port: 80, output: true, want: "0.50 ACCEPT 10.180.0.1:80 masq; 0.50 ACCEPT 10.180.2.1:80 masq"},
			{name: "health check node port", src: external, dst: testNodeIP, port: 30000, want: "1.00 ACCEPT"},
			{name: "cluster IP uses all endpoints", src: pod, dst: "172.30.0.43", port: 80, want: "0.50 ACCEPT 10.180.0.1:80; 0.50 ACCEPT 10.180.2.1:80"},
		},
	}, {
		name: "loadbalancer-local-no-local-endpoints",
		services: []*v1.Service{makeService("ns2", "lb", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeLoadBalancer
			s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
			s.Spec.ClusterIP = "172.30.0.43"
			s.Spec.ExternalIPs = []string{"192.168.99.11"}
			s.Spec.HealthCheckNodePort = 30000
			s.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP, NodePort: 30081}}
			s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "1.2.3.4"}}
		})},
		slices: []*discovery.EndpointSlice{makeSlice("ns2", "lb", 1, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{ep("10.180.2.1", "node2")}
			s.Ports = tcpPort("p80", 80)
		})},
		flows: []flow{
			{name: "external to LB dropped", src: external, dst: "1.2.3.4", port: 80, want: "1.00 DROP"},
			{name: "external to node port dropped", src: external, dst: testNodeIP, port: 30081, want: "1.00 DROP"},
			{name: "external to external IP dropped", src: external, dst: "192.168.99.11", port: 80, want: "1.00 DROP"},
			{name: "pod to LB still works", src: pod, dst: "1.2.3.4", port: 80, want: "1.00 ACCEPT 10.180.2.1:80"},
			{name: "health check node port", src: external, dst: testNodeIP, port: 30000, want: "1.00 ACCEPT"},
		},
	}, {
		name: "sourceranges-affinity",
		services: []*v1.Service{makeService("ns3", "fw", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeLoadBalancer
			s.Spec.ClusterIP = "172.30.0.44"
			s.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP, NodePort: 30082}}
			s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "5.6.7.8"}}
			s.Spec.LoadBalancerSourceRanges = []string{"203.0.113.0/25", "192.168.0.0/24"}
			s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](300)}}
		})},
		slices: []*discovery.EndpointSlice{makeSlice("ns3", "fw", 1, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{ep("10.180.0.1", testNodeName), ep("10.180.2.1", "node2")}
			s.Ports = tcpPort("p80", 80)
		})},
		flows: []flow{
			{name: "allowed client", src: external, dst: "5.6.7.8", port: 80, want: "0.50 ACCEPT 10.180.0.1:80 masq; 0.50 ACCEPT 10.180.2.1:80 masq"},
			{name: "blocked client", src: testExternalClientBlocked, dst: "5.6.7.8", port: 80, want: "1.00 DROP"},
			{name: "node ports bypass source ranges", src: testExternalClientBlocked, dst: testNodeIP, port: 30082, want: "0.50 ACCEPT 10.180.0.1:80 masq; 0.50 ACCEPT 10.180.2.1:80 masq"},
			{name: "existing affinity", src: external, dst: "5.6.7.8", port: 80, recent: []string{affinityChain}, want: "1.00 ACCEPT 10.180.2.1:80 masq"},
			{name: "cluster IP affinity", src: pod, dst: "172.30.0.44", port: 80, recent: []string{affinityChain}, want: "1.00 ACCEPT 10.180.2.1:80"},
		},
	}, {
		name: "no-endpoints",
		services: []*v1.Service{makeService("ns4", "empty", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeLoadBalancer
			s.Spec.ClusterIP = "172.30.0.45"
			s.Spec.ExternalIPs = []string{"192.168.99.12"}
			s.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP, NodePort: 30083}}
			s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "9.10.11.12"}}
		})},
		slices: []*discovery.EndpointSlice{makeSlice("ns4", "empty", 1, func(s *discovery.EndpointSlice) {
			// Neither ready nor serving: unusable.
			s.Endpoints = []discovery.Endpoint{ep("10.180.0.1", testNodeName, terminating(false))}
			s.Ports = tcpPort("p80", 80)
		})},
		flows: []flow{
			{name: "pod to cluster IP", src: pod, dst: "172.30.0.45", port: 80, want: "1.00 REJECT"},
			{name: "external to external IP", src: external, dst: "192.168.99.12", port: 80, want: "1.00 REJECT"},
			{name: "external to node port", src: external, dst: testNodeIP, port: 30083, want: "1.00 REJECT"},
			{name: "external to LB", src: external, dst: "9.10.11.12", port: 80, want: "1.00 REJECT"},
			{name: "host to cluster IP", src: testNodeIP, dst: "172.30.0.45", port: 80, output: true, want: "1.00 REJECT"},
		},
	}, {
		name: "terminating-only",
		services: []*v1.Service{makeService("ns5", "term", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
			s.Spec.ClusterIP = "172.30.0.46"
			s.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP, NodePort: 30084}}
		})},
		slices: []*discovery.EndpointSlice{makeSlice("ns5", "term", 1, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{
				ep("10.180.0.1", testNodeName, terminating(true)),
				ep("10.180.2.1", "node2", terminating(true)),
				ep("10.180.2.2", "node2", terminating(false)),
			}
			s.Ports = tcpPort("p80", 80)
		})},
		flows: []flow{
			{name: "cluster IP falls back to serving terminating endpoints", src: pod, dst: "172.30.0.46", port: 80, want: "0.50 ACCEPT 10.180.0.1:80; 0.50 ACCEPT 10.180.2.1:80"},
			{name: "external to node port uses the local terminating endpoint", src: external, dst: testNodeIP, port: 30084, want: "1.00 ACCEPT 10.180.0.1:80"},
		},
	}, {
		name: "zone-hints",
		services: []*v1.Service{makeService("ns6", "zoned", func(s *v1.Service) {
			s.Spec.ClusterIP = "172.30.0.47"
			s.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP}}
		})},
		slices: []*discovery.EndpointSlice{makeSlice("ns6", "zoned", 1, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{
				ep("10.180.1.1", "node-a2", zone("zone-a")),
				ep("10.180.2.1", "node-b1", zone("zone-b")),
				ep("10.180.2.2", "node-b2", zone("zone-b")),
			}
			s.Ports = tcpPort("p80", 80)
		})},
		flows: []flow{
			{name: "same zone only", src: pod, dst: "172.30.0.47", port: 80, want: "1.00 ACCEPT 10.180.1.1:80"},
		},
	}, {
		name: "node-hints",
		services: []*v1.Service{makeService("ns6", "samenode", func(s *v1.Service) {
			s.Spec.ClusterIP = "172.30.0.48"
			s.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP}}
		})},
		slices: []*discovery.EndpointSlice{makeSlice("ns6", "samenode", 1, func(s *discovery.EndpointSlice) {
			forNode := func(n string) func(*discovery.Endpoint) {
				return func(e *discovery.Endpoint) {
					e.Hints = &discovery.EndpointHints{ForZones: []discovery.ForZone{{Name: "zone-a"}}, ForNodes: []discovery.ForNode{{Name: n}}}
				}
			}
			s.Endpoints = []discovery.Endpoint{
				ep("10.180.0.1", testNodeName, forNode(testNodeName)),
				ep("10.180.1.1", "node-a2", forNode("node-a2")),
			}
			s.Ports = tcpPort("p80", 80)
		})},
		flows: []flow{
			{name: "same node only", src: pod, dst: "172.30.0.48", port: 80, want: "1.00 ACCEPT 10.180.0.1:80"},
		},
	}, {
		name: "internal-local",
		services: []*v1.Service{
			makeService("ns7", "itp", func(s *v1.Service) {
				s.Spec.ClusterIP = "172.30.0.49"
				s.Spec.InternalTrafficPolicy = ptr.To(v1.ServiceInternalTrafficPolicyLocal)
				s.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP}}
			}),
			makeService("ns7", "itp-remote", func(s *v1.Service) {
				s.Spec.ClusterIP = "172.30.0.50"
				s.Spec.InternalTrafficPolicy = ptr.To(v1.ServiceInternalTrafficPolicyLocal)
				s.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP}}
			}),
		},
		slices: []*discovery.EndpointSlice{
			makeSlice("ns7", "itp", 1, func(s *discovery.EndpointSlice) {
				s.Endpoints = []discovery.Endpoint{ep("10.180.0.1", testNodeName), ep("10.180.2.1", "node2")}
				s.Ports = tcpPort("p80", 80)
			}),
			makeSlice("ns7", "itp-remote", 1, func(s *discovery.EndpointSlice) {
				s.Endpoints = []discovery.Endpoint{ep("10.180.2.1", "node2")}
				s.Ports = tcpPort("p80", 80)
			}),
		},
		flows: []flow{
			{name: "local endpoint only", src: pod, dst: "172.30.0.49", port: 80, want: "1.00 ACCEPT 10.180.0.1:80"},
			{name: "no local endpoint drops", src: pod, dst: "172.30.0.50", port: 80, want: "1.00 DROP"},
		},
	}, {
		name: "masquerade-all-random-fully",
		opts: func(o *proxy.Options) {
			o.MasqueradeAll = true
			o.RandomFully = true
			o.MasqueradeBit = ptr.To(5)
		},
		services: []*v1.Service{makeService("ns8", "all", func(s *v1.Service) {
			s.Spec.ClusterIP = "172.30.0.51"
			s.Spec.Ports = []v1.ServicePort{{Port: 80, Protocol: v1.ProtocolTCP}}
		})},
		slices: []*discovery.EndpointSlice{makeSlice("ns8", "all", 1, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{ep("10.180.2.1", "node2")}
			s.Ports = tcpPort("", 80)
		})},
		flows: []flow{
			{name: "pod traffic masqueraded too", src: pod, dst: "172.30.0.51", port: 80, want: "1.00 ACCEPT 10.180.2.1:80 masq"},
		},
	}, {
		name: "interface-prefix-local-detection",
		opts: func(o *proxy.Options) {
			o.ClusterCIDR = netip.Prefix{}
			o.PodInterfacePrefix = "veth"
		},
		services: []*v1.Service{makeService("ns10", "ifp", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeLoadBalancer
			s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
			s.Spec.ClusterIP = "172.30.0.53"
			s.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP, NodePort: 30086}}
			s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "1.2.3.5"}}
		})},
		slices: []*discovery.EndpointSlice{makeSlice("ns10", "ifp", 1, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{ep("10.180.2.1", "node2")}
			s.Ports = tcpPort("p80", 80)
		})},
		flows: []flow{
			{name: "pod (veth) to cluster IP", src: pod, dst: "172.30.0.53", port: 80, in: "veth1234", want: "1.00 ACCEPT 10.180.2.1:80"},
			{name: "off-node to cluster IP is masqueraded", src: external, dst: "172.30.0.53", port: 80, in: "eth0", want: "1.00 ACCEPT 10.180.2.1:80 masq"},
			{name: "pod (veth) to LB short-circuits", src: pod, dst: "1.2.3.5", port: 80, in: "veth1234", want: "1.00 ACCEPT 10.180.2.1:80"},
			{name: "external to LB without local endpoint", src: external, dst: "1.2.3.5", port: 80, in: "eth0", want: "1.00 DROP"},
		},
	}, {
		name:  "nodeport-addresses",
		local: []netip.Addr{netip.MustParseAddr(testNodeIP), netip.MustParseAddr("192.168.1.2")},
		opts: func(o *proxy.Options) {
			o.NodeIPs = []netip.Addr{netip.MustParseAddr(testNodeIP), netip.MustParseAddr("192.168.1.2")}
			o.NodePortAddresses = []netip.Prefix{netip.MustParsePrefix("192.168.0.0/24")}
		},
		services: []*v1.Service{makeService("ns11", "npa", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeNodePort
			s.Spec.ClusterIP = "172.30.0.54"
			s.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP, NodePort: 30087}}
		})},
		slices: []*discovery.EndpointSlice{makeSlice("ns11", "npa", 1, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{ep("10.180.2.1", "node2")}
			s.Ports = tcpPort("p80", 80)
		})},
		flows: []flow{
			{name: "node port on an address in the list", src: external, dst: testNodeIP, port: 30087, want: "1.00 ACCEPT 10.180.2.1:80 masq"},
			{name: "node port on a local address outside the list", src: external, dst: "192.168.1.2", port: 30087, want: "1.00 ACCEPT"},
		},
	}, {
		name:   "ipv6",
		family: proxytest.IPv6,
		opts: func(o *proxy.Options) {
			o.IPFamily = v1.IPv6Protocol
			o.ClusterCIDR = netip.MustParsePrefix("fd00:10::/64")
			o.NodeIPs = []netip.Addr{netip.MustParseAddr(testNodeIP), netip.MustParseAddr("2001:db8::1")}
		},
		services: []*v1.Service{makeService("ns9", "dual", func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeNodePort
			s.Spec.ClusterIP = "172.30.0.52"
			s.Spec.ClusterIPs = []string{"172.30.0.52", "fd00:172:30::52"}
			s.Spec.IPFamilies = []v1.IPFamily{v1.IPv4Protocol, v1.IPv6Protocol}
			s.Spec.ExternalIPs = []string{"192.168.99.13", "2001:db8:99::13"}
			s.Spec.Ports = []v1.ServicePort{{Name: "p80", Port: 80, Protocol: v1.ProtocolTCP, NodePort: 30085}}
		})},
		slices: []*discovery.EndpointSlice{
			makeSlice("ns9", "dual", 1, func(s *discovery.EndpointSlice) {
				s.Endpoints = []discovery.Endpoint{ep("10.180.2.1", "node2")}
				s.Ports = tcpPort("p80", 80)
			}),
			makeSlice("ns9", "dual", 2, func(s *discovery.EndpointSlice) {
				s.AddressType = discovery.AddressTypeIPv6
				s.Endpoints = []discovery.Endpoint{ep("fd00:10::1", testNodeName), ep("fd00:20::1", "node2")}
				s.Ports = tcpPort("p80", 80)
			}),
		},
		flows: []flow{
			{name: "pod to cluster IP", src: "fd00:10::2", dst: "fd00:172:30::52", port: 80, want: "0.50 ACCEPT [fd00:10::1]:80; 0.50 ACCEPT [fd00:20::1]:80"},
			{name: "external to external IP", src: "2001:db8:ff::1", dst: "2001:db8:99::13", port: 80, want: "0.50 ACCEPT [fd00:10::1]:80 masq; 0.50 ACCEPT [fd00:20::1]:80 masq"},
		},
	}}
}

// TestArchetypes writes the full payload of each archetypal service to a
// golden file, applies it to a fake kernel, and traces packets through it.
func TestArchetypes(t *testing.T) {
	for _, a := range archetypes() {
		t.Run(a.name, func(t *testing.T) {
			opts := archetypeOptions()
			if a.opts != nil {
				a.opts(&opts)
			}
			p := newProxier(t, opts)
			if err := p.SetState(a.services, a.slices); err != nil {
				t.Fatalf("SetState: %v", err)
			}
			payload := fullPayload(t, p)
			checkGolden(t, "archetypes/"+a.name+".golden", payload)
			k := newKernel(t, a.family)
			if err := k.Restore(context.Background(), []byte(payload)); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			local := testNodeIPs
			if a.local != nil {
				local = a.local
			}
			if a.family == proxytest.IPv6 {
				local = []netip.Addr{netip.MustParseAddr("2001:db8::1")}
			}
			runFlows(t, k, local, a.flows)
		})
	}
}
