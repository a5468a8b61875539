package main

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/examples/internal/agent"
	"github.com/nodekit/nodekit/examples/internal/manifest"
	"github.com/nodekit/nodekit/kubelet/kubelettest"
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
		Proxy:               proxy.Options{MasqueradeAll: true},
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
			Hook: "OUTPUT", OutInterface: nodeDevice, LocalAddrs: []netip.Addr{nodeIP}})
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

func TestConfigComplete(t *testing.T) {
	tests := []struct {
		name string
		cfg  config
		want string // "" for no error
	}{
		{"defaults", config{nodeName: "n", podCIDR: "10.88.0.0/16", serviceCIDR: "10.96.0.0/16"}, ""},
		{"bad node name", config{nodeName: "a/b", podCIDR: "10.88.0.0/16", serviceCIDR: "10.96.0.0/16"}, `--node-name "a/b"`},
		{"host network needs a node IP", config{nodeName: "n", hostNetwork: true, podCIDR: "10.88.0.0/16", serviceCIDR: "10.96.0.0/16"}, "--node-ip is required"},
		{"node IP without prefix", config{nodeName: "n", nodeIP: "10.0.0.1", podCIDR: "10.88.0.0/16", serviceCIDR: "10.96.0.0/16"}, `--node-ip "10.0.0.1"`},
		{"root cgroup", config{nodeName: "n", cgroupRoot: "/", podCIDR: "10.88.0.0/16", serviceCIDR: "10.96.0.0/16"}, "--cgroup-root"},
		{"backend", config{nodeName: "n", backend: "ebpf", podCIDR: "10.88.0.0/16", serviceCIDR: "10.96.0.0/16"}, "--iptables-backend"},
		{"service CIDR", config{nodeName: "n", podCIDR: "10.88.0.0/16", serviceCIDR: "fd00::/108"}, "--service-cidr"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.complete()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.cfg.stateDir != "/var/lib/nodekit/n" || tc.cfg.netnsName != "nodekit-n" || tc.cfg.cgroupRoot != "/nodekit/n" || tc.cfg.parsedNodeIP.String() != "10.87.0.2/24" {
					t.Errorf("defaults %+v", tc.cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestMountsUnder(t *testing.T) {
	if got := unescapeMountPath(`/a\040b/c\134d`); got != `/a b/c\d` {
		t.Errorf("unescape: %q", got)
	}
	mounts, err := mountsUnder("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) == 0 || mounts[len(mounts)-1] != "/proc" {
		t.Errorf("mounts under /proc %v; want /proc last (deepest first)", mounts)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := removeStateDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still there: %v", dir, err)
	}
}
