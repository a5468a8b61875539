package proxytest_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nodekit/nodekit/proxy/proxytest"
)

var (
	nodeIP    = netip.MustParseAddr("192.168.0.2")
	localPod  = netip.MustParseAddr("10.180.0.10")
	remoteIP  = netip.MustParseAddr("192.168.1.50")
	allowedLB = netip.MustParseAddr("203.0.113.5")
)

// kubeProxyKernel returns a fake loaded with testdata/trace/kube-proxy.payload.
func kubeProxyKernel(t testing.TB) *proxytest.FakeKernel {
	t.Helper()
	k := proxytest.NewFakeKernel(proxytest.IPv4)
	if err := k.Restore(context.Background(), readTestdata(t, "trace/kube-proxy.payload")); err != nil {
		t.Fatal(err)
	}
	return k
}

// incoming returns a packet arriving on eth0 (or on cni0 from a pod).
func incoming(src netip.Addr, dst string, proto string, port uint16) proxytest.Packet {
	in := "eth0"
	if strings.HasPrefix(src.String(), "10.") {
		in = "cni0"
	}
	return proxytest.Packet{
		Src: src, Dst: netip.MustParseAddr(dst), Proto: proto, SrcPort: 40000, DstPort: port,
		Hook: "PREROUTING", InInterface: in, OutInterface: "eth0",
		LocalAddrs: []netip.Addr{nodeIP},
	}
}

// local returns a packet sent by a process on the node.
func local(src netip.Addr, dst string, proto string, port uint16) proxytest.Packet {
	return proxytest.Packet{
		Src: src, Dst: netip.MustParseAddr(dst), Proto: proto, SrcPort: 40000, DstPort: port,
		Hook: "OUTPUT", OutInterface: "eth0", LocalAddrs: []netip.Addr{nodeIP},
	}
}

// summarize renders outcomes as "P VERDICT [DEST] [masq]" with two-digit
// probabilities, for the explicit expectations of the flow table.
func summarize(res *proxytest.TraceResult) []string {
	var out []string
	for _, o := range res.Outcomes {
		s := fmt.Sprintf("%.2f %s", o.Probability, o.Verdict)
		if o.DNAT.IsValid() {
			s += " " + o.DNAT.String()
		}
		if o.Masquerade {
			s += " masq"
		}
		out = append(out, s)
	}
	return out
}

// TestTraceKubeProxyFlows traces packets through a kube-proxy payload and
// checks where they go; the full traces (paths, marks) are in
// testdata/trace/flows.golden.
func TestTraceKubeProxyFlows(t *testing.T) {
	k := kubeProxyKernel(t)
	withRecent := incoming(localPod, "172.30.0.43", "tcp", 80)
	withRecent.Recent = []string{"KUBE-SEP-CCCCCCCCCCCCCCC2"}
	hairpin := incoming(netip.MustParseAddr("10.180.0.1"), "172.30.0.41", "tcp", 80)
	loopback := local(netip.MustParseAddr("127.0.0.1"), "127.0.0.1", "tcp", 3001)
	loopback.OutInterface = "lo"
	tests := []struct {
		name string
		pkt  proxytest.Packet
		want []string
	}{
		{"pod to ClusterIP spreads over endpoints", incoming(localPod, "172.30.0.41", "tcp", 80),
			[]string{"0.33 ACCEPT 10.180.0.1:80", "0.33 ACCEPT 10.180.1.1:80", "0.33 ACCEPT 10.180.1.2:80"}},
		{"endpoint reaching itself through its service is masqueraded", hairpin,
			[]string{"0.33 ACCEPT 10.180.0.1:80 masq", "0.33 ACCEPT 10.180.1.1:80", "0.33 ACCEPT 10.180.1.2:80"}},
		{"off-cluster source to ClusterIP is masqueraded", incoming(remoteIP, "172.30.0.41", "tcp", 80),
			[]string{"0.33 ACCEPT 10.180.0.1:80 masq", "0.33 ACCEPT 10.180.1.1:80 masq", "0.33 ACCEPT 10.180.1.2:80 masq"}},
		{"host process to ClusterIP is masqueraded", local(nodeIP, "172.30.0.41", "tcp", 80),
			[]string{"0.33 ACCEPT 10.180.0.1:80 masq", "0.33 ACCEPT 10.180.1.1:80 masq", "0.33 ACCEPT 10.180.1.2:80 masq"}},
		{"ClusterIP on the wrong port is left alone", incoming(localPod, "172.30.0.41", "tcp", 81),
			[]string{"1.00 ACCEPT"}},
		{"ClusterIP with the wrong protocol is left alone", incoming(localPod, "172.30.0.41", "udp", 80),
			[]string{"1.00 ACCEPT"}},
		{"external NodePort with ETP Local goes to the local endpoint only, source kept", incoming(remoteIP, "192.168.0.2", "tcp", 3001),
			[]string{"1.00 ACCEPT 10.180.0.2:80"}},
		{"host to its own NodePort with ETP Local is masqueraded and uses all endpoints", local(nodeIP, "192.168.0.2", "tcp", 3001),
			[]string{"0.50 ACCEPT 10.180.0.2:80 masq", "0.50 ACCEPT 10.180.1.3:80 masq"}},
		{"localhost NodePort", loopback,
			[]string{"0.50 ACCEPT 10.180.0.2:80 masq", "0.50 ACCEPT 10.180.1.3:80 masq"}},
		{"pod to externalIP with ETP Local short-circuits to the cluster chain", incoming(localPod, "192.168.99.22", "tcp", 80),
			[]string{"0.50 ACCEPT 10.180.0.2:80", "0.50 ACCEPT 10.180.1.3:80"}},
		{"external to LoadBalancer IP with ETP Local", incoming(remoteIP, "1.2.3.4", "tcp", 80),
			[]string{"1.00 ACCEPT 10.180.0.2:80"}},
		{"health check node port is accepted", incoming(remoteIP, "192.168.0.2", "tcp", 30000),
			[]string{"1.00 ACCEPT"}},
		{"session affinity without a recent entry", incoming(localPod, "172.30.0.43", "tcp", 80),
			[]string{"0.50 ACCEPT 10.180.0.3:80", "0.50 ACCEPT 10.180.1.4:80"}},
		{"session affinity with a recent entry sticks", withRecent,
			[]string{"1.00 ACCEPT 10.180.1.4:80"}},
		{"LoadBalancer source range allows", incoming(allowedLB, "5.6.7.8", "tcp", 80),
			[]string{"1.00 ACCEPT 10.180.1.5:80 masq"}},
		{"LoadBalancer source range drops others", incoming(remoteIP, "5.6.7.8", "tcp", 80),
			[]string{"1.00 DROP"}},
		{"NodePort of an LB service is not subject to source ranges", incoming(remoteIP, "192.168.0.2", "tcp", 3004),
			[]string{"1.00 ACCEPT 10.180.1.5:80 masq"}},
		{"ClusterIP without endpoints rejects from a pod", incoming(localPod, "172.30.0.45", "tcp", 80),
			[]string{"1.00 REJECT"}},
		{"ClusterIP without endpoints rejects from the host", local(nodeIP, "172.30.0.45", "tcp", 80),
			[]string{"1.00 REJECT"}},
		{"NodePort without endpoints rejects", incoming(remoteIP, "192.168.0.2", "tcp", 3005),
			[]string{"1.00 REJECT"}},
		{"internal traffic policy Local without local endpoints drops", incoming(localPod, "172.30.0.46", "udp", 53),
			[]string{"1.00 DROP"}},
		{"unrelated traffic to the node is accepted", incoming(remoteIP, "192.168.0.2", "tcp", 22),
			[]string{"1.00 ACCEPT"}},
	}
	var golden strings.Builder
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := k.Trace(tc.pkt)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, summarize(res)); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s\nfull trace:\n%s", diff, res)
			}
			var sum float64
			for _, o := range res.Outcomes {
				sum += o.Probability
			}
			if math.Abs(sum-1) > 1e-6 {
				t.Errorf("probabilities sum to %v, want 1", sum)
			}
			fmt.Fprintf(&golden, "## %s\n%s %s:%d -> %s:%d %s\n%s\n", tc.name, tc.pkt.Proto, tc.pkt.Src, tc.pkt.SrcPort, tc.pkt.Dst, tc.pkt.DstPort, tc.pkt.Hook, res)
		})
	}
	checkGolden(t, "trace/flows.golden", golden.String())
}

func TestTraceRecordsAffinity(t *testing.T) {
	k := kubeProxyKernel(t)
	res, err := k.Trace(incoming(localPod, "172.30.0.43", "tcp", 80))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, o := range res.Outcomes {
		got[o.DNAT.String()] = strings.Join(o.Recent, ",")
	}
	want := map[string]string{
		"10.180.0.3:80": "KUBE-SEP-CCCCCCCCCCCCCCC1",
		"10.180.1.4:80": "KUBE-SEP-CCCCCCCCCCCCCCC2",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("recent lists set per destination (-want +got):\n%s", diff)
	}
	dest := res.Destinations()
	if p := dest[netip.MustParseAddrPort("10.180.0.3:80")]; math.Abs(p-0.5) > 1e-9 {
		t.Errorf("Destinations()[10.180.0.3:80] = %v, want 0.5", p)
	}
}

// traceKernel loads payload into a fresh fake.
func traceKernel(t *testing.T, payload string) *proxytest.FakeKernel {
	t.Helper()
	k := proxytest.NewFakeKernel(proxytest.IPv4)
	if err := k.Restore(context.Background(), []byte(payload)); err != nil {
		t.Fatal(err)
	}
	return k
}

func TestTraceSemantics(t *testing.T) {
	pkt := incoming(remoteIP, "10.9.9.9", "tcp", 80)
	established := pkt
	established.CTState = []string{"ESTABLISHED"}
	tests := []struct {
		name    string
		payload string
		pkt     proxytest.Packet
		want    []string
		mark    uint32
	}{
		{name: "established packets skip nat", payload: "*nat\n-A PREROUTING -p tcp -j DNAT --to-destination 10.8.8.8\nCOMMIT\n*filter\n-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j REJECT\nCOMMIT\n", pkt: established, want: []string{"1.00 REJECT"}},
		{name: "filter policy DROP", payload: "*filter\n:FORWARD DROP [0:0]\nCOMMIT\n", pkt: pkt, want: []string{"1.00 DROP"}},
		{name: "ACCEPT in a user chain ends the built-in chain", payload: "*filter\n:FORWARD DROP [0:0]\n:X - [0:0]\n-A X -j ACCEPT\n-A FORWARD -j X\n-A FORWARD -j DROP\nCOMMIT\n", pkt: pkt, want: []string{"1.00 ACCEPT"}},
		{name: "RETURN goes back to the caller", payload: "*filter\n:X - [0:0]\n-A X -j RETURN\n-A X -j DROP\n-A FORWARD -j X\n-A FORWARD -j REJECT\nCOMMIT\n", pkt: pkt, want: []string{"1.00 REJECT"}},
		{name: "goto returns past the caller", payload: "*filter\n:X - [0:0]\n:Y - [0:0]\n-A Y -g X\n-A Y -j DROP\n-A X -j RETURN\n-A FORWARD -j Y\n-A FORWARD -j REJECT\nCOMMIT\n", pkt: pkt, want: []string{"1.00 REJECT"}},
		{name: "negated source", payload: "*filter\n-A FORWARD ! -s 192.168.1.0/24 -j DROP\n-A FORWARD -s 192.168.1.0/24 -j REJECT\nCOMMIT\n", pkt: pkt, want: []string{"1.00 REJECT"}},
		{name: "interface wildcard", payload: "*filter\n-A FORWARD -i eth+ -j DROP\nCOMMIT\n", pkt: pkt, want: []string{"1.00 DROP"}},
		{name: "port range and multiport", payload: "*filter\n-A FORWARD -p tcp -m tcp --dport 81:90 -j DROP\n-A FORWARD -p tcp -m multiport --dports 22,70:80 -j REJECT\nCOMMIT\n", pkt: pkt, want: []string{"1.00 REJECT"}},
		{name: "MARK forms", payload: "*mangle\n-A PREROUTING -j MARK --set-xmark 0xf0/0xff\n-A PREROUTING -j MARK --or-mark 0x1\n-A PREROUTING -j MARK --and-mark 0x31\n-A PREROUTING -j MARK --xor-mark 0x100\n-A PREROUTING -m mark --mark 0x131 -j MARK --set-mark 0x4000/0x4000\nCOMMIT\n", pkt: pkt, want: []string{"1.00 ACCEPT"}, mark: 0x4131},
		{name: "statistic splits and probabilities multiply", payload: "*filter\n:X - [0:0]\n-A X -m statistic --mode random --probability 0.5 -j DROP\n-A FORWARD -m statistic --mode random --probability 0.5 -j X\n-A FORWARD -j REJECT\nCOMMIT\n", pkt: pkt, want: []string{"0.25 DROP", "0.25 REJECT", "0.50 REJECT"}},
		{name: "DNAT without a port keeps the destination port", payload: "*nat\n-A PREROUTING -d 10.9.9.9 -j DNAT --to-destination 10.8.8.8\nCOMMIT\n", pkt: pkt, want: []string{"1.00 ACCEPT 10.8.8.8:80"}},
		{name: "ctstate DNAT is seen after DNAT", payload: "*nat\n-A PREROUTING -d 10.9.9.9 -p tcp -j DNAT --to-destination 10.8.8.8:8080\nCOMMIT\n*filter\n-A FORWARD -m conntrack --ctstate DNAT -j REJECT\nCOMMIT\n", pkt: pkt, want: []string{"1.00 REJECT 10.8.8.8:8080"}},
		{name: "local delivery skips POSTROUTING", payload: "*nat\n-A PREROUTING -p tcp -j DNAT --to-destination 192.168.0.2:22\n-A POSTROUTING -j MASQUERADE\nCOMMIT\n", pkt: pkt, want: []string{"1.00 ACCEPT 192.168.0.2:22"}},
		{name: "forwarded traffic is masqueraded", payload: "*nat\n-A POSTROUTING -o eth0 -j MASQUERADE\nCOMMIT\n", pkt: pkt, want: []string{"1.00 ACCEPT masq"}},
		{name: "rule without a target is a no-op", payload: "*filter\n-A FORWARD -m comment --comment nothing\n-A FORWARD -j DROP\nCOMMIT\n", pkt: pkt, want: []string{"1.00 DROP"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := traceKernel(t, tc.payload)
			res, err := k.Trace(tc.pkt)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, summarize(res)); diff != "" {
				t.Errorf("outcomes (-want +got):\n%s\nfull trace:\n%s", diff, res)
			}
			if res.Outcomes[0].Mark != tc.mark {
				t.Errorf("mark %#x, want %#x", res.Outcomes[0].Mark, tc.mark)
			}
		})
	}
}

func TestTraceRefusesWhatItCannotModel(t *testing.T) {
	pkt := incoming(remoteIP, "10.9.9.9", "tcp", 80)
	noIface := pkt
	noIface.InInterface = ""
	tests := []struct {
		name    string
		payload string
		pkt     proxytest.Packet
		want    error
	}{
		{"unknown addrtype", "*filter\n-A FORWARD -m addrtype --dst-type UNICAST -j DROP\nCOMMIT\n", pkt, proxytest.ErrUnsupported},
		{"statistic nth", "*filter\n-A FORWARD -m statistic --mode nth --every 2 -j DROP\nCOMMIT\n", pkt, proxytest.ErrUnsupported},
		{"ipset", "*filter\n-A FORWARD -m set --match-set foo src -j DROP\nCOMMIT\n", pkt, proxytest.ErrUnsupported},
		{"input interface not given", "*filter\n-A FORWARD -i eth0 -j DROP\nCOMMIT\n", noIface, proxytest.ErrUnsupported},
		{"recent on destination", "*filter\n-A FORWARD -m recent --name X --rcheck --rdest -j DROP\nCOMMIT\n", pkt, proxytest.ErrUnsupported},
		{"CONNMARK target", "*mangle\n-A PREROUTING -j CONNMARK --save-mark\nCOMMIT\n", pkt, proxytest.ErrUnsupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := traceKernel(t, tc.payload)
			_, err := k.Trace(tc.pkt)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Trace error %v, want %v", err, tc.want)
			}
		})
	}
}

func TestTraceValidatesPacket(t *testing.T) {
	k := proxytest.NewFakeKernel(proxytest.IPv4)
	good := incoming(remoteIP, "10.9.9.9", "tcp", 80)
	bad := []proxytest.Packet{{}, good, good, good}
	bad[1].Proto = "icmp"
	bad[2].Hook = "INPUT"
	bad[3].Dst = netip.MustParseAddr("fd00::1")
	for i, p := range bad {
		if _, err := k.Trace(p); !errors.Is(err, proxytest.ErrBadArgument) {
			t.Errorf("packet %d: error %v, want ErrBadArgument", i, err)
		}
	}
	res, err := k.Trace(good)
	if err != nil || len(res.Outcomes) != 1 || res.Outcomes[0].Verdict != "ACCEPT" {
		t.Errorf("empty kernel: %v, %v; want one ACCEPT", res, err)
	}
}
