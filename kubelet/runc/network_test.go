package runc

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nodekit/nodekit/kubelet"
)

func TestPodNetwork(t *testing.T) {
	before := rootNetworkSnapshot(t)
	e := newTestEnv(t, true)
	r := e.newRuntime(t)
	ctx := context.Background()

	pod := testPod("net",
		[]string{"sh", "-c", "mkdir -p /tmp/www && echo hello-from-$(hostname) > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"},
		[]string{"sh", "-c", "until wget -q -O - http://127.0.0.1:8080/; do sleep 0.1; done; exec sleep 3600"},
	)
	sbID, err := r.RunPodSandbox(ctx, sandboxConfig(pod))
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.PodSandboxStatus(ctx, sbID)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.IPs) != 1 {
		t.Fatalf("sandbox IPs = %v; want one", st.IPs)
	}
	ip := netip.MustParseAddr(st.IPs[0])
	if !netip.MustParsePrefix(e.subnet).Contains(ip) {
		t.Fatalf("pod IP %s not in %s", ip, e.subnet)
	}
	for i := range pod.Spec.Containers {
		id, err := r.CreateContainer(ctx, sbID, containerConfig(pod, i, st.IPs))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	logPath := r.ContainerLogPath(pod.Namespace, pod.Name, pod.UID, "c1", 0)
	waitFor(t, 20*time.Second, "the client container to reach the server over localhost", func() bool {
		data, _ := os.ReadFile(logPath)
		return strings.Contains(string(data), "stdout F hello-from-net")
	})
	// The bridge lives in the node's namespace, not the machine's.
	if _, err := e.node.Run(ctx, "ip", "link", "show", r.opts.Network.BridgeName); err != nil {
		t.Errorf("bridge %s not in the node namespace: %v", r.opts.Network.BridgeName, err)
	}
	// The pod is reachable from the node's namespace at its IP.
	out, err := e.node.Run(ctx, "busybox", "wget", "-q", "-O", "-", "http://"+ip.String()+":8080/")
	if err != nil || strings.TrimSpace(string(out)) != "hello-from-net" {
		t.Errorf("wget from the node namespace: %q, %v", out, err)
	}
	// /etc/hosts names the pod at its IP.
	cs, _ := r.ListContainers(ctx, kubelet.ContainerFilter{SandboxID: sbID, State: kubelet.ContainerRunning})
	if len(cs) != 2 {
		t.Fatalf("running containers = %d; want 2", len(cs))
	}
	res, err := r.ExecSync(ctx, cs[0].ID, []string{"cat", "/etc/hosts"}, 5*time.Second)
	if err != nil || !strings.Contains(string(res.Stdout), ip.String()+"\tnet") {
		t.Errorf("/etc/hosts = %q, %v; want a line for %s", res.Stdout, err, ip)
	}

	if err := r.StopPodSandbox(ctx, sbID); err != nil {
		t.Fatal(err)
	}
	if st, _ := r.PodSandboxStatus(ctx, sbID); st.State != kubelet.SandboxNotReady || len(st.IPs) != 0 {
		t.Errorf("stopped sandbox = %+v; want NotReady without IPs", st)
	}
	if err := r.RemovePodSandbox(ctx, sbID); err != nil {
		t.Fatal(err)
	}
	assertNoLeftovers(t, e, r)
	if after := rootNetworkSnapshot(t); after != before {
		t.Errorf("the root network namespace changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
