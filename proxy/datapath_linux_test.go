package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/internal/netnstest"
	"github.com/nodekit/nodekit/internal/privtest"
	"github.com/nodekit/nodekit/proxy"
)

// The datapath tests run real packets through the rules the library
// writes with the real iptables tools. Topology, all in namespaces the
// test creates (no route out of them):
//
//	client (192.168.77.2, .3; fd00:77::2) --c0/n0-- node (192.168.77.1; fd00:77::1)
//	node --n1/p0-- pod1 (10.180.0.5; fd00:180::5)
//	node --n2/p0-- pod2 (10.180.0.6; fd00:180::6)
//
// Pods are routed, not bridged (as with Calico): each has a /32 (/128)
// address and a default route to the node, which routes each pod address
// to its veth. The node namespace runs the Syncer; each pod serves TCP on
// :8080 and UDP on :5353, answering with its address (and, for TCP, the
// peer it sees). External and load-balancer IPs are outside the client's
// subnet, so the client sends them to the node.

const (
	dpNode      = "node-a"
	dpClientIP  = "192.168.77.2"
	dpClientIP2 = "192.168.77.3" // outside the LB source range
	dpNodeIP    = "192.168.77.1"
	dpNodePodIP = "10.180.0.1"
	dpEP1       = "10.180.0.5"
	dpEP2       = "10.180.0.6"
	dpEP1v6     = "fd00:180::5"
	dpEP2v6     = "fd00:180::6"
	dpExtIP     = "192.168.99.100"
	dpLBIP      = "192.168.99.200"
)

// rootFirewall returns the root namespace's rules with both backends, to
// prove the tests never touch them.
func rootFirewall(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	for _, tool := range []string{"iptables-nft-save", "ip6tables-nft-save", "iptables-legacy-save", "ip6tables-legacy-save"} {
		if _, err := exec.LookPath(tool); err != nil {
			continue
		}
		out, err := exec.Command(tool).Output()
		if err != nil {
			t.Fatalf("%s in the root namespace: %v", tool, err)
		}
		b.WriteString(dpNormalize(string(out)))
	}
	return b.String()
}

var dpCounters = regexp.MustCompile(`\[\d+:\d+\]`)

// dpNormalize drops comments and counters from iptables-save output.
func dpNormalize(saved string) string {
	var b strings.Builder
	for _, line := range strings.Split(saved, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b.WriteString(dpCounters.ReplaceAllString(line, "[0:0]"))
		b.WriteByte('\n')
	}
	return b.String()
}

// requireRootUntouched checks at the end of the test that the root
// namespace's firewall is what it was at the start.
func requireRootUntouched(t testing.TB) {
	before := rootFirewall(t)
	t.Cleanup(func() {
		if after := rootFirewall(t); after != before {
			t.Errorf("the root namespace's firewall changed during the test:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
}

type dpWorld struct {
	client, node, pod1, pod2 *netnstest.Namespace
}

// podNS returns the namespace of an endpoint address.
func (w *dpWorld) podNS(ip string) *netnstest.Namespace {
	if ip == dpEP1 || ip == dpEP1v6 {
		return w.pod1
	}
	return w.pod2
}

func newDPWorld(t *testing.T) *dpWorld {
	t.Helper()
	privtest.Require(t, "iptables", "iptables-restore", "iptables-save", "ip6tables", "ip6tables-restore", "sysctl")
	requireRootUntouched(t)
	sb := netnstest.New(t)
	w := &dpWorld{client: sb.Namespace("client"), node: sb.Namespace("node"), pod1: sb.Namespace("pod1"), pod2: sb.Namespace("pod2")}
	sb.Veth(w.client, "c0", w.node, "n0")
	sb.Veth(w.node, "n1", w.pod1, "p0")
	sb.Veth(w.node, "n2", w.pod2, "p0")
	w.client.AddAddr(t, "c0", dpClientIP+"/24")
	w.client.AddAddr(t, "c0", dpClientIP2+"/24")
	w.node.AddAddr(t, "n0", dpNodeIP+"/24")
	w.node.AddAddr(t, "n1", dpNodePodIP+"/32")
	w.client.MustRun(t, "ip", "addr", "add", "fd00:77::2/64", "dev", "c0", "nodad")
	w.node.MustRun(t, "ip", "addr", "add", "fd00:77::1/64", "dev", "n0", "nodad")
	w.client.AddRoute(t, "default", "via", dpNodeIP)
	w.client.MustRun(t, "ip", "-6", "route", "add", "default", "via", "fd00:77::1")
	for _, pod := range []struct {
		ns          *netnstest.Namespace
		dev, v4, v6 string
	}{{w.pod1, "n1", dpEP1, dpEP1v6}, {w.pod2, "n2", dpEP2, dpEP2v6}} {
		pod.ns.AddAddr(t, "p0", pod.v4+"/32")
		pod.ns.MustRun(t, "ip", "addr", "add", pod.v6+"/128", "dev", "p0", "nodad")
		pod.ns.MustRun(t, "ip", "route", "add", dpNodePodIP, "dev", "p0")
		pod.ns.MustRun(t, "ip", "route", "add", "default", "via", dpNodePodIP, "dev", "p0")
		w.node.MustRun(t, "ip", "addr", "add", "fe80::1/64", "dev", pod.dev, "nodad")
		pod.ns.MustRun(t, "ip", "-6", "route", "add", "default", "via", "fe80::1", "dev", "p0")
		w.node.MustRun(t, "ip", "route", "add", pod.v4+"/32", "dev", pod.dev, "src", dpNodePodIP)
		w.node.MustRun(t, "ip", "-6", "route", "add", pod.v6+"/128", "dev", pod.dev)
	}
	// Service IPs must be routed for the filter-table REJECTs in FORWARD
	// to see them (kube-proxy nodes route them by their default route).
	// The same for external and load-balancer IPs whose traffic is not
	// DNATed (a source outside loadBalancerSourceRanges): without a route
	// the node would answer "network unreachable" before FORWARD drops it.
	w.node.AddRoute(t, "172.30.0.0/16", "dev", "n1")
	w.node.AddRoute(t, "192.168.99.0/24", "dev", "n1")
	w.node.MustRun(t, "ip", "-6", "route", "add", "fd00:30::/64", "dev", "n1")
	w.node.MustRun(t, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
	w.node.MustRun(t, "sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1")
	for _, ip := range []string{dpEP1, dpEP2, dpEP1v6, dpEP2v6} {
		w.serveTCP(t, ip)
		w.serveUDP(t, ip)
	}
	return w
}

// serveTCP answers each connection to ip:8080 with "ip peer\n".
func (w *dpWorld) serveTCP(t *testing.T, ip string) {
	var ln net.Listener
	if err := w.podNS(ip).Do(func() (err error) { ln, err = net.Listen("tcp", net.JoinHostPort(ip, "8080")); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			peer := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
			fmt.Fprintf(c, "%s %s\n", ip, peer)
			c.Close()
		}
	}()
}

// serveUDP answers each datagram to ip:5353 with "ip".
func (w *dpWorld) serveUDP(t *testing.T, ip string) {
	var pc net.PacketConn
	if err := w.podNS(ip).Do(func() (err error) { pc, err = net.ListenPacket("udp", net.JoinHostPort(ip, "5353")); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 64)
		for {
			_, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte(ip), addr) //nolint:errcheck
		}
	}()
}

// dial connects from ns to addr (optionally from src) and returns the
// endpoint's answer ("ip peer") or the dial error.
func dial(ns *netnstest.Namespace, src, addr string, timeout time.Duration) (string, error) {
	var answer string
	var dialErr error
	err := ns.Do(func() error {
		d := net.Dialer{Timeout: timeout}
		if src != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
		}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			dialErr = err
			return nil
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout)) //nolint:errcheck
		buf := make([]byte, 128)
		n, err := c.Read(buf)
		if err != nil {
			dialErr = err
			return nil
		}
		answer = strings.TrimSpace(string(buf[:n]))
		return nil
	})
	if err != nil {
		return "", err
	}
	return answer, dialErr
}

// udpAsk sends one datagram from ns to addr and returns the answer.
func udpAsk(ns *netnstest.Namespace, addr string) (string, error) {
	var answer string
	var askErr error
	err := ns.Do(func() error {
		c, err := net.DialTimeout("udp", addr, time.Second)
		if err != nil {
			askErr = err
			return nil
		}
		defer c.Close()
		answer, askErr = udpExchange(c)
		return nil
	})
	if err != nil {
		return "", err
	}
	return answer, askErr
}

func udpExchange(c net.Conn) (string, error) {
	if _, err := c.Write([]byte("?")); err != nil {
		return "", err
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second)) //nolint:errcheck
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// dpService builds a service with one port "p" (80, or 53 for UDP) whose
// endpoints listen on 8080 (TCP) or 5353 (UDP).
func dpService(name, clusterIP string, proto v1.Protocol, mutate ...func(*v1.Service)) *v1.Service {
	port := int32(80)
	if proto == v1.ProtocolUDP {
		port = 53
	}
	return makeService("dp", name, func(s *v1.Service) {
		s.Spec.ClusterIP = clusterIP
		s.Spec.Ports = []v1.ServicePort{{Name: "p", Port: port, Protocol: proto}}
		for _, m := range mutate {
			m(s)
		}
	})
}

func dpSlice(svc string, proto v1.Protocol, node string, addrs ...string) *discovery.EndpointSlice {
	port := int32(8080)
	if proto == v1.ProtocolUDP {
		port = 5353
	}
	return makeSlice("dp", svc, 0, func(s *discovery.EndpointSlice) {
		if len(addrs) > 0 && strings.Contains(addrs[0], ":") {
			s.AddressType = discovery.AddressTypeIPv6
		}
		s.Ports = []discovery.EndpointPort{{Name: ptr.To("p"), Port: ptr.To(port), Protocol: ptr.To(proto)}}
		for _, a := range addrs {
			s.Endpoints = append(s.Endpoints, discovery.Endpoint{Addresses: []string{a}, NodeName: ptr.To(node)})
		}
	})
}

// dpObjects are the IPv4 services of the datapath tests.
func dpObjects() ([]*v1.Service, []*discovery.EndpointSlice) {
	svcs := []*v1.Service{
		dpService("web", "172.30.0.10", v1.ProtocolTCP, func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = 30080
			s.Spec.ExternalIPs = []string{dpExtIP}
		}),
		dpService("dns", "172.30.0.11", v1.ProtocolUDP),
		dpService("lb", "172.30.0.12", v1.ProtocolTCP, func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeLoadBalancer
			s.Spec.Ports[0].NodePort = 30081
			s.Spec.LoadBalancerSourceRanges = []string{dpClientIP + "/32"}
			s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: dpLBIP}}
		}),
		dpService("sticky", "172.30.0.13", v1.ProtocolTCP, func(s *v1.Service) {
			s.Spec.SessionAffinity = v1.ServiceAffinityClientIP
		}),
		dpService("elsewhere", "172.30.0.14", v1.ProtocolTCP, func(s *v1.Service) {
			s.Spec.Type = v1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = 30090
			s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
		}),
		dpService("empty", "172.30.0.15", v1.ProtocolTCP),
	}
	slices := []*discovery.EndpointSlice{
		dpSlice("web", v1.ProtocolTCP, dpNode, dpEP1, dpEP2),
		dpSlice("dns", v1.ProtocolUDP, dpNode, dpEP1, dpEP2),
		dpSlice("lb", v1.ProtocolTCP, dpNode, dpEP1, dpEP2),
		dpSlice("sticky", v1.ProtocolTCP, dpNode, dpEP1, dpEP2),
		dpSlice("elsewhere", v1.ProtocolTCP, "node-b", dpEP1, dpEP2),
	}
	return svcs, slices
}

// dpProxy is a Proxier, the real IPTables of the node namespace and a
// Syncer over them.
type dpProxy struct {
	p  *proxy.Proxier
	nf *proxy.IPTables
	ct *proxy.NetlinkConntrack
	s  *proxy.Syncer
}

// setObjects gives the proxy the Services and slices of dpObjects.
func (d *dpProxy) setObjects(t *testing.T) {
	t.Helper()
	svcs, slices := dpObjects()
	if err := d.p.SetState(svcs, slices); err != nil {
		t.Fatal(err)
	}
}

func newDPProxy(t *testing.T, w *dpWorld, family v1.IPFamily, opts proxy.SyncerOptions) *dpProxy {
	t.Helper()
	return newDPProxyOn(t, w, family, proxy.BackendAuto, opts)
}

func newDPProxyOn(t *testing.T, w *dpWorld, family v1.IPFamily, backend proxy.BackendMode, opts proxy.SyncerOptions) *dpProxy {
	t.Helper()
	nodeIP, cidr := dpNodeIP, "10.180.0.0/24"
	if family == v1.IPv6Protocol {
		nodeIP, cidr = "fd00:77::1", "fd00:180::/64"
	}
	p := newProxier(t, proxy.Options{NodeName: dpNode, IPFamily: family,
		NodeIPs: []netip.Addr{netip.MustParseAddr(nodeIP)}, ClusterCIDR: netip.MustParsePrefix(cidr)})
	nf, err := proxy.NewIPTables(context.Background(), proxy.IPTablesOptions{IPFamily: family, Backend: backend, NetNS: w.node.Path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nf.Close)
	ct, err := proxy.NewNetlinkConntrack(w.node.Path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ct.Close() })
	opts.Conntrack = ct
	return &dpProxy{p: p, nf: nf, ct: ct, s: proxy.NewSyncer(p, nf, opts)}
}

func (d *dpProxy) sync(t *testing.T) {
	t.Helper()
	if r := d.s.SyncOnce(context.Background()); r.Err != nil {
		t.Fatalf("sync: %v", r.Err)
	}
}

// spread connects n times and counts the endpoints reached.
func spread(t *testing.T, ns *netnstest.Namespace, addr string, n int) map[string]int {
	t.Helper()
	hits := map[string]int{}
	for range n {
		a, err := dial(ns, "", addr, 3*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		hits[strings.Fields(a)[0]]++
	}
	return hits
}

// checkShare fails unless each of eps got a share of n within bounds: with
// two endpoints and n = 200, the bounds 60..140 are more than 5.5
// standard deviations (7.07) from the mean of 100.
func checkShare(t *testing.T, what string, hits map[string]int, n int, eps ...string) {
	t.Helper()
	lo, hi := n*3/10, n*7/10
	for _, ep := range eps {
		if hits[ep] < lo || hits[ep] > hi {
			t.Errorf("%s: endpoint %s got %d of %d connections, want %d..%d (all: %v)", what, ep, hits[ep], n, lo, hi, hits)
		}
	}
	if len(hits) != len(eps) {
		t.Errorf("%s: reached %v, want only %v", what, hits, eps)
	}
}

func TestDatapathServices(t *testing.T) {
	w := newDPWorld(t)
	d := newDPProxy(t, w, v1.IPv4Protocol, proxy.SyncerOptions{})
	d.setObjects(t)
	d.sync(t)
	t.Logf("backend %+v", d.nf.Backend())

	t.Run("ClusterIP TCP reaches every endpoint", func(t *testing.T) {
		// From the pod namespace (pods use ClusterIPs).
		checkShare(t, "ClusterIP", spread(t, w.pod1, "172.30.0.10:80", 200), 200, dpEP1, dpEP2)
	})
	t.Run("ClusterIP UDP reaches every endpoint", func(t *testing.T) {
		hits := map[string]int{}
		for range 200 {
			a, err := udpAsk(w.pod1, "172.30.0.11:53")
			if err != nil {
				t.Fatal(err)
			}
			hits[a]++
		}
		checkShare(t, "ClusterIP UDP", hits, 200, dpEP1, dpEP2)
	})
	t.Run("NodePort from the client", func(t *testing.T) {
		checkShare(t, "NodePort", spread(t, w.client, dpNodeIP+":30080", 100), 100, dpEP1, dpEP2)
	})
	t.Run("externalIP", func(t *testing.T) {
		checkShare(t, "externalIP", spread(t, w.client, dpExtIP+":80", 100), 100, dpEP1, dpEP2)
	})
	t.Run("LB IP with source ranges", func(t *testing.T) {
		if a, err := dial(w.client, dpClientIP, dpLBIP+":80", 3*time.Second); err != nil {
			t.Errorf("allowed source: %v", err)
		} else {
			t.Logf("allowed source reached %s", a)
		}
		if a, err := dial(w.client, dpClientIP2, dpLBIP+":80", time.Second); !isTimeout(err) {
			t.Errorf("source outside the range: got %q, %v; want the SYN dropped (timeout)", a, err)
		}
	})
	t.Run("session affinity sticks", func(t *testing.T) {
		first, err := dial(w.client, "", "172.30.0.13:80", 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			a, err := dial(w.client, "", "172.30.0.13:80", 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Fields(a)[0] != strings.Fields(first)[0] {
				t.Fatalf("connection %d went to %s, the first to %s", i+2, a, first)
			}
		}
	})
	t.Run("ETP=Local without local endpoints drops external traffic", func(t *testing.T) {
		if a, err := dial(w.client, "", dpNodeIP+":30090", time.Second); !isTimeout(err) {
			t.Errorf("got %q, %v; want the SYN dropped (timeout)", a, err)
		}
		// Pods still reach the ClusterIP (cluster traffic policy).
		if _, err := dial(w.pod1, "", "172.30.0.14:80", 3*time.Second); err != nil {
			t.Errorf("ClusterIP of the ETP=Local service from a pod: %v", err)
		}
	})
	t.Run("no endpoints: fast connection refused", func(t *testing.T) {
		start := time.Now()
		_, err := dial(w.client, "", "172.30.0.15:80", 5*time.Second)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("err = %v, want ECONNREFUSED", err)
		}
		t.Logf("refused after %s", time.Since(start))
	})
	t.Run("hairpin", func(t *testing.T) {
		// A pod reaching its own service ends up at itself sometimes: the
		// connection from dpEP1 to the ClusterIP must work whichever
		// endpoint is chosen; when it is itself, the source is the node.
		self := 0
		for range 20 {
			a, err := dial(w.pod1, dpEP1, "172.30.0.10:80", 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if f := strings.Fields(a); f[0] == dpEP1 {
				self++
				if f[1] != dpNodePodIP {
					t.Errorf("hairpin connection seen from %s, want the node (masqueraded)", f[1])
				}
			}
		}
		if self == 0 {
			t.Errorf("20 connections never hairpinned (probability 1e-6)")
		}
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestDatapathIPv6ClusterIP(t *testing.T) {
	w := newDPWorld(t)
	d := newDPProxy(t, w, v1.IPv6Protocol, proxy.SyncerOptions{})
	svc := dpService("web6", "fd00:30::10", v1.ProtocolTCP, func(s *v1.Service) { s.Spec.IPFamilies = []v1.IPFamily{v1.IPv6Protocol} })
	if err := d.p.SetState([]*v1.Service{svc}, []*discovery.EndpointSlice{dpSlice("web6", v1.ProtocolTCP, dpNode, dpEP1v6, dpEP2v6)}); err != nil {
		t.Fatal(err)
	}
	d.sync(t)
	checkShare(t, "IPv6 ClusterIP", spread(t, w.client, "[fd00:30::10]:80", 100), 100, dpEP1v6, dpEP2v6)
}

func TestDatapathUDPEndpointRemovedMidFlow(t *testing.T) {
	w := newDPWorld(t)
	d := newDPProxy(t, w, v1.IPv4Protocol, proxy.SyncerOptions{})
	d.setObjects(t)
	d.sync(t)
	// One UDP "connection": the same socket keeps sending.
	var conn net.Conn
	if err := w.client.Do(func() (err error) { conn, err = net.Dial("udp", "172.30.0.11:53"); return err }); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	first, err := udpExchange(conn)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if a, err := udpExchange(conn); err != nil || a != first {
			t.Fatalf("flow moved before any change: %q %v (first %s)", a, err, first)
		}
	}
	remaining := dpEP1
	if first == dpEP1 {
		remaining = dpEP2
	}
	d.p.OnEndpointSliceUpdate(nil, dpSlice("dns", v1.ProtocolUDP, dpNode, remaining))
	r := d.s.SyncOnce(context.Background())
	if r.Err != nil || r.ConntrackDeleted == 0 {
		t.Fatalf("sync: %+v, want the stale entry deleted", r)
	}
	for range 5 {
		if a, err := udpExchange(conn); err != nil || a != remaining {
			t.Fatalf("after removing %s: answer %q, %v; want %s", first, a, err, remaining)
		}
	}
	// To zero endpoints: the flow must not stick to the last one either.
	d.p.OnEndpointSliceDelete(dpSlice("dns", v1.ProtocolUDP, dpNode))
	if r := d.s.SyncOnce(context.Background()); r.Err != nil || r.ConntrackDeleted == 0 {
		t.Fatalf("sync to zero endpoints: %+v", r)
	}
	if a, err := udpExchange(conn); err == nil {
		t.Errorf("a service without endpoints still answered %q", a)
	}
}

func TestDatapathDriftRepairAndRejectedPayload(t *testing.T) {
	w := newDPWorld(t)
	results := make(chan proxy.SyncResult, 64)
	const check = 300 * time.Millisecond
	d := newDPProxy(t, w, v1.IPv4Protocol, proxy.SyncerOptions{CheckInterval: check, MinSyncInterval: 50 * time.Millisecond,
		OnSync: func(r proxy.SyncResult) {
			select {
			case results <- r:
			default:
			}
		}})
	d.setObjects(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); d.s.Run(ctx) }() //nolint:errcheck
	t.Cleanup(func() { cancel(); wg.Wait() })
	if r := <-results; r.Err != nil {
		t.Fatal(r.Err)
	}
	works := func() error { _, err := dial(w.client, "", "172.30.0.10:80", time.Second); return err }
	if err := works(); err != nil {
		t.Fatal(err)
	}
	// waitRepaired waits for the repair sync and checks traffic.
	waitRepaired := func(what string) {
		t.Helper()
		deadline := time.After(30 * time.Second)
		for {
			select {
			case r := <-results:
				if r.Drift != nil {
					t.Logf("%s: repaired by a full sync after %v (check interval %v): %v", what, r.Duration, check, r.Drift)
					if r.Err != nil {
						t.Fatalf("%s: repair failed: %v", what, r.Err)
					}
					if err := works(); err != nil {
						t.Fatalf("%s: traffic after repair: %v", what, err)
					}
					return
				}
			case <-deadline:
				t.Fatalf("%s: not repaired", what)
			}
		}
	}

	w.node.MustRun(t, "iptables", "-t", "nat", "-F")
	if err := works(); err == nil {
		t.Logf("traffic still flows right after the flush (the repair was quicker)")
	}
	waitRepaired("iptables -t nat -F")

	// Delete the KUBE-SVC chain of dp/web:p.
	svcChain := proxy.ServicePortChainName(proxy.ServicePortName{NamespacedName: types.NamespacedName{Namespace: "dp", Name: "web"}, Port: "p", Protocol: v1.ProtocolTCP})
	saved := w.node.MustRun(t, "iptables-save", "-t", "nat")
	for _, line := range strings.Split(saved, "\n") {
		if strings.HasPrefix(line, "-A ") && strings.HasSuffix(line, "-j "+svcChain) {
			args := append([]string{"iptables", "-t", "nat", "-D"}, splitSaved(t, strings.TrimPrefix(line, "-A "))...)
			w.node.MustRun(t, args...)
		}
	}
	w.node.MustRun(t, "iptables", "-t", "nat", "-F", svcChain)
	w.node.MustRun(t, "iptables", "-t", "nat", "-X", svcChain)
	waitRepaired("deleted " + svcChain)

	// A payload the kernel rejects changes nothing: the nat section
	// flushes KUBE-SERVICES and then fails.
	before := dpNormalize(w.node.MustRun(t, "iptables-save"))
	bad := "*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j KUBE-NOWHERE\nCOMMIT\n"
	err := d.nf.Restore(context.Background(), []byte(bad))
	var re *proxy.RestoreError
	if !errors.As(err, &re) || re.Line == 0 {
		t.Fatalf("bad payload: %v, want a *RestoreError naming a line", err)
	}
	t.Logf("rejected: %v; context %q", re, re.Context)
	if after := dpNormalize(w.node.MustRun(t, "iptables-save")); after != before {
		t.Errorf("a rejected payload changed the rules:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if err := works(); err != nil {
		t.Errorf("traffic after a rejected payload: %v", err)
	}
}

// dropEmptyTables removes the tables that hold only built-in chains with
// policy ACCEPT and no rule from normalized iptables-save output.
func dropEmptyTables(saved string) string {
	var b strings.Builder
	for _, section := range strings.SplitAfter(saved, "COMMIT\n") {
		empty := true
		for _, line := range strings.Split(section, "\n") {
			if strings.HasPrefix(line, "-") || (strings.HasPrefix(line, ":") && !strings.Contains(line, " ACCEPT ")) {
				empty = false
			}
		}
		if !empty {
			b.WriteString(section)
		}
	}
	return b.String()
}

// splitSaved splits an iptables-save rule into arguments, unquoting.
func splitSaved(t *testing.T, line string) []string {
	var out []string
	var cur strings.Builder
	inQuote := false
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case c == '"':
			inQuote = !inQuote
		case c == ' ' && !inQuote:
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if inQuote {
		t.Fatalf("unterminated quote in %q", line)
	}
	return append(out, cur.String())
}

func TestDatapathCleanupRestoresTables(t *testing.T) {
	w := newDPWorld(t)
	// Someone else's rules, which must survive.
	cmd := w.node.Command(context.Background(), "iptables-restore", "--noflush")
	cmd.Stdin = strings.NewReader(foreignRules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	before := dpNormalize(w.node.MustRun(t, "iptables-save"))
	d := newDPProxy(t, w, v1.IPv4Protocol, proxy.SyncerOptions{})
	d.setObjects(t)
	d.sync(t)
	if err := d.p.Bootstrap(context.Background(), d.nf); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(w.client, "", "172.30.0.10:80", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := proxy.Cleanup(context.Background(), d.nf); err != nil {
		t.Fatal(err)
	}
	// The canary created the mangle table, which the iptables tools cannot
	// delete; empty, it changes no packet.
	if after := dropEmptyTables(dpNormalize(w.node.MustRun(t, "iptables-save"))); after != before {
		t.Errorf("tables after Cleanup differ:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if err := proxy.Cleanup(context.Background(), d.nf); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
}

// TestDatapathLegacyBackend runs a sync, traffic, drift repair and Cleanup
// on iptables-legacy.
func TestDatapathLegacyBackend(t *testing.T) {
	privtest.Require(t, "iptables-legacy", "iptables-legacy-restore", "iptables-legacy-save")
	w := newDPWorld(t)
	before := dpNormalize(w.node.MustRun(t, "iptables-legacy-save"))
	d := newDPProxyOn(t, w, v1.IPv4Protocol, proxy.BackendLegacy, proxy.SyncerOptions{})
	if b := d.nf.Backend(); b.Mode != proxy.BackendLegacy || b.Restore != "iptables-legacy-restore" {
		t.Fatalf("backend %+v", b)
	}
	d.setObjects(t)
	d.sync(t)
	checkShare(t, "ClusterIP on legacy", spread(t, w.client, "172.30.0.10:80", 100), 100, dpEP1, dpEP2)
	ctx := context.Background()
	w.node.MustRun(t, "iptables-legacy", "-t", "nat", "-F")
	if err := d.p.CheckDriftQuick(ctx, d.nf); !errors.Is(err, proxy.ErrDrift) {
		t.Fatalf("CheckDriftQuick after a flush: %v", err)
	}
	if _, err := d.p.CheckDrift(ctx, d.nf); !errors.Is(err, proxy.ErrDrift) {
		t.Fatalf("CheckDrift after a flush: %v", err)
	}
	d.p.RequestFullSync()
	if err := d.p.Bootstrap(ctx, d.nf); err != nil {
		t.Fatal(err)
	}
	d.sync(t)
	if _, err := d.p.CheckDrift(ctx, d.nf); err != nil {
		t.Fatalf("after repair: %v", err)
	}
	if _, err := dial(w.client, "", "172.30.0.10:80", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := proxy.Cleanup(ctx, d.nf); err != nil {
		t.Fatal(err)
	}
	if after := dropEmptyTables(dpNormalize(w.node.MustRun(t, "iptables-legacy-save"))); after != dropEmptyTables(before) {
		t.Errorf("tables after Cleanup differ:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
