package main

import (
	"context"
	"net/netip"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/examples/internal/agent"
	"github.com/nodekit/nodekit/kubelet/kubelettest"
	"github.com/nodekit/nodekit/proxy"
	"github.com/nodekit/nodekit/proxy/proxytest"
	"github.com/nodekit/nodekit/stats"
)

const nodeName = "node-a"

var nodeIP = netip.MustParseAddr("192.168.7.2")

type env struct {
	client *fake.Clientset
	rt     *kubelettest.FakeRuntime
	nf     *proxytest.FakeNetfilter
	agent  *agent.Agent
}

// start runs an agent on the fake runtime and netfilter, fed by a fake
// clientset holding objs.
func start(t *testing.T, objs ...runtime.Object) *env {
	t.Helper()
	e := &env{client: fake.NewClientset(objs...), rt: kubelettest.NewFakeRuntime(nil), nf: proxytest.NewFakeNetfilter(proxytest.IPv4)}
	opts := agent.Options{
		NodeName: nodeName, NodeIPs: []netip.Addr{nodeIP}, Runtime: e.rt, Netfilter: e.nf,
		ProxySync: proxy.SyncerOptions{MinSyncInterval: time.Millisecond, CheckInterval: -1},
		Debounce:  time.Millisecond,
	}
	opts.Engine.RelistPeriod = 20 * time.Millisecond
	a, err := agent.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e.agent = a
	cn := newClusterNode(e.client, nodeName, a, clusterOptions{
		NodeIPs: []netip.Addr{nodeIP}, Heartbeat: 50 * time.Millisecond,
		Machine: stats.Machine{NumCores: 2, MemoryCapacityBytes: 4 << 30, KernelVersion: "6.18"},
	})
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { errs <- a.Run(ctx) }()
	go func() { errs <- cn.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for range 2 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	})
	return e
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pod(name, node string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec: v1.PodSpec{NodeName: node, Containers: []v1.Container{{Name: "c", Image: "busybox",
			Ports: []v1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: v1.ProtocolTCP}}}}},
	}
}

func (e *env) apiPod(t *testing.T, name string) *v1.Pod {
	t.Helper()
	p, err := e.client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRegistersNode(t *testing.T) {
	e := start(t)
	var node *v1.Node
	waitFor(t, "the node to be Ready", func() bool {
		n, err := e.client.CoreV1().Nodes().Get(context.Background(), nodeName, metav1.GetOptions{})
		if err != nil {
			return false
		}
		node = n
		for _, c := range n.Status.Conditions {
			if c.Type == v1.NodeReady {
				return c.Status == v1.ConditionTrue && c.Reason == "KubeletReady"
			}
		}
		return false
	})
	if got := node.Status.Capacity; got.Cpu().Value() != 2 || got.Memory().Value() != 4<<30 || got.Pods().Value() != defaultMaxPods {
		t.Errorf("capacity %v", got)
	}
	if len(node.Status.Addresses) < 1 || node.Status.Addresses[0] != (v1.NodeAddress{Type: v1.NodeInternalIP, Address: nodeIP.String()}) {
		t.Errorf("addresses %v", node.Status.Addresses)
	}
	if node.Labels[v1.LabelHostname] != nodeName || node.Status.NodeInfo.KernelVersion != "6.18" {
		t.Errorf("labels %v, node info %+v", node.Labels, node.Status.NodeInfo)
	}
	var first time.Time
	waitFor(t, "the lease to be renewed", func() bool {
		l, err := e.client.CoordinationV1().Leases(leaseNamespace).Get(context.Background(), nodeName, metav1.GetOptions{})
		if err != nil || l.Spec.RenewTime == nil || *l.Spec.HolderIdentity != nodeName {
			return false
		}
		if first.IsZero() {
			first = l.Spec.RenewTime.Time
			return false
		}
		return l.Spec.RenewTime.After(first)
	})
}

func TestRunsBoundPodsAndWritesStatus(t *testing.T) {
	e := start(t, pod("mine", nodeName), pod("theirs", "node-b"))
	waitFor(t, "the bound pod's status in the API", func() bool {
		p := e.apiPod(t, "mine")
		return p.Status.Phase == v1.PodRunning && p.Status.PodIP != "" && len(p.Status.ContainerStatuses) == 1 &&
			p.Status.ContainerStatuses[0].Ready
	})
	if p := e.apiPod(t, "theirs"); p.Status.Phase != "" {
		t.Errorf("a pod bound to another node got a status: %+v", p.Status)
	}
	if got := len(e.rt.Sandboxes()); got != 1 {
		t.Errorf("%d sandboxes, want 1 (only the bound pod)", got)
	}

	// A pod created later runs too.
	if _, err := e.client.CoreV1().Pods("default").Create(context.Background(), pod("later", nodeName), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the later pod to run", func() bool { return e.apiPod(t, "later").Status.Phase == v1.PodRunning })

	// A container exit shows in the API as a restart.
	if err := e.rt.ExitByName("uid-later", "c", 1, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the restart to be reported", func() bool {
		cs := e.apiPod(t, "later").Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount == 1 && cs[0].LastTerminationState.Terminated != nil
	})
}

func TestDeletedPodIsTerminatedThenRemoved(t *testing.T) {
	e := start(t, pod("doomed", nodeName))
	waitFor(t, "the pod to run", func() bool { return e.apiPod(t, "doomed").Status.Phase == v1.PodRunning })
	// The API server's graceful delete: a deletion timestamp and grace
	// period on the object, which stays until the node deletes it.
	p := e.apiPod(t, "doomed")
	now := metav1.Now()
	p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &now, ptr.To[int64](5)
	if _, err := e.client.CoreV1().Pods("default").Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the node to delete the pod object", func() bool {
		_, err := e.client.CoreV1().Pods("default").Get(context.Background(), "doomed", metav1.GetOptions{})
		return err != nil
	})
	waitFor(t, "the pod's sandbox to go", func() bool { return len(e.rt.Sandboxes()) == 0 })
}

func TestServicesAndSlicesFromTheCluster(t *testing.T) {
	svc := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: v1.ServiceSpec{ClusterIP: "10.96.0.20", ClusterIPs: []string{"10.96.0.20"}, IPFamilies: []v1.IPFamily{v1.IPv4Protocol},
			Selector: map[string]string{"app": "web"},
			Ports:    []v1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: v1.ProtocolTCP}}},
	}
	slice := &discovery.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-abcde", Namespace: "default", Labels: map[string]string{discovery.LabelServiceName: "web"}},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(v1.ProtocolTCP)}},
		Endpoints: []discovery.Endpoint{
			{Addresses: []string{"10.244.1.5"}, Conditions: discovery.EndpointConditions{Ready: ptr.To(true)}, NodeName: ptr.To("node-b")},
			{Addresses: []string{"10.244.2.7"}, Conditions: discovery.EndpointConditions{Ready: ptr.To(true)}, NodeName: ptr.To("node-c")},
		},
	}
	e := start(t, svc, slice)
	trace := func() map[netip.AddrPort]float64 {
		res, err := e.nf.Trace(proxytest.Packet{Src: nodeIP, Dst: netip.MustParseAddr("10.96.0.20"), Proto: "tcp", SrcPort: 40000, DstPort: 80,
			Hook: "OUTPUT", OutInterface: "eth0", LocalAddrs: []netip.Addr{nodeIP}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Destinations()
	}
	waitFor(t, "the cluster IP to reach the slice's endpoints", func() bool {
		d := trace()
		return len(d) == 2 && d[netip.MustParseAddrPort("10.244.1.5:8080")] > 0.49 && d[netip.MustParseAddrPort("10.244.2.7:8080")] > 0.49
	})
	// An endpoint removed from the slice in the cluster leaves the rules.
	slice.Endpoints = slice.Endpoints[:1]
	if _, err := e.client.DiscoveryV1().EndpointSlices("default").Update(context.Background(), slice, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the removed endpoint to leave", func() bool {
		d := trace()
		return len(d) == 1 && d[netip.MustParseAddrPort("10.244.1.5:8080")] == 1
	})
}
