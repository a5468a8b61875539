package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/examples/internal/agent"
	"github.com/nodekit/nodekit/examples/internal/manifest"
	"github.com/nodekit/nodekit/examples/internal/realnode"
	"github.com/nodekit/nodekit/kubelet/kubelettest"
	"github.com/nodekit/nodekit/kubelet/prober"
	"github.com/nodekit/nodekit/proxy"
	"github.com/nodekit/nodekit/proxy/proxytest"
)

// mainEnv makes the test binary run the program instead of the tests, so
// that the demo can start "itself" as the node, and tests can run the
// program as a subprocess.
const mainEnv = "NODEKIT_EXAMPLE_NODE_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// podDialer stands in for a dialer into the node namespace on the fake
// runtime, which runs no httpd: every connection goes to one loopback
// server answering 200, and the addresses dialed are recorded.
type podDialer struct {
	server string
	mu     sync.Mutex
	dialed map[string]bool
}

func (d *podDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	d.mu.Lock()
	d.dialed[address] = true
	d.mu.Unlock()
	return (&net.Dialer{}).DialContext(ctx, network, d.server)
}

func (d *podDialer) wasDialed(address string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dialed[address]
}

// TestExampleManifests runs the example manifests on the fake runtime and
// the fake netfilter: the web Service's cluster IP and node port reach the
// three web pods, and nothing else. The web pods' probes (httpGet, and
// tcpSocket for web-2) dial through the prober's DialContext, as the node
// does into its namespace.
func TestExampleManifests(t *testing.T) {
	set, err := manifest.NewSource("manifests", manifest.Options{NodeName: "demo"}).Load()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range set.Pods {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, " "); got != "crashloop memory-limit shared-pid web-0 web-1 web-2" {
		t.Fatalf("pods %q", got)
	}
	if len(set.Services) != 1 || set.Services[0].Spec.ClusterIP != "10.96.0.10" || set.Services[0].Spec.Ports[0].NodePort != 30080 {
		t.Fatalf("services %+v", set.Services)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	dialer := &podDialer{server: srv.Listener.Addr().String(), dialed: map[string]bool{}}

	rt := kubelettest.NewFakeRuntime(nil)
	nf := proxytest.NewFakeNetfilter(proxytest.IPv4)
	nodeIP := netip.MustParseAddr("10.87.0.2")
	a, err := agent.New(agent.Options{
		NodeName: "demo", NodeIPs: []netip.Addr{nodeIP}, Runtime: rt, Netfilter: nf,
		Proxy:               proxy.Options{MasqueradeAll: true},
		Prober:              prober.Options{DialContext: dialer.DialContext},
		ProxySync:           proxy.SyncerOptions{MinSyncInterval: time.Millisecond, CheckInterval: -1},
		BuildEndpointSlices: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	a.SetServices(set.Services)
	if err := a.SetPods(set.Pods); err != nil {
		t.Fatal(err)
	}
	webIPs := func() map[netip.AddrPort]bool {
		out := map[netip.AddrPort]bool{}
		for _, p := range a.Pods() {
			if strings.HasPrefix(p.Name, "web-") && p.Status.PodIP != "" {
				out[netip.AddrPortFrom(netip.MustParseAddr(p.Status.PodIP), 8080)] = true
			}
		}
		return out
	}
	trace := func(dst netip.Addr, port uint16) map[netip.AddrPort]float64 {
		res, err := nf.Trace(proxytest.Packet{Src: nodeIP, Dst: dst, Proto: "tcp", SrcPort: 40000, DstPort: port,
			Hook: "OUTPUT", OutInterface: realnode.NodeDevice, LocalAddrs: []netip.Addr{nodeIP}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Destinations()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		want := webIPs()
		got := trace(netip.MustParseAddr("10.96.0.10"), 80)
		ok := len(want) == 3 && len(got) == 3
		for ap := range got {
			ok = ok && want[ap]
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster IP reaches %v, want the web pods %v", got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := trace(nodeIP, 30080); len(got) != 3 {
		t.Errorf("node port reaches %v", got)
	}
	for _, p := range a.Pods() {
		if p.Status.Phase != v1.PodRunning {
			t.Errorf("%s is %s on the fake runtime", p.Name, p.Status.Phase)
		}
		if strings.HasPrefix(p.Name, "web-") && !dialer.wasDialed(net.JoinHostPort(p.Status.PodIP, "8080")) {
			t.Errorf("%s was not probed through the prober's DialContext", p.Name)
		}
	}
}
