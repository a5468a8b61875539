package runc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/kubelet"
)

// pauseArgs is the pause process of the tests: busybox sleep (a real pause
// also reaps orphans).
var pauseArgs = []string{"sleep", "2147483647"}

// TestSharedProcessNamespace runs a pod with shareProcessNamespace: its
// containers see each other's processes and the pause process as PID 1; a
// pod without it sees only its own; a dead pause makes the sandbox not
// ready; removal leaves nothing behind.
func TestSharedProcessNamespace(t *testing.T) {
	e := newTestEnv(t, false)
	e.opts.PauseImage = testImage
	e.opts.PauseCommand = pauseArgs
	r := e.newRuntime(t)
	ctx := context.Background()

	run := func(name string, share bool) (string, []string) {
		t.Helper()
		pod := testPod(name, []string{"sleep", "3600"}, []string{"sleep", "3601"})
		pod.Spec.HostNetwork = true
		pod.Spec.ShareProcessNamespace = ptr.To(share)
		return startPod(t, r, pod)
	}
	exec := func(id string, cmd ...string) string {
		t.Helper()
		res, err := r.ExecSync(ctx, id, cmd, 10*time.Second)
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("exec %v: %+v, %v", cmd, res, err)
		}
		return string(res.Stdout)
	}

	sbID, ids := run("shared", true)
	ps := exec(ids[1], "ps", "-o", "pid,args")
	for _, want := range []string{"1 sleep 2147483647", "sleep 3600", "sleep 3601"} {
		if !strings.Contains(ps, want) {
			t.Errorf("ps in the second container lacks %q:\n%s", want, ps)
		}
	}
	if got := exec(ids[0], "cat", "/proc/1/cmdline"); got != "sleep\x002147483647\x00" {
		t.Errorf("PID 1 of the first container runs %q, want the pause process", got)
	}
	_, own := run("isolated", false)
	ps = exec(own[1], "ps", "-o", "pid,args")
	if strings.Contains(ps, "sleep 3600") || strings.Contains(ps, "2147483647") || !strings.Contains(ps, "1 sleep 3601") {
		t.Errorf("ps in a pod without shareProcessNamespace:\n%s", ps)
	}

	// The pause process dies: the sandbox is not ready, and the kernel
	// killed the rest of the PID namespace with it.
	sb, err := r.sandbox(sbID)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(sb.Pause.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "sandbox not ready", func() bool {
		st, err := r.PodSandboxStatus(ctx, sbID)
		return err == nil && st.State == kubelet.SandboxNotReady
	})
	for _, id := range ids {
		waitFor(t, 10*time.Second, "container killed with the pause process", func() bool {
			st, err := r.ContainerStatus(ctx, id)
			return err == nil && st.State == kubelet.ContainerExited
		})
	}
	if sbs, _ := r.ListPodSandboxes(ctx, kubelet.SandboxFilter{State: kubelet.SandboxReady}); len(sbs) != 1 {
		t.Errorf("%d ready sandboxes, want only the isolated pod's", len(sbs))
	}

	pauseID := sb.Pause.ID
	if err := r.RemovePodSandbox(ctx, sbID); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(r.runcRoot(), pauseID), r.exitFile(pauseID), r.sandboxDir(sbID)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is left after RemovePodSandbox (%v)", p, err)
		}
	}
}

func TestSharedProcessNamespaceNeedsPauseImage(t *testing.T) {
	e := newTestEnv(t, false)
	r := e.newRuntime(t)
	pod := testPod("nopause", []string{"sleep", "3600"})
	pod.Spec.HostNetwork = true
	pod.Spec.ShareProcessNamespace = ptr.To(true)
	_, err := r.RunPodSandbox(context.Background(), sandboxConfig(pod))
	if !errors.Is(err, ErrNoPauseImage) {
		t.Fatalf("RunPodSandbox = %v, want ErrNoPauseImage", err)
	}
	entries, _ := os.ReadDir(filepath.Join(e.root, dirSandboxes))
	if len(entries) != 0 {
		t.Errorf("a refused sandbox left %d directories", len(entries))
	}
	for _, h := range cgroupHierarchies(DefaultCgroupFSRoot) {
		if _, err := os.Stat(filepath.Join(h, e.cgroupRoot, sandboxConfig(pod).CgroupParent)); err == nil {
			t.Errorf("a refused sandbox left its pod cgroup in %s", h)
		}
	}
}

// TestEngineRecreatesSandboxWhenPauseDies runs a shareProcessNamespace pod
// through the engine and kills its pause process: the sandbox turns
// NotReady, and the engine, as the kubelet does for a dead sandbox, kills
// the pod and starts it again in a new sandbox with a new pause process.
func TestEngineRecreatesSandboxWhenPauseDies(t *testing.T) {
	env := newTestEnv(t, false)
	env.opts.PauseImage = testImage
	env.opts.PauseCommand = pauseArgs
	r := env.newRuntime(t)
	e := startEngine(t, r, kubelet.Options{})
	pod := testPod("pausedies", []string{"sleep", "3600"}, []string{"sleep", "3601"})
	pod.Spec.HostNetwork = true
	pod.Spec.ShareProcessNamespace = ptr.To(true)
	pod.Spec.TerminationGracePeriodSeconds = ptr.To(int64(0))
	if err := e.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(t, pod.UID, 30*time.Second, "both containers running", allRunning)
	ctx := context.Background()
	sbs, err := r.ListPodSandboxes(ctx, kubelet.SandboxFilter{PodUID: pod.UID})
	if err != nil || len(sbs) != 1 {
		t.Fatalf("sandboxes %v, %v", sbs, err)
	}
	first, err := r.sandbox(sbs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(first.Pause.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(t, pod.UID, 30*time.Second, "the pod running again in a new sandbox", func(st *v1.PodStatus) bool {
		ready, _ := r.ListPodSandboxes(ctx, kubelet.SandboxFilter{PodUID: pod.UID, State: kubelet.SandboxReady})
		return allRunning(st) && len(ready) == 1 && ready[0].ID != first.ID
	})
	ready, _ := r.ListPodSandboxes(ctx, kubelet.SandboxFilter{PodUID: pod.UID, State: kubelet.SandboxReady})
	second, err := r.sandbox(ready[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if second.Pause == nil || second.Pause.PID == first.Pause.PID || !processAlive(second.Pause.PID) {
		t.Errorf("new sandbox's pause %+v (old %+v)", second.Pause, first.Pause)
	}
	cs, _ := r.ListContainers(ctx, kubelet.ContainerFilter{PodUID: pod.UID, State: kubelet.ContainerRunning})
	for _, c := range cs {
		if c.SandboxID != second.ID {
			t.Errorf("container %s runs in sandbox %s, not the new one", c.Name, c.SandboxID)
		}
	}
}
