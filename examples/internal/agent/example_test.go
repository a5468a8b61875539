package agent_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodekit/nodekit/examples/internal/agent"
	"github.com/nodekit/nodekit/kubelet/kubelettest"
	"github.com/nodekit/nodekit/proxy"
	"github.com/nodekit/nodekit/proxy/proxytest"
)

// A node on the kubelet's fake runtime and the proxy's fake netfilter: the
// pod runs, the Service's slice is built from it, and the rules send the
// cluster IP to the pod.
func ExampleAgent() {
	nodeIP := netip.MustParseAddr("192.168.1.10")
	nf := proxytest.NewFakeNetfilter(proxytest.IPv4)
	a, err := agent.New(agent.Options{
		NodeName: "node-1", NodeIPs: []netip.Addr{nodeIP},
		Runtime:             kubelettest.NewFakeRuntime(nil),
		Netfilter:           nf,
		ProxySync:           proxy.SyncerOptions{MinSyncInterval: time.Millisecond, CheckInterval: -1},
		BuildEndpointSlices: true,
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx)

	a.SetServices([]*v1.Service{{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: v1.ServiceSpec{ClusterIP: "10.96.0.10", Selector: map[string]string{"app": "web"},
			Ports: []v1.ServicePort{{Port: 80, Protocol: v1.ProtocolTCP}}},
	}})
	_ = a.SetPods([]*v1.Pod{{
		ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "default", UID: "uid-web-0", Labels: map[string]string{"app": "web"}},
		Spec:       v1.PodSpec{NodeName: "node-1", Containers: []v1.Container{{Name: "httpd", Image: "busybox"}}},
	}})
	for {
		res, err := nf.Trace(proxytest.Packet{Src: nodeIP, Dst: netip.MustParseAddr("10.96.0.10"), Proto: "tcp",
			SrcPort: 40000, DstPort: 80, Hook: "OUTPUT", OutInterface: "eth0", LocalAddrs: []netip.Addr{nodeIP}})
		if err == nil && len(res.Outcomes) == 1 && res.Outcomes[0].DNAT.IsValid() {
			pod := a.Pods()[0]
			fmt.Println(pod.Name, pod.Status.Phase, res.Outcomes[0].DNAT.Addr().String() == pod.Status.PodIP)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Output: web-0 Running true
}
