package proxy_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/proxy"
	"github.com/nodekit/nodekit/proxy/proxytest"
)

func validService() *v1.Service {
	return makeService("ns", "svc", func(s *v1.Service) {
		s.Spec.Type = v1.ServiceTypeLoadBalancer
		s.Spec.ClusterIP = "172.30.0.10"
		s.Spec.Ports = []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP, NodePort: 30100}}
		s.Spec.ExternalIPs = []string{"192.168.99.10"}
		s.Spec.LoadBalancerSourceRanges = []string{"203.0.113.0/25"}
		s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "1.2.3.4"}}
	})
}

func validSlice() *discovery.EndpointSlice {
	return makeSlice("ns", "svc", 1, func(s *discovery.EndpointSlice) {
		s.Endpoints = []discovery.Endpoint{ep("10.180.0.1", testNodeName)}
		s.Ports = tcpPort("http", 8080)
	})
}

// controlObjects is a valid service that must come out unharmed next to
// any invalid one.
func controlObjects() ([]*v1.Service, []*discovery.EndpointSlice) {
	svc := makeService("control", "ok", func(s *v1.Service) {
		s.Spec.ClusterIP = "172.30.9.9"
		s.Spec.Ports = []v1.ServicePort{{Name: "p", Port: 9, Protocol: v1.ProtocolTCP}}
	})
	sl := makeSlice("control", "ok", 1, func(s *discovery.EndpointSlice) {
		s.Endpoints = []discovery.Endpoint{ep("10.180.9.9", "")}
		s.Ports = tcpPort("p", 9)
	})
	return []*v1.Service{svc}, []*discovery.EndpointSlice{sl}
}

func TestInvalidObjects(t *testing.T) {
	for _, tc := range []struct {
		name      string
		svc       func(*v1.Service)
		slice     func(*discovery.EndpointSlice)
		kind      string
		field     string
		noRuleFor string // text that must not appear in the payload
	}{
		{name: "bad cluster IP", svc: func(s *v1.Service) { s.Spec.ClusterIP = "172.30.0.300" }, kind: "Service", field: "spec.clusterIP"},
		{name: "cluster IP with leading zeros", svc: func(s *v1.Service) { s.Spec.ClusterIP = "172.030.0.1" }, kind: "Service", field: "spec.clusterIP"},
		{name: "bad external IP", svc: func(s *v1.Service) { s.Spec.ExternalIPs = []string{"1.2.3.4 -j ACCEPT"} }, kind: "Service", field: "spec.externalIPs[0]"},
		{name: "bad LB ingress", svc: func(s *v1.Service) { s.Status.LoadBalancer.Ingress[0].IP = "1.2.3.4\n-A INPUT -j ACCEPT" }, kind: "Service", field: "status.loadBalancer.ingress[0].ip"},
		{name: "bad source range", svc: func(s *v1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"0.0.0.0/0\" -j ACCEPT \""} }, kind: "Service", field: "spec.loadBalancerSourceRanges[0]"},
		{name: "port out of range", svc: func(s *v1.Service) { s.Spec.Ports[0].Port = 70000 }, kind: "Service", field: "spec.ports[0].port"},
		{name: "node port out of range", svc: func(s *v1.Service) { s.Spec.Ports[0].NodePort = -1 }, kind: "Service", field: "spec.ports[0].nodePort"},
		{name: "name with space", svc: func(s *v1.Service) { s.Name = "svc x" }, kind: "Service", field: "metadata.name", noRuleFor: "svc x"},
		{name: "namespace with quote", svc: func(s *v1.Service) { s.Namespace = `ns"` }, kind: "Service", field: "metadata.namespace", noRuleFor: `ns"`},
		{name: "port name with newline", svc: func(s *v1.Service) { s.Spec.Ports[0].Name = "http\n-A" }, kind: "Service", field: "spec.ports[0].name"},
		{name: "missing port name", svc: func(s *v1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, v1.ServicePort{Port: 81, Protocol: v1.ProtocolTCP})
		}, kind: "Service", field: "spec.ports[1].name"},
		{name: "duplicate port name", svc: func(s *v1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, v1.ServicePort{Name: "http", Port: 81, Protocol: v1.ProtocolUDP})
		}, kind: "Service", field: "spec.ports[1].name"},
		{name: "bad protocol", svc: func(s *v1.Service) { s.Spec.Ports[0].Protocol = "ICMP" }, kind: "Service", field: "spec.ports[0].protocol"},
		{name: "bad affinity timeout", svc: func(s *v1.Service) {
			s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](0)}}
		}, kind: "Service", field: "spec.sessionAffinityConfig.clientIP.timeoutSeconds"},
		{name: "bad endpoint address", slice: func(s *discovery.EndpointSlice) { s.Endpoints[0].Addresses = []string{"10.180.0.1 -j ACCEPT"} }, kind: "EndpointSlice", field: "endpoints[0].addresses[0]", noRuleFor: "10.180.0.1"},
		{name: "IPv6 address in IPv4 slice", slice: func(s *discovery.EndpointSlice) { s.Endpoints[0].Addresses = []string{"fd00::1"} }, kind: "EndpointSlice", field: "endpoints[0].addresses[0]", noRuleFor: "fd00::1"},
		{name: "slice port out of range", slice: func(s *discovery.EndpointSlice) { s.Ports[0].Port = ptr.To[int32](65536) }, kind: "EndpointSlice", field: "ports[0].port", noRuleFor: "10.180.0.1"},
		{name: "slice port name with quote", slice: func(s *discovery.EndpointSlice) { s.Ports[0].Name = ptr.To(`http"`) }, kind: "EndpointSlice", field: "ports[0].name", noRuleFor: "10.180.0.1"},
		{name: "slice without service label", slice: func(s *discovery.EndpointSlice) { delete(s.Labels, discovery.LabelServiceName) }, kind: "EndpointSlice", field: "metadata.labels[kubernetes.io/service-name]", noRuleFor: "10.180.0.1"},
		{name: "slice service label with space", slice: func(s *discovery.EndpointSlice) { s.Labels[discovery.LabelServiceName] = "svc x" }, kind: "EndpointSlice", field: "metadata.labels[kubernetes.io/service-name]", noRuleFor: "10.180.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, sl := validService(), validSlice()
			if tc.svc != nil {
				tc.svc(svc)
			}
			if tc.slice != nil {
				tc.slice(sl)
			}
			cs, csl := controlObjects()
			p := newProxier(t, archetypeOptions())
			err := p.SetState(append(cs, svc), append(csl, sl))
			var oe *proxy.ObjectError
			if !errors.As(err, &oe) || !errors.Is(err, proxy.ErrInvalidObject) {
				t.Fatalf("SetState error = %v, want an *ObjectError", err)
			}
			if oe.Kind != tc.kind || oe.Field != tc.field {
				t.Errorf("error names %s field %q, want %s field %q (%v)", oe.Kind, oe.Field, tc.kind, tc.field, oe)
			}
			if errs := p.Errors(); len(errs) != 1 || errs[0].Error() != oe.Error() {
				t.Errorf("Errors() = %v", errs)
			}
			payload := fullPayload(t, p)
			if tc.noRuleFor != "" && strings.Contains(payload, tc.noRuleFor) {
				t.Errorf("payload mentions %q:\n%s", tc.noRuleFor, payload)
			}
			if tc.kind == "Service" && strings.Contains(payload, "ns/svc") {
				t.Errorf("payload holds rules of the invalid service:\n%s", payload)
			}
			if !strings.Contains(payload, "control/ok:p cluster IP") {
				t.Errorf("the valid service lost its rules:\n%s", payload)
			}
			k := newKernel(t, proxytest.IPv4)
			if err := k.Restore(context.Background(), []byte(payload)); err != nil {
				t.Fatalf("payload does not restore: %v", err)
			}
		})
	}
}

// TestInvalidUpdateRemovesRules checks that a service turning invalid is
// removed from the kernel (never half-applied) and comes back when fixed.
func TestInvalidUpdateRemovesRules(t *testing.T) {
	ctx := context.Background()
	p := newProxier(t, archetypeOptions())
	_ = p.SetState([]*v1.Service{validService()}, []*discovery.EndpointSlice{validSlice()})
	k := newKernel(t, proxytest.IPv4)
	if _, err := p.SyncTo(ctx, k, false); err != nil {
		t.Fatal(err)
	}
	bad := validService()
	bad.Spec.ExternalIPs = []string{"not-an-ip"}
	p.OnServiceUpdate(validService(), bad)
	if _, err := p.SyncTo(ctx, k, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(k.Dump(), "ns/svc") {
		t.Errorf("invalid service still has rules:\n%s", k.Dump())
	}
	if len(p.Errors()) != 1 {
		t.Errorf("Errors() = %v", p.Errors())
	}
	p.OnServiceUpdate(bad, validService())
	if _, err := p.SyncTo(ctx, k, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(k.Dump(), "ns/svc:http cluster IP") || len(p.Errors()) != 0 {
		t.Errorf("fixed service not back: errors %v\n%s", p.Errors(), k.Dump())
	}
}

// TestSkippedServices checks the services kube-proxy ignores without error.
func TestSkippedServices(t *testing.T) {
	for name, mutate := range map[string]func(*v1.Service){
		"headless":     func(s *v1.Service) { s.Spec.ClusterIP = v1.ClusterIPNone },
		"externalname": func(s *v1.Service) { s.Spec.Type = v1.ServiceTypeExternalName },
		"other proxy":  func(s *v1.Service) { s.Labels = map[string]string{proxy.LabelServiceProxyName: "other"} },
		"other family": func(s *v1.Service) { s.Spec.ClusterIP = "fd00::10" },
	} {
		t.Run(name, func(t *testing.T) {
			svc := validService()
			mutate(svc)
			p := newProxier(t, archetypeOptions())
			if err := p.SetState([]*v1.Service{svc}, []*discovery.EndpointSlice{validSlice()}); err != nil {
				t.Fatalf("SetState: %v", err)
			}
			if payload := fullPayload(t, p); strings.Contains(payload, "ns/svc") {
				t.Errorf("skipped service has rules:\n%s", payload)
			}
		})
	}
}

// TestServiceWithoutSelector checks that hand-made slices work for a
// service without a selector.
func TestServiceWithoutSelector(t *testing.T) {
	svc := makeService("ns", "manual", func(s *v1.Service) {
		s.Spec.ClusterIP = "172.30.0.20"
		s.Spec.Ports = []v1.ServicePort{{Port: 5432, Protocol: v1.ProtocolTCP}}
	})
	sl := makeSlice("ns", "manual-hand-made", 0, func(s *discovery.EndpointSlice) {
		s.Labels[discovery.LabelServiceName] = "manual"
		s.Endpoints = []discovery.Endpoint{{Addresses: []string{"192.168.50.5"}}}
		s.Ports = []discovery.EndpointPort{{Name: ptr.To(""), Port: ptr.To[int32](5432)}}
	})
	p := newProxier(t, archetypeOptions())
	if err := p.SetState([]*v1.Service{svc}, []*discovery.EndpointSlice{sl}); err != nil {
		t.Fatal(err)
	}
	payload := fullPayload(t, p)
	if !strings.Contains(payload, "-j DNAT --to-destination 192.168.50.5:5432") {
		t.Errorf("no DNAT to the hand-made endpoint:\n%s", payload)
	}
}

// FuzzHostileStrings feeds attacker-controlled strings into every string
// field that could reach a rule. The payload must always parse and
// restore, and an object reported invalid must leave the payload exactly
// as without it.
func FuzzHostileStrings(f *testing.F) {
	f.Add("ns", "svc", "http", "172.30.0.10", "192.168.99.10", "203.0.113.0/25", "1.2.3.4", "svc-1", "10.180.0.1", "test-node", "zone-a")
	f.Add("ns", "svc x", "http", "172.30.0.10", "1.2.3.4 -j ACCEPT", " 10.0.0.0/8", "", "svc-1", "10.180.0.1", "n", "z")
	f.Add(`n"s`, "svc", "h\nttp", "::1", "1.2.3.4", "0.0.0.0/0", "1.2.3.4\n", "s", "10.180.0.1\n-A INPUT -j ACCEPT", "node\"", "zone a")
	f.Add("ns", "svc", "", "172.30.0.10", "", "", "", "s", "", "", "")
	f.Add("ns", "svc", "#x", "010.1.1.1", "fe80::1%eth0", "1.2.3.4/33", "::ffff:1.2.3.4", "UPPER", "10.180.0.1", "test-node", "")
	f.Fuzz(func(t *testing.T, ns, name, portName, clusterIP, externalIP, sourceRange, lbIP, sliceName, address, nodeName, zone string) {
		svc := makeService(ns, name, func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeLoadBalancer
			s.Spec.ClusterIP = clusterIP
			s.Spec.Ports = []v1.ServicePort{{Name: portName, Port: 80, Protocol: v1.ProtocolTCP, NodePort: 30100}}
			if externalIP != "" {
				s.Spec.ExternalIPs = []string{externalIP}
			}
			if sourceRange != "" {
				s.Spec.LoadBalancerSourceRanges = []string{sourceRange}
			}
			s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: lbIP}}
			s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
			s.Spec.HealthCheckNodePort = 30200
		})
		sl := makeSlice(ns, name, 0, func(s *discovery.EndpointSlice) {
			s.Name = sliceName
			s.Endpoints = []discovery.Endpoint{{Addresses: []string{address}, NodeName: ptr.To(nodeName),
				Hints: &discovery.EndpointHints{ForZones: []discovery.ForZone{{Name: zone}}}}}
			s.Ports = []discovery.EndpointPort{{Name: ptr.To(portName), Port: ptr.To[int32](8080), Protocol: ptr.To(v1.ProtocolTCP)}}
		})
		cs, csl := controlObjects()
		control := newProxier(t, archetypeOptions())
		_ = control.SetState(cs, csl)
		controlPayload := fullPayload(t, control)

		p := newProxier(t, archetypeOptions())
		err := p.SetState(append(cs, svc), append(csl, sl))
		payload := fullPayload(t, p)
		if _, perr := proxytest.ParsePayload([]byte(payload)); perr != nil {
			t.Fatalf("payload does not parse: %v\n%s", perr, payload)
		}
		k := newKernel(t, proxytest.IPv4)
		if rerr := k.Restore(context.Background(), []byte(payload)); rerr != nil {
			t.Fatalf("payload does not restore: %v\n%s", rerr, payload)
		}
		for _, e := range p.Errors() {
			var oe *proxy.ObjectError
			if !errors.As(e, &oe) {
				t.Fatalf("error %v is not an *ObjectError", e)
			}
			if oe.Kind == "Service" && payload != controlPayload {
				t.Fatalf("invalid service %v changed the payload:\n%s", e, payload)
			}
		}
		if err == nil && !strings.Contains(payload, "control/ok:p cluster IP") {
			t.Fatalf("control service missing")
		}
		// Whatever was accepted, no line may hold a raw newline fragment or
		// an unbalanced quote: ParsePayload above would have failed.
	})
}

// TestDuplicateEndpointsAcrossSlices checks kube-proxy's merging: an
// address in two slices (a pod IP reused while the old pod terminates)
// counts once, and the non-terminating copy wins whatever the slice order.
func TestDuplicateEndpointsAcrossSlices(t *testing.T) {
	svc := makeService("ns", "dup", func(s *v1.Service) {
		s.Spec.ClusterIP = "172.30.0.30"
		s.Spec.Ports = []v1.ServicePort{{Name: "p", Port: 80, Protocol: v1.ProtocolTCP}}
	})
	terminatingCopy := func(n int) *discovery.EndpointSlice {
		return makeSlice("ns", "dup", n, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{ep("10.1.1.1", "", terminating(true))}
			s.Ports = tcpPort("p", 80)
		})
	}
	readyCopy := func(n int) *discovery.EndpointSlice {
		return makeSlice("ns", "dup", n, func(s *discovery.EndpointSlice) {
			s.Endpoints = []discovery.Endpoint{ep("10.1.1.1", ""), ep("10.1.1.2", "")}
			s.Ports = tcpPort("p", 80)
		})
	}
	for name, slices := range map[string][]*discovery.EndpointSlice{
		"terminating first": {terminatingCopy(1), readyCopy(2)},
		"terminating last":  {readyCopy(1), terminatingCopy(2)},
	} {
		t.Run(name, func(t *testing.T) {
			p := newProxier(t, archetypeOptions())
			if err := p.SetState([]*v1.Service{svc}, slices); err != nil {
				t.Fatal(err)
			}
			payload := fullPayload(t, p)
			for _, want := range []string{
				`-m comment --comment "ns/dup:p -> 10.1.1.1:80" -m statistic --mode random --probability 0.5000000000`,
				`-m comment --comment "ns/dup:p -> 10.1.1.2:80" -j`,
			} {
				if !strings.Contains(payload, want) {
					t.Errorf("payload lacks %q:\n%s", want, payload)
				}
			}
			if n := strings.Count(payload, "--to-destination 10.1.1.1:80"); n != 1 {
				t.Errorf("10.1.1.1 has %d endpoint chains, want 1", n)
			}
		})
	}
}
