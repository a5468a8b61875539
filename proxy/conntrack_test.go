package proxy_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/proxy"
)

func udpFlow(src, dst, replySrc string) proxy.ConntrackFlow {
	s, d, r := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst), netip.MustParseAddrPort(replySrc)
	return proxy.ConntrackFlow{Proto: 17, OrigSrc: s, OrigDst: d, ReplySrc: r, ReplyDst: s}
}

func TestStaleUDPFlows(t *testing.T) {
	ports := []proxy.UDPServicePort{
		{Frontends: []netip.AddrPort{netip.MustParseAddrPort("172.30.0.10:53"), netip.MustParseAddrPort("192.168.99.1:53")},
			NodePort: 30053, Serving: []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:5353")}},
		{Frontends: []netip.AddrPort{netip.MustParseAddrPort("172.30.0.11:53")}}, // no endpoints
	}
	keep := []proxy.ConntrackFlow{
		udpFlow("10.0.9.9:1000", "172.30.0.10:53", "10.0.0.1:5353"),    // to a serving endpoint
		udpFlow("10.0.9.9:1001", "192.168.0.2:30053", "10.0.0.1:5353"), // node port, serving
		udpFlow("10.0.9.9:1002", "8.8.8.8:53", "8.8.8.8:53"),           // unrelated
		udpFlow("10.0.9.9:1003", "172.30.0.10:54", "172.30.0.10:54"),   // other port
	}
	tcp := udpFlow("10.0.9.9:1004", "172.30.0.10:53", "10.0.0.2:5353")
	tcp.Proto = 6 // only UDP is reconciled
	keep = append(keep, tcp)
	stale := []proxy.ConntrackFlow{
		udpFlow("10.0.9.9:2000", "172.30.0.10:53", "10.0.0.2:5353"),    // endpoint gone
		udpFlow("10.0.9.9:2001", "192.168.99.1:53", "10.0.0.2:5353"),   // external IP, endpoint gone
		udpFlow("10.0.9.9:2002", "192.168.0.2:30053", "10.0.0.2:5353"), // node port, endpoint gone
		udpFlow("10.0.9.9:2003", "172.30.0.10:53", "172.30.0.10:53"),   // never DNATed (no endpoints then)
		udpFlow("10.0.9.9:2004", "172.30.0.11:53", "10.0.0.7:5353"),    // service went to zero endpoints
	}
	got := proxy.StaleUDPFlows(append(append([]proxy.ConntrackFlow{}, keep...), stale...), ports)
	if diff := cmp.Diff(stale, got, addrPortEq); diff != "" {
		t.Errorf("stale flows (-want +got):\n%s", diff)
	}
}

func TestSyncerReconcilesConntrackOnUDPChanges(t *testing.T) {
	ctx := context.Background()
	ct := &proxy.FakeConntrack{}
	p, _, s := nfSetup(t, proxy.SyncerOptions{Conntrack: ct},
		nfService("ns2", "dns", "172.30.0.42", v1.ProtocolUDP), nfSlice("ns2", "dns", v1.ProtocolUDP, false, "10.0.2.1", "10.0.2.2"),
		nfService("ns1", "web", "172.30.0.41", v1.ProtocolTCP))
	toEP1 := udpFlow("10.0.9.9:1000", "172.30.0.42:80", "10.0.2.1:8080")
	toEP2 := udpFlow("10.0.9.9:1001", "172.30.0.42:80", "10.0.2.2:8080")
	unrelated := udpFlow("10.0.9.9:1002", "10.0.2.1:8080", "10.0.2.1:8080")
	ct.Add(toEP1, toEP2, unrelated)
	if r := s.SyncOnce(ctx); r.Err != nil || r.ConntrackDeleted != 0 {
		t.Fatalf("first sync: %+v (a restart must not flush live flows)", r)
	}
	// Endpoint 10.0.2.1 goes away: its flow is deleted, the others stay.
	p.OnEndpointSliceUpdate(nil, nfSlice("ns2", "dns", v1.ProtocolUDP, false, "10.0.2.2"))
	if r := s.SyncOnce(ctx); r.Err != nil || r.ConntrackDeleted != 1 {
		t.Fatalf("sync after endpoint removal: %+v", r)
	}
	if diff := cmp.Diff([]proxy.ConntrackFlow{toEP2, unrelated}, ct.Flows(), addrPortEq); diff != "" {
		t.Errorf("flows (-want +got):\n%s", diff)
	}
	// A TCP-only change does not even list the table.
	p.OnEndpointSliceUpdate(nil, nfSlice("ns1", "web", v1.ProtocolTCP, false, "10.0.1.1"))
	ct.Add(toEP1)
	if r := s.SyncOnce(ctx); r.Err != nil || r.ConntrackDeleted != 0 {
		t.Fatalf("TCP-only sync: %+v", r)
	}
	// The service loses all its endpoints (kube-proxy #139628).
	p.OnEndpointSliceDelete(nfSlice("ns2", "dns", v1.ProtocolUDP, false))
	if r := s.SyncOnce(ctx); r.Err != nil || r.ConntrackDeleted != 2 {
		t.Fatalf("sync after the last endpoint went: %+v", r)
	}
	if diff := cmp.Diff([]proxy.ConntrackFlow{unrelated}, ct.Flows(), addrPortEq); diff != "" {
		t.Errorf("flows (-want +got):\n%s", diff)
	}
}

var addrPortEq = cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })
