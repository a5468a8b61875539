package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"

	"github.com/nodekit/nodekit/proxy"
	"github.com/nodekit/nodekit/proxy/proxytest"
)

// A Syncer applies the Proxier's plans to a Netfilter: here the fake one;
// on a node, proxy.NewIPTables. Run(ctx) does the same on a schedule and
// repairs drift; SyncOnce does it once.
func ExampleSyncer_SyncOnce() {
	p, err := proxy.New(proxy.Options{NodeName: "node-a", ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16")})
	if err != nil {
		fmt.Println(err)
		return
	}
	svc, slice := exampleObjects()
	if err := p.SetState([]*v1.Service{svc}, []*discovery.EndpointSlice{slice}); err != nil {
		fmt.Println(err)
		return
	}
	nf := proxytest.NewFakeNetfilter(proxytest.IPv4)
	s := proxy.NewSyncer(p, nf, proxy.SyncerOptions{})
	res := s.SyncOnce(context.Background())
	fmt.Println("error:", res.Err, "full:", res.Stats.Full, "chains written:", res.Stats.ChainsWritten)
	for _, r := range nf.Rules("nat", "PREROUTING") {
		fmt.Println(r)
	}
	// Output:
	// error: <nil> full: true chains written: 2
	// -A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
}

// CheckDrift notices what someone else did to the rules; Run repairs it
// within one check interval.
func ExampleProxier_CheckDrift() {
	p, _ := proxy.New(proxy.Options{NodeName: "node-a"})
	svc, slice := exampleObjects()
	_ = p.SetState([]*v1.Service{svc}, []*discovery.EndpointSlice{slice})
	nf := proxytest.NewFakeNetfilter(proxytest.IPv4)
	ctx := context.Background()
	proxy.NewSyncer(p, nf, proxy.SyncerOptions{}).SyncOnce(ctx)

	_, err := p.CheckDrift(ctx, nf)
	fmt.Println("after the sync:", err)
	_ = nf.Restore(ctx, []byte("*nat\n-F KUBE-SERVICES\nCOMMIT\n")) // as "iptables -t nat -F KUBE-SERVICES"
	_, err = p.CheckDrift(ctx, nf)
	fmt.Println(errors.Is(err, proxy.ErrDrift), err)
	// Output:
	// after the sync: <nil>
	// true rules drifted from what was written: nat: chain KUBE-SERVICES holds 0 rules, want 2
}

// Cleanup removes every chain and jump the library made, as "kube-proxy
// --cleanup", leaving the rest alone.
func ExampleCleanup() {
	ctx := context.Background()
	nf := proxytest.NewFakeNetfilter(proxytest.IPv4)
	_ = nf.Restore(ctx, []byte("*filter\n:MINE - [0:0]\n-A INPUT -j MINE\nCOMMIT\n"))
	p, _ := proxy.New(proxy.Options{NodeName: "node-a"})
	svc, slice := exampleObjects()
	_ = p.SetState([]*v1.Service{svc}, []*discovery.EndpointSlice{slice})
	proxy.NewSyncer(p, nf, proxy.SyncerOptions{}).SyncOnce(ctx)
	fmt.Println("nat chains:", len(nf.Chains("nat")))

	if err := proxy.Cleanup(ctx, nf); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("nat chains:", nf.Chains("nat"))
	fmt.Println("filter chains:", nf.Chains("filter"))
	// Output:
	// nat chains: 11
	// nat chains: [PREROUTING INPUT OUTPUT POSTROUTING]
	// filter chains: [INPUT FORWARD OUTPUT MINE]
}

// ReconcileConntrack deletes the UDP flows that still point at an endpoint
// the service no longer has.
func ExampleReconcileConntrack() {
	ct := &proxy.FakeConntrack{}
	client := netip.MustParseAddrPort("10.244.9.9:40000")
	vip := netip.MustParseAddrPort("10.96.0.10:53")
	gone, kept := netip.MustParseAddrPort("10.244.1.5:53"), netip.MustParseAddrPort("10.244.1.6:53")
	ct.Add(proxy.ConntrackFlow{Proto: 17, OrigSrc: client, OrigDst: vip, ReplySrc: gone, ReplyDst: client},
		proxy.ConntrackFlow{Proto: 17, OrigSrc: client, OrigDst: vip, ReplySrc: kept, ReplyDst: client})
	n, err := proxy.ReconcileConntrack(context.Background(), ct, []proxy.UDPServicePort{
		{Frontends: []netip.AddrPort{vip}, Serving: []netip.AddrPort{kept}},
	})
	fmt.Println(n, err)
	for _, f := range ct.Flows() {
		fmt.Println(f)
	}
	// Output:
	// 1 <nil>
	// proto=17 src=10.244.9.9:40000 dst=10.96.0.10:53 reply-src=10.244.1.6:53 reply-dst=10.244.9.9:40000
}
