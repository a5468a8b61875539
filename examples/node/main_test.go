package main

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strings"
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

// TestExampleManifests runs the example manifests on the fake runtime and
// the fake netfilter: the web Service's cluster IP and node port reach the
// three web pods, and nothing else.
// answer200 answers every HTTP request with 200 OK.
type answer200 struct{}

func (answer200) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
}

func TestExampleManifests(t *testing.T) {
	set, err := manifest.NewSource("manifests", manifest.Options{NodeName: "demo"}).Load()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range set.Pods {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, " "); got != "crashloop memory-limit web-0 web-1 web-2" {
		t.Fatalf("pods %q", got)
	}
	if len(set.Services) != 1 || set.Services[0].Spec.ClusterIP != "10.96.0.10" || set.Services[0].Spec.Ports[0].NodePort != 30080 {
		t.Fatalf("services %+v", set.Services)
	}

	rt := kubelettest.NewFakeRuntime(nil)
	nf := proxytest.NewFakeNetfilter(proxytest.IPv4)
	nodeIP := netip.MustParseAddr("10.87.0.2")
	a, err := agent.New(agent.Options{
		NodeName: "demo", NodeIPs: []netip.Addr{nodeIP}, Runtime: rt, Netfilter: nf,
		Proxy: proxy.Options{MasqueradeAll: true},
		// The web pods' HTTP readiness probes: the fake runtime runs no
		// httpd, so a transport stands in for it.
		Prober:              prober.Options{HTTPTransport: answer200{}},
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
	}
}
