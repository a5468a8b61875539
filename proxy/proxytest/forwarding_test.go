package proxytest_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nodekit/nodekit/internal/netnstest"
	"github.com/nodekit/nodekit/internal/privtest"
	"github.com/nodekit/nodekit/proxy/proxytest"
)

// forwardingPayload is a small kube-proxy-style payload for the node
// namespace of TestTraceMatchesRealForwarding: ClusterIP 172.30.0.10:80 with
// two endpoints in the pod namespace and NodePort 30080, ClusterIP
// 172.30.0.11:80 without endpoints (REJECT), ClusterIP 172.30.0.12:80 whose
// masquerade rule treats 192.168.77.0/24 (the client) as cluster traffic, and
// ClusterIP 172.30.0.13:80 with ClientIP session affinity.
const forwardingPayload = `*filter
:KUBE-SERVICES - [0:0]
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -m comment --comment "ns/nothing:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.11 --dport 80 -j REJECT
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SVC-FWDTESTAAAAAAAAAA - [0:0]
:KUBE-SVC-FWDTESTBBBBBBBBBB - [0:0]
:KUBE-SEP-FWDTESTAAAAAAAAA1 - [0:0]
:KUBE-SEP-FWDTESTAAAAAAAAA2 - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-EXT-FWDTESTAAAAAAAAAA - [0:0]
:KUBE-SVC-FWDTESTCCCCCCCCCC - [0:0]
:KUBE-SEP-FWDTESTCCCCCCCCC1 - [0:0]
:KUBE-SEP-FWDTESTCCCCCCCCC2 - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "ns/web:p80 cluster IP" -m tcp -p tcp -d 172.30.0.10 --dport 80 -j KUBE-SVC-FWDTESTAAAAAAAAAA
-A KUBE-SERVICES -m comment --comment "ns/web2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.12 --dport 80 -j KUBE-SVC-FWDTESTBBBBBBBBBB
-A KUBE-SVC-FWDTESTAAAAAAAAAA -m comment --comment "ns/web:p80 cluster IP" -m tcp -p tcp -d 172.30.0.10 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-FWDTESTAAAAAAAAAA -m comment --comment "ns/web:p80 -> 10.180.0.5:8080" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-FWDTESTAAAAAAAAA1
-A KUBE-SVC-FWDTESTAAAAAAAAAA -m comment --comment "ns/web:p80 -> 10.180.0.6:8080" -j KUBE-SEP-FWDTESTAAAAAAAAA2
-A KUBE-SVC-FWDTESTBBBBBBBBBB -m comment --comment "ns/web2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.12 --dport 80 ! -s 192.168.77.0/24 -j KUBE-MARK-MASQ
-A KUBE-SVC-FWDTESTBBBBBBBBBB -m comment --comment "ns/web2:p80 -> 10.180.0.5:8080" -j KUBE-SEP-FWDTESTAAAAAAAAA1
-A KUBE-SEP-FWDTESTAAAAAAAAA1 -m comment --comment ns/web:p80 -s 10.180.0.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-FWDTESTAAAAAAAAA1 -m comment --comment ns/web:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.5:8080
-A KUBE-SEP-FWDTESTAAAAAAAAA2 -m comment --comment ns/web:p80 -s 10.180.0.6 -j KUBE-MARK-MASQ
-A KUBE-SEP-FWDTESTAAAAAAAAA2 -m comment --comment ns/web:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.6:8080
-A KUBE-SERVICES -m comment --comment "ns/sticky:p80 cluster IP" -m tcp -p tcp -d 172.30.0.13 --dport 80 -j KUBE-SVC-FWDTESTCCCCCCCCCC
-A KUBE-SVC-FWDTESTCCCCCCCCCC -m comment --comment "ns/sticky:p80 -> 10.180.0.5:8080" -m recent --name KUBE-SEP-FWDTESTCCCCCCCCC1 --rcheck --seconds 10800 --reap -j KUBE-SEP-FWDTESTCCCCCCCCC1
-A KUBE-SVC-FWDTESTCCCCCCCCCC -m comment --comment "ns/sticky:p80 -> 10.180.0.6:8080" -m recent --name KUBE-SEP-FWDTESTCCCCCCCCC2 --rcheck --seconds 10800 --reap -j KUBE-SEP-FWDTESTCCCCCCCCC2
-A KUBE-SVC-FWDTESTCCCCCCCCCC -m comment --comment "ns/sticky:p80 -> 10.180.0.5:8080" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-FWDTESTCCCCCCCCC1
-A KUBE-SVC-FWDTESTCCCCCCCCCC -m comment --comment "ns/sticky:p80 -> 10.180.0.6:8080" -j KUBE-SEP-FWDTESTCCCCCCCCC2
-A KUBE-SEP-FWDTESTCCCCCCCCC1 -m comment --comment ns/sticky:p80 -s 10.180.0.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-FWDTESTCCCCCCCCC1 -m comment --comment ns/sticky:p80 -m recent --name KUBE-SEP-FWDTESTCCCCCCCCC1 --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.5:8080
-A KUBE-SEP-FWDTESTCCCCCCCCC2 -m comment --comment ns/sticky:p80 -s 10.180.0.6 -j KUBE-MARK-MASQ
-A KUBE-SEP-FWDTESTCCCCCCCCC2 -m comment --comment ns/sticky:p80 -m recent --name KUBE-SEP-FWDTESTCCCCCCCCC2 --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.6:8080
-A KUBE-NODEPORTS -m comment --comment ns/web:p80 -m tcp -p tcp --dport 30080 -j KUBE-EXT-FWDTESTAAAAAAAAAA
-A KUBE-EXT-FWDTESTAAAAAAAAAA -m comment --comment "masquerade traffic for ns/web:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-FWDTESTAAAAAAAAAA -j KUBE-SVC-FWDTESTAAAAAAAAAA
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
COMMIT
`

// TestTraceMatchesRealForwarding checks the tracer against netfilter
// itself: the payload is loaded into both the fake and a node namespace
// that routes between a client namespace (192.168.77.2) and a pod namespace
// (10.180.0.5 and .6, listening on 8080). For each connection the real
// endpoint reached and the source address it sees must be among the
// tracer's predictions (DNAT destination, masquerade to the node's
// 10.180.0.1 or not), and a REJECT must refuse the connection.
func TestTraceMatchesRealForwarding(t *testing.T) {
	privtest.Require(t, "iptables-restore", "sysctl")
	sb := netnstest.New(t)
	client, node, pod := sb.Namespace("client"), sb.Namespace("node"), sb.Namespace("pod")
	sb.Veth(client, "c0", node, "n0")
	sb.Veth(node, "n1", pod, "p0")
	client.AddAddr(t, "c0", "192.168.77.2/24")
	node.AddAddr(t, "n0", "192.168.77.1/24")
	node.AddAddr(t, "n1", "10.180.0.1/24")
	pod.AddAddr(t, "p0", "10.180.0.5/24")
	pod.AddAddr(t, "p0", "10.180.0.6/24")
	client.AddRoute(t, "default", "via", "192.168.77.1")
	pod.AddRoute(t, "default", "via", "10.180.0.1")
	// Service IPs without endpoints must be routed for FORWARD to see them.
	node.AddRoute(t, "172.30.0.0/16", "dev", "n1")
	node.MustRun(t, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := node.Command(ctx, "iptables-restore", "--noflush")
	cmd.Stdin = strings.NewReader(forwardingPayload)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("iptables-restore in the node namespace: %v: %s", err, out)
	}
	fake := proxytest.NewFakeKernel(proxytest.IPv4)
	if err := fake.Restore(ctx, []byte(forwardingPayload)); err != nil {
		t.Fatal(err)
	}

	// One listener per endpoint address, reporting the peer it sees.
	type hit struct {
		endpoint netip.AddrPort
		peer     netip.Addr
	}
	hits := make(chan hit, 16)
	for _, ep := range []string{"10.180.0.5:8080", "10.180.0.6:8080"} {
		var ln net.Listener
		if err := pod.Do(func() (err error) { ln, err = net.Listen("tcp", ep); return err }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				peer := conn.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()
				hits <- hit{endpoint: netip.MustParseAddrPort(ep), peer: peer}
				conn.Close()
			}
		}()
	}

	clientIP := netip.MustParseAddr("192.168.77.2")
	nodePodSide := netip.MustParseAddr("10.180.0.1")
	packet := func(dst string, port uint16, recent ...string) proxytest.Packet {
		return proxytest.Packet{
			Src: clientIP, Dst: netip.MustParseAddr(dst), Proto: "tcp", SrcPort: 40000, DstPort: port,
			Hook: "PREROUTING", InInterface: "n0", OutInterface: "n1", Recent: recent,
			LocalAddrs: []netip.Addr{netip.MustParseAddr("192.168.77.1"), nodePodSide},
		}
	}
	// connect opens one connection and returns the endpoint that saw it,
	// the source it saw, and the dial error (ECONNREFUSED for a REJECT).
	connect := func(dst string, port uint16) (hit, error) {
		var dialErr error
		addr := net.JoinHostPort(dst, strconv.Itoa(int(port)))
		if err := client.Do(func() error {
			conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err == nil {
				conn.Close()
			}
			dialErr = err
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if dialErr != nil {
			return hit{}, dialErr
		}
		select {
		case h := <-hits:
			return h, nil
		case <-ctx.Done():
			t.Fatalf("%s: connected but no endpoint saw it", addr)
			return hit{}, nil
		}
	}
	// check connects n times and compares each connection with the trace.
	check := func(name string, pkt proxytest.Packet, n int) []hit {
		res, err := fake.Trace(pkt)
		if err != nil {
			t.Fatal(err)
		}
		var seen []hit
		for range n {
			h, err := connect(pkt.Dst.String(), pkt.DstPort)
			if err != nil {
				if !errors.Is(err, syscall.ECONNREFUSED) {
					t.Fatalf("%s: %v", name, err)
				}
				t.Logf("%s: refused", name)
				if !predicts(res, func(o proxytest.Outcome) bool { return o.Verdict == "REJECT" }) {
					t.Errorf("%s: the kernel refused the connection; the tracer predicted:\n%s", name, res)
				}
				continue
			}
			masqueraded := h.peer == nodePodSide
			if !masqueraded && h.peer != clientIP {
				t.Errorf("%s: endpoint saw source %s, neither the client nor the node", name, h.peer)
			}
			if !predicts(res, func(o proxytest.Outcome) bool {
				return o.Verdict == "ACCEPT" && o.DNAT == h.endpoint && o.Masquerade == masqueraded
			}) {
				t.Errorf("%s: the kernel sent the connection to %s with source %s (masquerade %v); the tracer predicted:\n%s", name, h.endpoint, h.peer, masqueraded, res)
			}
			t.Logf("%s: reached %s, source seen %s", name, h.endpoint, h.peer)
			seen = append(seen, h)
		}
		return seen
	}

	check("ClusterIP from outside the cluster CIDR", packet("172.30.0.10", 80), 6)
	check("ClusterIP whose cluster CIDR includes the client", packet("172.30.0.12", 80), 3)
	check("ClusterIP without endpoints", packet("172.30.0.11", 80), 2)
	check("NodePort on the node's address", packet("192.168.77.1", 30080), 4)

	// Session affinity: the first connection picks an endpoint and sets its
	// recent list; told about that list, the tracer must predict that
	// endpoint only, and the kernel must keep using it.
	first := check("affinity, first connection", packet("172.30.0.13", 80), 1)
	if len(first) != 1 {
		t.Fatalf("affinity: first connection failed")
	}
	list := map[string]string{"10.180.0.5:8080": "KUBE-SEP-FWDTESTCCCCCCCCC1", "10.180.0.6:8080": "KUBE-SEP-FWDTESTCCCCCCCCC2"}[first[0].endpoint.String()]
	sticky := packet("172.30.0.13", 80, list)
	res, err := fake.Trace(sticky)
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Destinations(); len(d) != 1 || d[first[0].endpoint] != 1 {
		t.Errorf("affinity: with recent list %s the tracer predicts %v, want only %s", list, d, first[0].endpoint)
	}
	for _, h := range check("affinity, later connections", sticky, 5) {
		if h.endpoint != first[0].endpoint {
			t.Errorf("affinity: the kernel moved the client from %s to %s", first[0].endpoint, h.endpoint)
		}
	}
}

// predicts reports whether some outcome of res with non-zero probability
// satisfies ok.
func predicts(res *proxytest.TraceResult, ok func(proxytest.Outcome) bool) bool {
	for _, o := range res.Outcomes {
		if o.Probability > 0 && ok(o) {
			return true
		}
	}
	return false
}
