package proxytest_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
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
// two endpoints in the pod namespace, ClusterIP 172.30.0.11:80 without
// endpoints (REJECT), and ClusterIP 172.30.0.12:80 whose masquerade rule
// treats 10.99.0.0/16 (the client) as cluster traffic.
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
-A KUBE-SVC-FWDTESTBBBBBBBBBB -m comment --comment "ns/web2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.12 --dport 80 ! -s 10.99.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-FWDTESTBBBBBBBBBB -m comment --comment "ns/web2:p80 -> 10.180.0.5:8080" -j KUBE-SEP-FWDTESTAAAAAAAAA1
-A KUBE-SEP-FWDTESTAAAAAAAAA1 -m comment --comment ns/web:p80 -s 10.180.0.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-FWDTESTAAAAAAAAA1 -m comment --comment ns/web:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.5:8080
-A KUBE-SEP-FWDTESTAAAAAAAAA2 -m comment --comment ns/web:p80 -s 10.180.0.6 -j KUBE-MARK-MASQ
-A KUBE-SEP-FWDTESTAAAAAAAAA2 -m comment --comment ns/web:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.6:8080
COMMIT
`

// TestTraceMatchesRealForwarding checks the tracer against netfilter
// itself: the payload is loaded into both the fake and a node namespace
// that routes between a client namespace (10.99.0.2) and a pod namespace
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
	client.AddAddr(t, "c0", "10.99.0.2/24")
	node.AddAddr(t, "n0", "10.99.0.1/24")
	node.AddAddr(t, "n1", "10.180.0.1/24")
	pod.AddAddr(t, "p0", "10.180.0.5/24")
	pod.AddAddr(t, "p0", "10.180.0.6/24")
	client.AddRoute(t, "default", "via", "10.99.0.1")
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

	clientIP := netip.MustParseAddr("10.99.0.2")
	nodePodSide := netip.MustParseAddr("10.180.0.1")
	for _, svc := range []string{"172.30.0.10", "172.30.0.12", "172.30.0.11"} {
		res, err := fake.Trace(proxytest.Packet{
			Src: clientIP, Dst: netip.MustParseAddr(svc), Proto: "tcp", SrcPort: 40000, DstPort: 80,
			Hook: "PREROUTING", InInterface: "n0", OutInterface: "n1",
			LocalAddrs: []netip.Addr{netip.MustParseAddr("10.99.0.1"), nodePodSide},
		})
		if err != nil {
			t.Fatal(err)
		}
		for attempt := range 6 {
			var dialErr error
			if err := client.Do(func() error {
				conn, err := net.DialTimeout("tcp", svc+":80", 5*time.Second)
				if err == nil {
					conn.Close()
				}
				dialErr = err
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if dialErr != nil {
				if !errors.Is(dialErr, syscall.ECONNREFUSED) {
					t.Fatalf("%s attempt %d: %v", svc, attempt, dialErr)
				}
				if !predicts(res, func(o proxytest.Outcome) bool { return o.Verdict == "REJECT" }) {
					t.Errorf("%s: the kernel refused the connection; the tracer predicted:\n%s", svc, res)
				}
				continue
			}
			var h hit
			select {
			case h = <-hits:
			case <-ctx.Done():
				t.Fatalf("%s: connected but no endpoint saw it", svc)
			}
			masqueraded := h.peer == nodePodSide
			if !masqueraded && h.peer != clientIP {
				t.Errorf("%s: endpoint saw source %s, neither the client nor the node", svc, h.peer)
			}
			if !predicts(res, func(o proxytest.Outcome) bool {
				return o.Verdict == "ACCEPT" && o.DNAT == h.endpoint && o.Masquerade == masqueraded
			}) {
				t.Errorf("%s: the kernel sent the connection to %s with source %s (masquerade %v); the tracer predicted:\n%s", svc, h.endpoint, h.peer, masqueraded, res)
			}
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
