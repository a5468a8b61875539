package runc

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/kubelet"
)

// TestEngineRestartAdoptsPods restarts the engine and the runtime with a pod
// running: the new pair adopts the sandbox and the running container (same
// IDs, nothing duplicated), sees the exit code of a container that exited
// while nobody watched, and restarts only that one.
func TestEngineRestartAdoptsPods(t *testing.T) {
	env := newTestEnv(t, true)
	r1 := env.newRuntime(t)
	e1 := startEngine(t, r1, kubelet.Options{})

	pod := testPod("adopt",
		[]string{"sleep", "3600"},
		[]string{"sh", "-c", "while [ ! -e /tmp/stop ]; do sleep 0.1; done; exit 5"},
	)
	grace := int64(1)
	pod.Spec.TerminationGracePeriodSeconds = &grace
	if err := e1.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	st1 := e1.waitStatus(t, pod.UID, 30*time.Second, "running", allRunning)
	e1.stop()

	ctx := context.Background()
	c1ID := strings.TrimPrefix(containerState(st1, "c1").ContainerID, "runc://")
	if _, err := r1.ExecSync(ctx, c1ID, []string{"touch", "/tmp/stop"}, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(r1.exitFile(c1ID)); err != nil {
		waitFor(t, 10*time.Second, "c1 to exit", func() bool {
			_, err := os.Stat(r1.exitFile(c1ID))
			return err == nil
		})
	}

	r2 := env.newRuntime(t)
	got, err := r2.ContainerStatus(ctx, c1ID)
	if err != nil || got.State != kubelet.ContainerExited || got.ExitCode != 5 || got.Reason != kubelet.ReasonError {
		t.Fatalf("new runtime's view of c1 = %+v, %v; want Exited with 5", got, err)
	}
	if got.Annotations[kubelet.AnnotationContainerHash] == "" {
		t.Errorf("engine annotations not kept: %v", got.Annotations)
	}
	e2 := startEngine(t, r2, kubelet.Options{})
	if err := e2.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	st2 := e2.waitStatus(t, pod.UID, 30*time.Second, "c1 restarted", func(st *v1.PodStatus) bool {
		c := containerState(st, "c1")
		return allRunning(st) && c.RestartCount == 1
	})
	if a, b := containerState(st1, "c0").ContainerID, containerState(st2, "c0").ContainerID; a != b {
		t.Errorf("running container replaced after restart: %s -> %s", a, b)
	}
	if st1.PodIP != st2.PodIP {
		t.Errorf("pod IP changed from %s to %s", st1.PodIP, st2.PodIP)
	}
	if c := containerState(st2, "c1"); c.LastTerminationState.Terminated == nil || c.LastTerminationState.Terminated.ExitCode != 5 {
		t.Errorf("c1 last termination = %+v; want exit code 5", c.LastTerminationState)
	}
	sbs, _ := r2.ListPodSandboxes(ctx, kubelet.SandboxFilter{})
	running, _ := r2.ListContainers(ctx, kubelet.ContainerFilter{State: kubelet.ContainerRunning})
	if len(sbs) != 1 || len(running) != 2 {
		t.Errorf("after adoption: %d sandboxes, %d running containers; want 1 and 2", len(sbs), len(running))
	}
	if err := e2.SetPods(nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the pod to be removed", func() bool {
		sbs, _ := r2.ListPodSandboxes(ctx, kubelet.SandboxFilter{})
		_, known := e2.PodStatus(pod.UID)
		return len(sbs) == 0 && !known
	})
	assertNoLeftovers(t, env, r2)
}

// helperEnv names the environment variable that makes the test binary act
// as an embedding program that starts a pod and exits.
const helperEnv = "NODEKIT_RUNC_TEST_HELPER"

type helperSpec struct {
	Root string
	Opts Options
}

// TestContainersOutliveTheProgram starts a container from another process
// that then exits, and finds it still running from this one.
func TestContainersOutliveTheProgram(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		return
	}
	env := newTestEnv(t, false)
	spec, err := json.Marshal(helperSpec{Root: env.root, Opts: Options{CgroupRoot: env.cgroupRoot, Network: env.opts.Network}})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperStartPod$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"="+string(spec), "IMAGES="+string(env.images))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("helper program: %v\n%s", err, out)
	}
	r := env.newRuntime(t)
	ctx := context.Background()
	cs, err := r.ListContainers(ctx, kubelet.ContainerFilter{})
	if err != nil || len(cs) != 1 || cs[0].State != kubelet.ContainerRunning {
		t.Fatalf("containers after the program exited: %+v, %v; want one running", cs, err)
	}
	res, err := r.ExecSync(ctx, cs[0].ID, []string{"echo", "alive"}, 5*time.Second)
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "alive" {
		t.Errorf("exec in the adopted container: %+v, %v", res, err)
	}
	if err := r.StopContainer(ctx, cs[0].ID, 0); err != nil {
		t.Fatal(err)
	}
	if st, _ := r.ContainerStatus(ctx, cs[0].ID); st.State != kubelet.ContainerExited || st.ExitCode != 137 {
		t.Errorf("after stop: %+v; want Exited with 137", st)
	}
}

// TestHelperStartPod is the helper program of TestContainersOutliveTheProgram;
// it does nothing in a normal run.
func TestHelperStartPod(t *testing.T) {
	raw := os.Getenv(helperEnv)
	if raw == "" {
		t.Skip("helper process only")
	}
	var spec helperSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		t.Fatal(err)
	}
	spec.Opts.Images = DirImageStore(os.Getenv("IMAGES"))
	r, err := New(spec.Root, spec.Opts)
	if err != nil {
		t.Fatal(err)
	}
	pod := testPod("outlive", []string{"sleep", "3600"})
	pod.Spec.HostNetwork = true
	startPod(t, r, pod)
}
