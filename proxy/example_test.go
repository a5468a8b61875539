package proxy_test

import (
	"context"
	"fmt"
	"net/netip"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/proxy"
	"github.com/nodekit/nodekit/proxy/proxytest"
)

func exampleObjects() (*v1.Service, *discovery.EndpointSlice) {
	svc := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: v1.ServiceSpec{
			ClusterIP: "10.96.0.10",
			Ports:     []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP}},
		},
	}
	slice := &discovery.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "default", Name: "web-abcde",
			Labels: map[string]string{discovery.LabelServiceName: "web"},
		},
		AddressType: discovery.AddressTypeIPv4,
		Endpoints:   []discovery.Endpoint{{Addresses: []string{"10.244.1.5"}, NodeName: ptr.To("node-a")}},
		Ports:       []discovery.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(v1.ProtocolTCP)}},
	}
	return svc, slice
}

// The full payload for one ClusterIP service with one endpoint.
func ExampleProxier_Plan() {
	p, err := proxy.New(proxy.Options{
		NodeName:    "node-a",
		NodeIPs:     []netip.Addr{netip.MustParseAddr("192.168.1.10")},
		ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	svc, slice := exampleObjects()
	if err := p.SetState([]*v1.Service{svc}, []*discovery.EndpointSlice{slice}); err != nil {
		fmt.Println(err)
		return
	}
	plan, err := p.Plan(true)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(plan)
	// Output:
	// *filter
	// :KUBE-NODEPORTS - [0:0]
	// :KUBE-SERVICES - [0:0]
	// :KUBE-EXTERNAL-SERVICES - [0:0]
	// :KUBE-FORWARD - [0:0]
	// :KUBE-PROXY-FIREWALL - [0:0]
	// -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
	// -A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
	// -A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
	// COMMIT
	// *nat
	// :KUBE-NODEPORTS - [0:0]
	// :KUBE-SERVICES - [0:0]
	// :KUBE-MARK-MASQ - [0:0]
	// :KUBE-POSTROUTING - [0:0]
	// :KUBE-SEP-AFGSLHOD2HFNCBX4 - [0:0]
	// :KUBE-SVC-CDGGSHYLG3RE2FKL - [0:0]
	// -A KUBE-SERVICES -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j KUBE-SVC-CDGGSHYLG3RE2FKL
	// -A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS
	// -A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
	// -A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
	// -A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
	// -A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
	// -A KUBE-SEP-AFGSLHOD2HFNCBX4 -m comment --comment default/web:http -s 10.244.1.5 -j KUBE-MARK-MASQ
	// -A KUBE-SEP-AFGSLHOD2HFNCBX4 -m comment --comment default/web:http -m tcp -p tcp -j DNAT --to-destination 10.244.1.5:8080
	// -A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
	// -A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.1.5:8080" -j KUBE-SEP-AFGSLHOD2HFNCBX4
	// COMMIT
}

// Informer-style events, applied to a fake kernel: the first sync is full,
// the next ones only touch what changed, and a no-op update costs nothing.
func ExampleProxier_SyncTo() {
	ctx := context.Background()
	p, err := proxy.New(proxy.Options{NodeName: "node-a", ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")})
	if err != nil {
		fmt.Println(err)
		return
	}
	kernel := proxytest.NewFakeKernel(proxytest.IPv4)
	if err := kernel.Restore(ctx, proxy.JumpRulesPayload()); err != nil {
		fmt.Println(err)
		return
	}
	svc, slice := exampleObjects()
	p.OnServiceAdd(svc)
	p.OnEndpointSliceAdd(slice)
	p.OnServicesSynced()
	p.OnEndpointSlicesSynced()

	stats, err := p.SyncTo(ctx, kernel, false)
	fmt.Println("first:", stats.Full, stats.ChangedServicePorts, err)

	// A second endpoint appears.
	scaled := slice.DeepCopy()
	scaled.Endpoints = append(scaled.Endpoints, discovery.Endpoint{Addresses: []string{"10.244.2.7"}})
	p.OnEndpointSliceUpdate(slice, scaled)
	stats, err = p.SyncTo(ctx, kernel, false)
	fmt.Println("scale up:", stats.Full, stats.ChangedServicePorts, stats.ChainsWritten, err)

	// A label edit changes no rule.
	relabeled := svc.DeepCopy()
	relabeled.Labels = map[string]string{"team": "web"}
	p.OnServiceUpdate(svc, relabeled)
	stats, err = p.SyncTo(ctx, kernel, false)
	fmt.Println("label edit:", stats.Full, stats.ChangedServicePorts, stats.PayloadBytes, err)

	res, err := kernel.Trace(proxytest.Packet{
		Src: netip.MustParseAddr("10.244.3.3"), Dst: netip.MustParseAddr("10.96.0.10"),
		Proto: "tcp", SrcPort: 40000, DstPort: 80, Hook: "PREROUTING", InInterface: "cni0",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, o := range res.Outcomes {
		fmt.Printf("%.2f %s %s\n", o.Probability, o.Verdict, o.DNAT)
	}
	// Output:
	// first: true 1 <nil>
	// scale up: false 1 3 <nil>
	// label edit: false 0 0 <nil>
	// 0.50 ACCEPT 10.244.1.5:8080
	// 0.50 ACCEPT 10.244.2.7:8080
}

// Invalid objects are skipped, with an error naming the object and field.
func ExampleProxier_Errors() {
	p, _ := proxy.New(proxy.Options{NodeName: "node-a"})
	svc, _ := exampleObjects()
	svc.Spec.ExternalIPs = []string{"1.2.3.4 -j ACCEPT"}
	p.OnServiceAdd(svc)
	for _, err := range p.Errors() {
		fmt.Println(err)
	}
	// Output:
	// Service "default"/"web": spec.externalIPs[0] "1.2.3.4 -j ACCEPT": not a valid IP address: invalid object
}

// The jump rules kube-proxy keeps in the built-in chains, for a caller
// that ensures them with iptables -C/-I (as kube-proxy does).
func ExampleJumpRules() {
	for _, j := range proxy.JumpRules() {
		if j.Table == "nat" {
			fmt.Println(j.Table, j.Chain, j.Args)
		}
	}
	// Output:
	// nat OUTPUT [-m comment --comment kubernetes service portals -j KUBE-SERVICES]
	// nat PREROUTING [-m comment --comment kubernetes service portals -j KUBE-SERVICES]
	// nat POSTROUTING [-m comment --comment kubernetes postrouting rules -j KUBE-POSTROUTING]
}
