package proxy_test

import (
	"context"
	"fmt"
	"math/rand"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/proxy"
	"github.com/nodekit/nodekit/proxy/proxytest"
)

// newKernel returns a fake kernel holding kube-proxy's jump rules.
func newKernel(t testing.TB, family proxytest.Family) *proxytest.FakeKernel {
	t.Helper()
	k := proxytest.NewFakeKernel(family)
	if err := k.Restore(context.Background(), proxy.JumpRulesPayload()); err != nil {
		t.Fatalf("restoring jump rules: %v", err)
	}
	return k
}

// randomWorld generates random Services and EndpointSlices from a small
// pool of names, so that events collide, move endpoints between slices
// and flip services between types.
type randomWorld struct {
	r        *rand.Rand
	services map[string]*v1.Service
	slices   map[string]*discovery.EndpointSlice
}

var worldNames = []string{"a", "b", "c", "d", "e", "f"}

func (w *randomWorld) service(ns, name string, idx int) *v1.Service {
	r := w.r
	return makeService(ns, name, func(svc *v1.Service) {
		svc.Spec.ClusterIP = fmt.Sprintf("172.30.%d.%d", idx/200, idx%200+1)
		nPorts := 1 + r.Intn(2)
		protos := []v1.Protocol{v1.ProtocolTCP, v1.ProtocolUDP, v1.ProtocolSCTP}
		for i := 0; i < nPorts; i++ {
			p := v1.ServicePort{Name: fmt.Sprintf("p%d", i), Port: int32(80 + i), Protocol: protos[r.Intn(3)]}
			svc.Spec.Ports = append(svc.Spec.Ports, p)
		}
		switch r.Intn(4) {
		case 0:
		case 1:
			svc.Spec.Type = v1.ServiceTypeNodePort
		case 2, 3:
			svc.Spec.Type = v1.ServiceTypeLoadBalancer
			svc.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: fmt.Sprintf("1.2.3.%d", idx%250+1)}}
			if r.Intn(2) == 0 {
				svc.Spec.LoadBalancerSourceRanges = []string{"203.0.113.0/25"}
				if r.Intn(2) == 0 {
					svc.Spec.LoadBalancerSourceRanges = append(svc.Spec.LoadBalancerSourceRanges, "192.168.0.0/24")
				}
			}
		}
		if svc.Spec.Type != v1.ServiceTypeClusterIP {
			for i := range svc.Spec.Ports {
				svc.Spec.Ports[i].NodePort = int32(30000 + idx*4 + i)
			}
			if r.Intn(2) == 0 {
				svc.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
				if svc.Spec.Type == v1.ServiceTypeLoadBalancer {
					svc.Spec.HealthCheckNodePort = int32(32000 + idx)
				}
			}
		}
		if r.Intn(3) == 0 {
			svc.Spec.ExternalIPs = []string{fmt.Sprintf("192.168.99.%d", idx%250+1)}
		}
		if r.Intn(4) == 0 {
			svc.Spec.InternalTrafficPolicy = ptr.To(v1.ServiceInternalTrafficPolicyLocal)
		}
		if r.Intn(3) == 0 {
			svc.Spec.SessionAffinity = v1.ServiceAffinityClientIP
			svc.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](int32(60 + r.Intn(100)))}}
		}
		if r.Intn(5) == 0 {
			svc.Labels = map[string]string{"churn": fmt.Sprint(r.Int())} // no-op for rules
		}
	})
}

func (w *randomWorld) slice(ns, svcName string, n int) *discovery.EndpointSlice {
	r := w.r
	return makeSlice(ns, svcName, n, func(s *discovery.EndpointSlice) {
		nEps := r.Intn(4)
		zoned := r.Intn(2) == 0
		for i := 0; i < nEps; i++ {
			ep := discovery.Endpoint{Addresses: []string{fmt.Sprintf("10.180.%d.%d", r.Intn(3), r.Intn(6)+1)}}
			switch r.Intn(3) {
			case 0:
				ep.NodeName = ptr.To(testNodeName)
			case 1:
				ep.NodeName = ptr.To("other-node")
			}
			switch r.Intn(5) {
			case 0:
				ep.Conditions = discovery.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)}
			case 1:
				ep.Conditions = discovery.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(false), Terminating: ptr.To(true)}
			}
			if zoned {
				zone := []string{"zone-a", "zone-b"}[r.Intn(2)]
				ep.Hints = &discovery.EndpointHints{ForZones: []discovery.ForZone{{Name: zone}}}
			}
			s.Endpoints = append(s.Endpoints, ep)
		}
		for i := 0; i < 2; i++ {
			proto := []v1.Protocol{v1.ProtocolTCP, v1.ProtocolUDP, v1.ProtocolSCTP}[r.Intn(3)]
			s.Ports = append(s.Ports, discovery.EndpointPort{Name: ptr.To(fmt.Sprintf("p%d", i)), Port: ptr.To(int32(8080 + r.Intn(2))), Protocol: ptr.To(proto)})
		}
	})
}

// step applies one random event to p and to the world.
func (w *randomWorld) step(p *proxy.Proxier) {
	w.stepIn(p, fmt.Sprintf("ns%d", w.r.Intn(2)))
}

// stepIn applies one random event in namespace ns. Cluster IPs and node
// ports are derived from the namespace and name so that they never clash.
func (w *randomWorld) stepIn(p *proxy.Proxier, ns string) {
	r := w.r
	idx := r.Intn(len(worldNames))
	name := worldNames[idx]
	key := ns + "/" + name
	idx += len(worldNames) * (int(crc(ns)) % 40)
	switch r.Intn(6) {
	case 0, 1:
		svc := w.service(ns, name, idx)
		if old := w.services[key]; old != nil {
			p.OnServiceUpdate(old, svc)
		} else {
			p.OnServiceAdd(svc)
		}
		w.services[key] = svc
	case 2:
		if old := w.services[key]; old != nil {
			p.OnServiceDelete(old)
			delete(w.services, key)
		}
	case 3, 4:
		s := w.slice(ns, name, r.Intn(2))
		skey := s.Namespace + "/" + s.Name
		if old := w.slices[skey]; old != nil {
			p.OnEndpointSliceUpdate(old, s)
		} else {
			p.OnEndpointSliceAdd(s)
		}
		w.slices[skey] = s
	case 5:
		skey := fmt.Sprintf("%s/%s-%d", ns, name, r.Intn(2))
		if old := w.slices[skey]; old != nil {
			p.OnEndpointSliceDelete(old)
			delete(w.slices, skey)
		}
	}
}

func (w *randomWorld) objects() ([]*v1.Service, []*discovery.EndpointSlice) {
	var svcs []*v1.Service
	for _, s := range w.services {
		svcs = append(svcs, s)
	}
	var slices []*discovery.EndpointSlice
	for _, s := range w.slices {
		slices = append(slices, s)
	}
	return svcs, slices
}

func crc(s string) uint32 {
	var h uint32 = 2166136261
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

func propertyOptions() proxy.Options {
	o := kubeProxyTestOptions()
	o.NFAcct = false // the fake kernel does not know nfacct
	o.NodeZone = "zone-a"
	return o
}

// TestPartialSyncsEqualFullSync is the property test of the issue: for
// random sequences of service and slice events, the fake kernel after the
// partial syncs holds exactly what one full sync of the final objects
// writes into a fresh kernel.
func TestPartialSyncsEqualFullSync(t *testing.T) {
	ctx := context.Background()
	for seed := int64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			w := &randomWorld{r: rand.New(rand.NewSource(seed)), services: map[string]*v1.Service{}, slices: map[string]*discovery.EndpointSlice{}}
			p := newProxier(t, propertyOptions())
			k := newKernel(t, proxytest.IPv4)
			for i := 0; i < 10; i++ {
				w.step(p)
			}
			p.OnServicesSynced()
			p.OnEndpointSlicesSynced()
			if st, err := p.SyncTo(ctx, k, false); err != nil {
				t.Fatalf("first sync: %v", err)
			} else if !st.Full {
				t.Fatalf("first sync was not full")
			}
			partials := 0
			for round := 0; round < 30; round++ {
				for i := 0; i < 1+w.r.Intn(3); i++ {
					w.step(p)
				}
				st, err := p.SyncTo(ctx, k, false)
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				if !st.Full {
					partials++
				}
			}
			if partials == 0 {
				t.Fatalf("no partial sync happened")
			}

			svcs, slices := w.objects()
			fresh := newProxier(t, propertyOptions())
			_ = fresh.SetState(svcs, slices)
			k2 := newKernel(t, proxytest.IPv4)
			if _, err := fresh.SyncTo(ctx, k2, true); err != nil {
				t.Fatalf("full sync of final objects: %v", err)
			}
			if diff := cmp.Diff(k2.Dump(), k.Dump()); diff != "" {
				t.Fatalf("kernel after partial syncs differs from a full sync (-full +partial):\n%s", diff)
			}
			// And a full sync from the incrementally fed proxier changes nothing.
			if _, err := p.SyncTo(ctx, k, true); err != nil {
				t.Fatalf("full resync: %v", err)
			}
			if diff := cmp.Diff(k2.Dump(), k.Dump()); diff != "" {
				t.Fatalf("full resync differs (-fresh +resynced):\n%s", diff)
			}
		})
	}
}

// TestEventOrderIndependence checks that the payload depends only on the
// final objects, not on the order of the events that produced them.
func TestEventOrderIndependence(t *testing.T) {
	svcs, slices := overallObjects()
	want := func() string {
		p := newProxier(t, kubeProxyTestOptions())
		_ = p.SetState(svcs, slices)
		return fullPayload(t, p)
	}()
	r := rand.New(rand.NewSource(7))
	for i := 0; i < 20; i++ {
		p := newProxier(t, kubeProxyTestOptions())
		events := make([]func(), 0, len(svcs)+len(slices))
		for _, s := range svcs {
			events = append(events, func() { p.OnServiceAdd(s) })
		}
		for _, s := range slices {
			events = append(events, func() { p.OnEndpointSliceAdd(s) })
		}
		r.Shuffle(len(events), func(a, b int) { events[a], events[b] = events[b], events[a] })
		for _, e := range events {
			e()
		}
		p.OnEndpointSlicesSynced()
		p.OnServicesSynced()
		if got := fullPayload(t, p); got != want {
			t.Fatalf("order %d: payload differs:\n%s", i, cmp.Diff(want, got))
		}
	}
}

// TestPartialSyncTouchesOnlyChangedService checks the shape of a partial
// payload: one service's endpoint change rewrites that service's chains and
// nothing of the others, and a no-op update produces no payload at all.
func TestPartialSyncTouchesOnlyChangedService(t *testing.T) {
	ctx := context.Background()
	svcs, slices := overallObjects()
	opts := kubeProxyTestOptions()
	opts.NFAcct = false
	p := newProxier(t, opts)
	_ = p.SetState(svcs, slices)
	k := newKernel(t, proxytest.IPv4)
	if _, err := p.SyncTo(ctx, k, false); err != nil {
		t.Fatal(err)
	}

	// No-op churn: same objects again, plus a label edit.
	relabeled := svcs[0].DeepCopy()
	relabeled.Labels = map[string]string{"team": "x"}
	p.OnServiceUpdate(svcs[0], relabeled)
	p.OnEndpointSliceUpdate(slices[0], slices[0].DeepCopy())
	pl, err := p.Plan(false)
	if err != nil {
		t.Fatal(err)
	}
	if pl.Full() || len(pl.Payload()) != 0 || pl.Stats().ChangedServicePorts != 0 {
		t.Fatalf("no-op churn produced work: full=%v stats=%+v payload:\n%s", pl.Full(), pl.Stats(), pl.Payload())
	}
	if err := p.Commit(pl); err != nil {
		t.Fatal(err)
	}

	// ns4/svc4 loses an endpoint.
	changed := slices[3].DeepCopy()
	changed.Endpoints = changed.Endpoints[:1]
	p.OnEndpointSliceUpdate(slices[3], changed)
	pl, err = p.Plan(false)
	if err != nil {
		t.Fatal(err)
	}
	payload := pl.String()
	if pl.Full() {
		t.Fatalf("expected a partial sync")
	}
	for _, other := range []string{"ns1/svc1", "ns2/svc2", "ns3/svc3", "ns5/svc5", "ns6/svc6"} {
		if strings.Contains(payload, other) {
			t.Errorf("partial payload mentions %s:\n%s", other, payload)
		}
	}
	if strings.Contains(payload, "*filter") {
		t.Errorf("partial payload touches the filter table:\n%s", payload)
	}
	want := `*nat
:KUBE-EXT-4SW47YFZTEDKD3PK - [0:0]
:KUBE-SEP-UKSFD7AGPMPPLUHC - [0:0]
:KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]
:KUBE-SEP-C6EBXVWJJZMIWKLZ - [0:0]
-A KUBE-EXT-4SW47YFZTEDKD3PK -m comment --comment "masquerade traffic for ns4/svc4:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-4SW47YFZTEDKD3PK -j KUBE-SVC-4SW47YFZTEDKD3PK
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -s 10.180.0.4 -j KUBE-MARK-MASQ
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.4:80
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.180.0.4:80" -j KUBE-SEP-UKSFD7AGPMPPLUHC
-X KUBE-SEP-C6EBXVWJJZMIWKLZ
COMMIT
`
	if diff := cmp.Diff(want, payload); diff != "" {
		t.Errorf("partial payload (-want +got):\n%s", diff)
	}
	if _, err := proxytest.ParsePayload(pl.Payload()); err != nil {
		t.Fatalf("partial payload does not parse: %v", err)
	}
	if err := k.Restore(ctx, pl.Payload()); err != nil {
		t.Fatalf("restore: %v", err)
	}
	if err := p.Commit(pl); err != nil {
		t.Fatal(err)
	}
	// The result equals a full sync.
	fresh := newProxier(t, opts)
	_ = fresh.SetState(svcs, append(append(slices[:3:3], changed), slices[4]))
	k2 := newKernel(t, proxytest.IPv4)
	if _, err := fresh.SyncTo(ctx, k2, true); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(k2.Dump(), k.Dump()); diff != "" {
		t.Errorf("kernel differs from full sync (-full +partial):\n%s", diff)
	}
}

// TestStalePlan checks the Plan/Commit contract.
func TestStalePlan(t *testing.T) {
	p := newProxier(t, propertyOptions())
	if _, err := p.Plan(false); err != proxy.ErrNotSynced {
		t.Fatalf("Plan before sync: got %v, want ErrNotSynced", err)
	}
	_ = p.SetState(overallObjects())
	pl1, err := p.Plan(false)
	if err != nil {
		t.Fatal(err)
	}
	pl2, err := p.Plan(false)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(pl1); err != proxy.ErrStalePlan {
		t.Fatalf("Commit of superseded plan: got %v", err)
	}
	if err := p.Commit(pl2); err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(pl2); err != proxy.ErrStalePlan {
		t.Fatalf("second Commit: got %v", err)
	}
}

// failingRestorer fails every restore.
type failingRestorer struct{}

func (failingRestorer) Restore(context.Context, []byte) error { return fmt.Errorf("boom") }

// TestFailedRestoreForcesFullSync checks that nothing is recorded when
// applying fails, and that the next sync is a full one.
func TestFailedRestoreForcesFullSync(t *testing.T) {
	ctx := context.Background()
	p := newProxier(t, propertyOptions())
	_ = p.SetState(overallObjects())
	k := newKernel(t, proxytest.IPv4)
	if _, err := p.SyncTo(ctx, k, false); err != nil {
		t.Fatal(err)
	}
	p.OnServiceDelete(makeService("ns1", "svc1", func(*v1.Service) {}))
	if _, err := p.SyncTo(ctx, failingRestorer{}, false); err == nil {
		t.Fatal("expected an error")
	}
	st, err := p.SyncTo(ctx, k, false)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Full {
		t.Fatalf("sync after a failure was partial")
	}
	if strings.Contains(k.Dump(), "ns1/svc1") {
		t.Errorf("deleted service still in kernel")
	}
	_ = netip.Addr{}
}
