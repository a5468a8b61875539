package runc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodekit/nodekit/internal/netnstest"
	"github.com/nodekit/nodekit/internal/privtest"
	"github.com/nodekit/nodekit/kubelet"
)

const testImage = "busybox:test"

// requireTools skips (or fails under CI) tests that need root and the tools.
func requireTools(t testing.TB) {
	t.Helper()
	privtest.Require(t, "runc", "conmon", "cni:bridge", "cni:host-local", "cni:loopback", "busybox")
}

func randomSuffix(t testing.TB) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// testEnv is a state root with a busybox image, a cgroup root of its own and,
// when networked, a node network namespace with a bridge subnet of its own.
type testEnv struct {
	root       string
	images     DirImageStore
	cgroupRoot string
	node       *netnstest.Namespace
	subnet     string
	opts       Options
}

func newTestEnv(t testing.TB, networked bool) *testEnv {
	t.Helper()
	requireTools(t)
	// A short path: conmon's attach socket names must fit in sun_path.
	root, err := os.MkdirTemp("", "nkrunc-")
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{
		root:       filepath.Join(root, "state"),
		images:     DirImageStore(filepath.Join(root, "images")),
		cgroupRoot: "/nodekit-runc-test-" + randomSuffix(t),
	}
	if err := WriteBusyboxImage(context.Background(), e.images, testImage, ""); err != nil {
		t.Fatal(err)
	}
	e.opts = Options{
		Images:     e.images,
		CgroupRoot: e.cgroupRoot,
		Network: NetworkOptions{
			PluginDirs: privtest.CNIPluginDirs(),
			BridgeName: "nk" + randomSuffix(t),
		},
		KillTimeout: 10 * time.Second,
	}
	if networked {
		sb := netnstest.New(t)
		e.node = sb.Namespace("node")
		var b [1]byte
		_, _ = rand.Read(b[:])
		e.subnet = "10.88." + strconv.Itoa(int(b[0])) + ".0/24"
		e.opts.Network.Subnet = e.subnet
		e.opts.Network.NodeNetNSPath = e.node.Path
	} else {
		// No sandbox of a non-networked env may use CNI: a subnet that is
		// never attached keeps the options valid.
		e.opts.Network.Subnet = "10.88.255.0/24"
		e.opts.Network.NodeNetNSPath = "/nonexistent-node-netns"
	}
	t.Cleanup(func() { e.cleanup(t) })
	return e
}

// cleanup removes whatever a failed test left: every sandbox through a fresh
// Runtime, then the state directory and the cgroup root.
func (e *testEnv) cleanup(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if r, err := New(e.root, e.opts); err == nil {
		sbs, _ := r.ListPodSandboxes(ctx, kubelet.SandboxFilter{})
		for _, sb := range sbs {
			if err := r.RemovePodSandbox(ctx, sb.ID); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		cs, _ := r.ListContainers(ctx, kubelet.ContainerFilter{})
		for _, c := range cs {
			if err := r.RemoveContainer(ctx, c.ID); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	}
	// Whatever the runtime failed to stop (a test that broke it) is
	// killed through the test's cgroups, so no container outlives the test.
	if killed := killCgroupProcesses(e.cgroupRoot); killed > 0 {
		t.Errorf("cleanup: killed %d processes the runtime left running", killed)
		time.Sleep(200 * time.Millisecond)
	}
	if err := unmountUnder(filepath.Dir(e.root)); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	_ = os.RemoveAll(filepath.Dir(e.root))
	if err := removeCgroup(DefaultCgroupFSRoot, e.cgroupRoot); err != nil {
		t.Errorf("cleanup cgroups: %v", err)
	}
}

func (e *testEnv) newRuntime(t testing.TB) *Runtime {
	t.Helper()
	r, err := New(e.root, e.opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// testPod returns a pod with one busybox container per command.
func testPod(name string, commands ...[]string) *v1.Pod {
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
	}
	for i, cmd := range commands {
		pod.Spec.Containers = append(pod.Spec.Containers, v1.Container{
			Name:                     "c" + strconv.Itoa(i),
			Image:                    testImage,
			Command:                  cmd,
			TerminationMessagePolicy: v1.TerminationMessageReadFile,
		})
	}
	return pod
}

func sandboxConfig(pod *v1.Pod) *kubelet.SandboxConfig {
	return &kubelet.SandboxConfig{
		PodUID:       pod.UID,
		PodName:      pod.Name,
		PodNamespace: pod.Namespace,
		Hostname:     pod.Name,
		HostNetwork:  pod.Spec.HostNetwork,
		CgroupParent: kubelet.PodCgroupName(pod, kubelet.CgroupDriverCgroupfs),
		Labels:       map[string]string{kubelet.LabelPodUID: string(pod.UID)},
		Pod:          pod,
	}
}

func containerConfig(pod *v1.Pod, i int, ips []string) *kubelet.ContainerConfig {
	c := &pod.Spec.Containers[i]
	return &kubelet.ContainerConfig{
		Name:        c.Name,
		PodUID:      pod.UID,
		Image:       c.Image,
		Labels:      map[string]string{kubelet.LabelContainerName: c.Name},
		Annotations: map[string]string{"test": "yes"},
		Pod:         pod,
		Container:   c,
		PodIPs:      ips,
	}
}

// waitFor polls cond every 20ms up to timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rootNetworkSnapshot is what must not change in the machine's own network
// namespace: the link names and the iptables rules.
func rootNetworkSnapshot(t testing.TB) string {
	t.Helper()
	privtest.Require(t, "ip", "iptables-save")
	links, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatalf("ip link: %v", err)
	}
	var names []string
	for _, l := range strings.Split(string(links), "\n") {
		f := strings.Fields(l)
		if len(f) > 1 {
			names = append(names, f[1])
		}
	}
	out := "links: " + strings.Join(names, " ") + "\n"
	rules, err := exec.Command("iptables-save").Output()
	if err != nil {
		t.Fatalf("iptables-save: %v", err)
	}
	{
		for _, l := range strings.Split(string(rules), "\n") {
			if strings.HasPrefix(l, "#") {
				continue
			}
			if i := strings.LastIndex(l, " ["); i >= 0 && strings.HasPrefix(l, ":") {
				l = l[:i]
			}
			out += l + "\n"
		}
	}
	return out
}

// killCgroupProcesses sends SIGKILL to every process in the cgroups below
// cgroupRoot and returns how many it found.
func killCgroupProcesses(cgroupRoot string) int {
	killed := map[int]bool{}
	for _, h := range cgroupHierarchies(DefaultCgroupFSRoot) {
		_ = filepath.WalkDir(filepath.Join(h, cgroupRoot), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			data, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
					if !killed[pid] && syscall.Kill(pid, syscall.SIGKILL) == nil {
						killed[pid] = true
					}
				}
			}
			return nil
		})
	}
	return len(killed)
}

// startPod runs pod's sandbox and creates and starts its containers, all of
// them or the first n when n is given, and returns the sandbox's and the
// containers' IDs.
func startPod(t testing.TB, r *Runtime, pod *v1.Pod, n ...int) (string, []string) {
	t.Helper()
	ctx := context.Background()
	sbID, err := r.RunPodSandbox(ctx, sandboxConfig(pod))
	if err != nil {
		t.Fatal(err)
	}
	count := len(pod.Spec.Containers)
	if len(n) > 0 {
		count = n[0]
	}
	var ids []string
	for i := range count {
		id, err := r.CreateContainer(ctx, sbID, containerConfig(pod, i, nil))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return sbID, ids
}

// createPod runs pod's sandbox and creates its first container, without
// starting it, and returns the sandbox's and the container's IDs.
func createPod(t testing.TB, r *Runtime, pod *v1.Pod) (string, string) {
	t.Helper()
	ctx := context.Background()
	sbID, err := r.RunPodSandbox(ctx, sandboxConfig(pod))
	if err != nil {
		t.Fatal(err)
	}
	id, err := r.CreateContainer(ctx, sbID, containerConfig(pod, 0, nil))
	if err != nil {
		t.Fatal(err)
	}
	return sbID, id
}
