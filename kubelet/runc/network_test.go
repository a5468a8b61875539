package runc

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

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
	// The second container's environment holds the pod's IP, which its
	// CreateContainer waits for.
	pod.Spec.Containers[1].Env = []v1.EnvVar{{Name: "POD_IP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.podIP"}}}}
	// The containers are created as the engine does while the pod network
	// may still be being set up: with the IPs of the sandbox's status
	// right after RunPodSandbox, which may have none yet.
	sbID, err := r.RunPodSandbox(ctx, sandboxConfig(pod))
	if err != nil {
		t.Fatal(err)
	}
	early, err := r.PodSandboxStatus(ctx, sbID)
	if err != nil || early.State != kubelet.SandboxReady {
		t.Fatalf("sandbox status right after RunPodSandbox = %+v, %v", early, err)
	}
	var ids []string
	for i := range pod.Spec.Containers {
		id, err := r.CreateContainer(ctx, sbID, containerConfig(pod, i, early.IPs))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	st, err := r.PodSandboxStatus(ctx, sbID)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.IPs) != 1 {
		t.Fatalf("sandbox IPs after StartContainer = %v; want one", st.IPs)
	}
	ip := netip.MustParseAddr(st.IPs[0])
	if !netip.MustParsePrefix(e.subnet).Contains(ip) {
		t.Fatalf("pod IP %s not in %s", ip, e.subnet)
	}
	if res, err := r.ExecSync(ctx, ids[1], []string{"sh", "-c", "echo $POD_IP"}, 5*time.Second); err != nil || strings.TrimSpace(string(res.Stdout)) != ip.String() {
		t.Errorf("POD_IP = %q, %v; want %s", res.Stdout, err, ip)
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

// TestPodNetworkFailure runs a pod whose CNI ADD fails (a plugin that
// refuses every ADD and accepts DEL): the sandbox turns NotReady, the
// container is never started and stays Created (no exit is reported), and
// removal leaves nothing behind.
func TestPodNetworkFailure(t *testing.T) {
	e := newTestEnv(t, true)
	plugins := t.TempDir()
	script := "#!/bin/sh\n[ \"$CNI_COMMAND\" = DEL ] && exit 0\n" +
		`echo '{"cniVersion":"1.0.0","code":11,"msg":"refused by the test"}'` + "\nexit 1\n"
	if err := os.WriteFile(filepath.Join(plugins, "nodekit-refuse"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e.opts.Network.PluginDirs = append([]string{plugins}, e.opts.Network.PluginDirs...)
	e.opts.Network.ConfList = []byte(`{"cniVersion":"1.0.0","name":"broken","plugins":[{"type":"nodekit-refuse"}]}`)
	r := e.newRuntime(t)
	ctx := context.Background()
	pod := testPod("netfail", []string{"sleep", "3600"})
	sbID, id := createPod(t, r, pod)
	if err := r.StartContainer(ctx, id); !errors.Is(err, ErrNetwork) {
		t.Fatalf("StartContainer = %v; want ErrNetwork", err)
	}
	if st, err := r.ContainerStatus(ctx, id); err != nil || st.State != kubelet.ContainerCreated {
		t.Errorf("container after the failed network = %+v, %v; want Created", st, err)
	}
	if st, err := r.PodSandboxStatus(ctx, sbID); err != nil || st.State != kubelet.SandboxNotReady {
		t.Errorf("sandbox after the failed network = %+v, %v; want NotReady", st, err)
	}
	if err := r.RemovePodSandbox(ctx, sbID); err != nil {
		t.Fatal(err)
	}
	assertNoLeftovers(t, e, r)
}

// TestInternalLoopback brings a pod's loopback up without the CNI loopback
// plugin: its containers talk over 127.0.0.1, the plugin leaves no cached
// result, and the sandbox's removal leaves nothing.
func TestInternalLoopback(t *testing.T) {
	e := newTestEnv(t, true)
	e.opts.Network.InternalLoopback = true
	r := e.newRuntime(t)
	ctx := context.Background()
	pod := testPod("lo", []string{"sh", "-c", "mkdir -p /tmp/www && echo hello-over-lo > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"})
	sbID, ids := startPod(t, r, pod, 1)
	var out string
	waitFor(t, 20*time.Second, "the server over 127.0.0.1", func() bool {
		res, err := r.ExecSync(ctx, ids[0], []string{"wget", "-q", "-O", "-", "http://127.0.0.1:8080/"}, 5*time.Second)
		out = string(res.Stdout)
		return err == nil && res.ExitCode == 0 && strings.TrimSpace(out) == "hello-over-lo"
	})
	cached, err := filepath.Glob(filepath.Join(r.opts.Network.CacheDir, "results", "cni-loopback-*"))
	if err != nil || len(cached) != 0 {
		t.Errorf("CNI loopback results cached: %v, %v", cached, err)
	}
	if err := r.RemovePodSandbox(ctx, sbID); err != nil {
		t.Fatal(err)
	}
	assertNoLeftovers(t, e, r)
}
