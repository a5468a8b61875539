package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/kubelettest"
	"github.com/nodekit/nodekit/proxy"
	"github.com/nodekit/nodekit/proxy/proxytest"
	"github.com/nodekit/nodekit/stats"
)

const (
	clusterIP = "10.96.0.10"
	nodePort  = 30080
	// fixturePod and fixtureContainer are a pod and container cgroup of the
	// stats package's cgroup v1 fixture tree.
	fixturePod       = "/kubepods/burstable/pod8f2c6d3e-3b7a-4d5e-9f10-2a6b7c8d9e01"
	fixtureContainer = fixturePod + "/3f9a1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8"
)

var nodeIP = netip.MustParseAddr("192.168.50.2")

func webPod(i int) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Namespace: "default", UID: types.UID(fmt.Sprintf("uid-web-%d", i)), Labels: map[string]string{"app": "web"}},
		Spec: v1.PodSpec{NodeName: "node-1", Containers: []v1.Container{{
			Name: "httpd", Image: "busybox",
			Ports: []v1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: v1.ProtocolTCP}},
		}}},
	}
}

func webService() *v1.Service {
	return &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "uid-svc-web"},
		Spec: v1.ServiceSpec{
			Type: v1.ServiceTypeNodePort, Selector: map[string]string{"app": "web"},
			ClusterIP: clusterIP, ClusterIPs: []string{clusterIP}, IPFamilies: []v1.IPFamily{v1.IPv4Protocol},
			Ports: []v1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: v1.ProtocolTCP, NodePort: nodePort}},
		},
	}
}

type testNode struct {
	agent *Agent
	rt    *kubelettest.FakeRuntime
	nf    *proxytest.FakeNetfilter
}

// run starts the agent's Run and returns the function that stops it and
// checks what it returned.
func (n *testNode) run(t *testing.T) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.agent.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

func newTestNode(t *testing.T, withStats bool) *testNode {
	t.Helper()
	rt := kubelettest.NewFakeRuntime(nil)
	nf := proxytest.NewFakeNetfilter(proxytest.IPv4)
	opts := Options{
		NodeName: "node-1", NodeIPs: []netip.Addr{nodeIP},
		Runtime: rt, Netfilter: nf,
		ProxySync:           proxy.SyncerOptions{MinSyncInterval: time.Millisecond, CheckInterval: -1},
		BuildEndpointSlices: true,
		Debounce:            time.Millisecond,
	}
	opts.Engine.RelistPeriod = 20 * time.Millisecond
	if withStats {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..", "..", "stats", "testdata", "v1")
		fsys, err := stats.NewFS(filepath.Join(root, "proc"), filepath.Join(root, "cgroup"))
		if err != nil {
			t.Fatal(err)
		}
		c, err := stats.NewCollector(fsys, stats.Options{NodePID: -1})
		if err != nil {
			t.Fatal(err)
		}
		opts.Stats, opts.RunStats = c, true
		// The fixture's cgroups stand for web-0 and its container.
		opts.Targets = func(_ context.Context, p *v1.Pod) ([]stats.Target, error) {
			if p.Name != "web-0" || len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Running == nil {
				return nil, nil
			}
			nn := types.NamespacedName{Namespace: p.Namespace, Name: p.Name}
			return []stats.Target{
				{ID: fixturePod, Pod: nn, PodUID: p.UID},
				{ID: fixtureContainer, Pod: nn, PodUID: p.UID, Container: "httpd", Image: "busybox"},
			}, nil
		}
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &testNode{agent: a, rt: rt, nf: nf}
}

// destinations traces a new TCP connection from the node to addr:port.
func (n *testNode) destinations(t *testing.T, dst netip.Addr, port uint16) map[netip.AddrPort]float64 {
	t.Helper()
	res, err := n.nf.Trace(proxytest.Packet{
		Src: nodeIP, Dst: dst, Proto: "tcp", SrcPort: 40000, DstPort: port,
		Hook: "OUTPUT", OutInterface: "eth0", LocalAddrs: []netip.Addr{nodeIP},
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.Destinations()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func podIPs(a *Agent) map[string]string {
	out := map[string]string{}
	for _, p := range a.Pods() {
		out[p.Name] = p.Status.PodIP
	}
	return out
}

func TestServiceFollowsPods(t *testing.T) {
	n := newTestNode(t, false)
	defer n.run(t)()

	n.agent.SetServices([]*v1.Service{webService()})
	if err := n.agent.SetPods([]*v1.Pod{webPod(0), webPod(1), webPod(2)}); err != nil {
		t.Fatal(err)
	}
	want := func(names ...string) map[netip.AddrPort]float64 {
		ips := podIPs(n.agent)
		m := map[netip.AddrPort]float64{}
		for _, name := range names {
			ip, err := netip.ParseAddr(ips[name])
			if err != nil {
				return nil // no IP yet
			}
			m[netip.AddrPortFrom(ip, 8080)] = 1 / float64(len(names))
		}
		return m
	}
	same := func(a, b map[netip.AddrPort]float64) bool {
		if a == nil || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if d := b[k] - v; d > 1e-6 || d < -1e-6 {
				return false
			}
		}
		return true
	}
	waitFor(t, "the cluster IP to reach the three pods", func() bool {
		return same(want("web-0", "web-1", "web-2"), n.destinations(t, netip.MustParseAddr(clusterIP), 80))
	})
	if got := n.destinations(t, nodeIP, nodePort); !same(want("web-0", "web-1", "web-2"), got) {
		t.Errorf("node port destinations %v", got)
	}
	waitFor(t, "the agent to report healthy", func() bool { ok, _ := n.agent.Healthy(); return ok })

	// A pod removed from the node leaves the service.
	if err := n.agent.SetPods([]*v1.Pod{webPod(0), webPod(2)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web-1 to leave the service", func() bool {
		return same(want("web-0", "web-2"), n.destinations(t, netip.MustParseAddr(clusterIP), 80))
	})

	// A service removed from the node loses its rules: the cluster IP is
	// no longer DNATed.
	n.agent.SetServices(nil)
	waitFor(t, "the service's rules to go", func() bool {
		got := n.destinations(t, netip.MustParseAddr(clusterIP), 80)
		return len(got) == 1 && got[netip.AddrPort{}] == 1
	})
}

func TestHandler(t *testing.T) {
	n := newTestNode(t, true)
	defer n.run(t)()
	n.agent.SetServices([]*v1.Service{webService()})
	if err := n.agent.SetPods([]*v1.Pod{webPod(0), webPod(1)}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(n.agent.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	waitFor(t, "healthz", func() bool { code, _ := get("/healthz"); return code == 200 })
	waitFor(t, "both pods running", func() bool {
		_, body := get("/pods")
		var list v1.PodList
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatal(err)
		}
		running := 0
		for _, p := range list.Items {
			if p.Status.Phase == v1.PodRunning && p.Status.PodIP != "" {
				running++
			}
		}
		return len(list.Items) == 2 && running == 2
	})
	waitFor(t, "the stats summary to show web-0", func() bool {
		code, body := get("/stats/summary")
		if code != 200 {
			t.Fatalf("summary: %d %s", code, body)
		}
		var s statsapi.Summary
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			t.Fatal(err)
		}
		for _, p := range s.Pods {
			if p.PodRef.Name == "web-0" && len(p.Containers) == 1 && p.Containers[0].Name == "httpd" && p.Memory != nil {
				return true
			}
		}
		return false
	})
	// The engine's running gauges follow its relists, made every second.
	var metrics string
	waitFor(t, "the running pods and containers in the metrics", func() bool {
		code, body := get("/metrics")
		if code != 200 {
			t.Fatalf("metrics: %d", code)
		}
		metrics = body
		return strings.Contains(body, "kubelet_running_pods 2") && strings.Contains(body, `kubelet_running_containers{container_state="running"} 2`)
	})
	for _, want := range []string{
		`kube_pod_status_phase{namespace="default",phase="Running",pod="web-1",uid="uid-web-1"} 1`,
		`kube_pod_status_ready{condition="true",namespace="default",pod="web-0",uid="uid-web-0"} 1`,
		`kube_pod_container_status_restarts_total{container="httpd",namespace="default",pod="web-0",uid="uid-web-0"} 0`,
		"kubeproxy_sync_proxy_rules_last_timestamp_seconds",
		`container_memory_working_set_bytes{container="httpd"`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestRemoveAll(t *testing.T) {
	n := newTestNode(t, false)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- n.agent.Run(ctx) }()
	n.agent.SetServices(nil)
	if err := n.agent.SetPods([]*v1.Pod{webPod(0), webPod(1)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "two sandboxes", func() bool { return len(n.rt.Sandboxes()) == 2 })
	if err := n.agent.RemoveAll(context.Background()); err == nil {
		t.Error("RemoveAll while Run is active did not fail")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Stopping the agent leaves the pods running.
	if got := len(n.rt.Sandboxes()); got != 2 {
		t.Fatalf("%d sandboxes after Run returned, want 2", got)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	if err := n.agent.RemoveAll(rctx); err != nil {
		t.Fatal(err)
	}
	if len(n.rt.Sandboxes()) != 0 || len(n.rt.Containers()) != 0 {
		t.Fatalf("left behind:\n%s", n.rt.Dump())
	}
}

func TestNewRefusesMissingOptions(t *testing.T) {
	if _, err := New(Options{NodeName: "n"}); err == nil {
		t.Error("no runtime and netfilter accepted")
	}
	if _, err := New(Options{NodeName: "n", Runtime: kubelettest.NewFakeRuntime(nil), Netfilter: proxytest.NewFakeNetfilter(proxytest.IPv4), Stats: &stats.Collector{}}); err == nil {
		t.Error("stats without targets accepted")
	}
}

// TestReadinessProbeGatesEndpoints: a pod whose readiness probe fails is
// in the Service's slice as not ready, and the cluster IP has no endpoint;
// once the probe passes, traffic goes to it.
func TestReadinessProbeGatesEndpoints(t *testing.T) {
	n := newTestNode(t, false)
	var ready atomic.Bool
	n.rt.SetExecHandler(func(_ context.Context, _ kubelet.ContainerStatus, cmd []string) (kubelet.ExecResult, error) {
		if ready.Load() {
			return kubelet.ExecResult{}, nil
		}
		return kubelet.ExecResult{ExitCode: 1}, nil
	})
	defer n.run(t)()
	pod := webPod(0)
	pod.Spec.Containers[0].ReadinessProbe = &v1.Probe{
		ProbeHandler:  v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"test", "-f", "/ready"}}},
		PeriodSeconds: 1,
	}
	n.agent.SetServices([]*v1.Service{webService()})
	if err := n.agent.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	cip := netip.MustParseAddr(clusterIP)
	waitFor(t, "a running, unready pod in the slice", func() bool {
		p := n.agent.Pods()[0]
		slices := n.agent.EndpointSlices()
		return p.Status.Phase == v1.PodRunning && len(slices) == 1 && len(slices[0].Endpoints) == 1 &&
			!*slices[0].Endpoints[0].Conditions.Ready && !*slices[0].Endpoints[0].Conditions.Serving
	})
	// The service's rules reject: it has no ready endpoint.
	waitFor(t, "the rules to reject", func() bool { return len(n.destinations(t, cip, 80)) == 0 })
	ready.Store(true)
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := n.destinations(t, cip, 80)
		if len(got) == 1 && got[netip.AddrPortFrom(netip.MustParseAddr(n.agent.Pods()[0].Status.PodIP), 8080)] == 1 {
			break
		}
		if time.Now().After(deadline) {
			p := n.agent.Pods()[0]
			t.Fatalf("the probe passed but traffic does not reach the pod: destinations %v\nstatus %+v\nslices %+v\nruntime:\n%s",
				got, p.Status, n.agent.EndpointSlices(), n.rt.Dump())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRemovedPodTerminates: a pod dropped from the node stays in its
// Service's slice as terminating (not ready, still serving) while the engine
// stops it, gets no new connections while other endpoints are ready, and
// leaves the slice once it is gone.
func TestRemovedPodTerminates(t *testing.T) {
	n := newTestNode(t, false)
	defer n.run(t)()
	n.agent.SetServices([]*v1.Service{webService()})
	if err := n.agent.SetPods([]*v1.Pod{webPod(0), webPod(1)}); err != nil {
		t.Fatal(err)
	}
	cip := netip.MustParseAddr(clusterIP)
	waitFor(t, "two endpoints", func() bool { return len(n.destinations(t, cip, 80)) == 2 })
	// Stopping web-1's container takes a while.
	n.rt.SetLatency(kubelettest.OpStopContainer, "uid-web-1", 2*time.Second)
	if err := n.agent.SetPods([]*v1.Pod{webPod(0)}); err != nil {
		t.Fatal(err)
	}
	conditions := func() map[string]string {
		out := map[string]string{}
		for _, s := range n.agent.EndpointSlices() {
			for _, e := range s.Endpoints {
				out[e.TargetRef.Name] = fmt.Sprintf("ready=%v serving=%v terminating=%v", *e.Conditions.Ready, *e.Conditions.Serving, *e.Conditions.Terminating)
			}
		}
		return out
	}
	waitFor(t, "web-1 terminating in the slice", func() bool {
		return conditions()["web-1"] == "ready=false serving=true terminating=true"
	})
	var term *v1.Pod
	for _, p := range n.agent.Pods() {
		if p.Name == "web-1" {
			term = p
		}
	}
	if term == nil || term.DeletionTimestamp == nil {
		t.Fatalf("web-1 is not shown as being deleted: %+v", term)
	}
	// Once the proxy has synced that, new connections go to web-0 only,
	// while web-1 is still terminating.
	waitFor(t, "new connections to go to the ready endpoint only", func() bool {
		return len(n.destinations(t, cip, 80)) == 1 && conditions()["web-1"] == "ready=false serving=true terminating=true"
	})
	waitFor(t, "web-1 to leave the slice", func() bool {
		c := conditions()
		_, there := c["web-1"]
		return !there && c["web-0"] == "ready=true serving=true terminating=false"
	})
	if got := len(n.agent.Pods()); got != 1 {
		t.Errorf("%d pods after termination, want 1", got)
	}
}
