package runc

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodekit/nodekit/kubelet"
)

// engine runs a kubelet.Syncer on r until the test ends.
type engine struct {
	*kubelet.Syncer
	stop func()
}

func startEngine(t testing.TB, r *Runtime, opts kubelet.Options) *engine {
	t.Helper()
	if opts.RelistPeriod == 0 {
		opts.RelistPeriod = 200 * time.Millisecond
	}
	if opts.CrashLoopBackOffInitial == 0 {
		opts.CrashLoopBackOffInitial = time.Second
		opts.CrashLoopBackOffMax = 4 * time.Second
	}
	s := kubelet.New(r, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	e := &engine{Syncer: s, stop: func() { cancel(); <-done }}
	t.Cleanup(e.stop)
	return e
}

// waitStatus polls the pod's status until cond holds and returns it.
func (e *engine) waitStatus(t testing.TB, uid types.UID, timeout time.Duration, what string, cond func(*v1.PodStatus) bool) *v1.PodStatus {
	t.Helper()
	var st *v1.PodStatus
	waitFor(t, timeout, what, func() bool {
		var ok bool
		st, ok = e.PodStatus(uid)
		return ok && cond(st)
	})
	return st
}

func containerState(st *v1.PodStatus, name string) *v1.ContainerStatus {
	for i := range st.ContainerStatuses {
		if st.ContainerStatuses[i].Name == name {
			return &st.ContainerStatuses[i]
		}
	}
	return nil
}

func allRunning(st *v1.PodStatus) bool {
	if st.Phase != v1.PodRunning || len(st.ContainerStatuses) == 0 {
		return false
	}
	for _, c := range st.ContainerStatuses {
		if c.State.Running == nil {
			return false
		}
	}
	return true
}

func TestEngineTwoContainerPod(t *testing.T) {
	before := rootNetworkSnapshot(t)
	env := newTestEnv(t, true)
	r := env.newRuntime(t)
	e := startEngine(t, r, kubelet.Options{})

	pod := testPod("two",
		[]string{"sh", "-c", "mkdir -p /tmp/www && echo hi > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"},
		[]string{"sh", "-c", "until wget -q -O - http://localhost:8080/; do sleep 0.1; done; exec sleep 3600"},
	)
	if err := e.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	st := e.waitStatus(t, pod.UID, 30*time.Second, "both containers running", allRunning)
	if st.PodIP == "" {
		t.Fatalf("no pod IP in %+v", st)
	}
	for _, c := range st.ContainerStatuses {
		if !strings.HasPrefix(c.ContainerID, "runc://") || c.ImageID == "" {
			t.Errorf("container status %+v: want a runc:// ID and an image ID", c)
		}
	}
	waitFor(t, 20*time.Second, "the client to fetch from localhost", func() bool {
		data, _ := os.ReadFile(r.ContainerLogPath(pod.Namespace, pod.Name, pod.UID, "c1", 0))
		return strings.Contains(string(data), "stdout F hi")
	})
	out, err := env.node.Run(context.Background(), "busybox", "wget", "-q", "-O", "-", "http://"+st.PodIP+":8080/")
	if err != nil || strings.TrimSpace(string(out)) != "hi" {
		t.Errorf("pod IP %s from the node namespace: %q, %v", st.PodIP, out, err)
	}
	// The exec the engine's probes and hooks use.
	id := strings.TrimPrefix(containerState(st, "c0").ContainerID, "runc://")
	res, err := r.ExecSync(context.Background(), id, []string{"wget", "-q", "-O", "-", "http://127.0.0.1:8080/"}, 5*time.Second)
	if err != nil || res.ExitCode != 0 || strings.TrimSpace(string(res.Stdout)) != "hi" {
		t.Errorf("exec probe: %+v, %v", res, err)
	}

	if err := e.DeletePod(pod.UID, kubelet.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the pod to be forgotten", func() bool {
		_, ok := e.PodStatus(pod.UID)
		return !ok
	})
	assertNoLeftovers(t, env, r)
	if after := rootNetworkSnapshot(t); after != before {
		t.Errorf("the root network namespace changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestEngineCrashLoop(t *testing.T) {
	env := newTestEnv(t, false)
	r := env.newRuntime(t)
	e := startEngine(t, r, kubelet.Options{CrashLoopBackOffInitial: time.Second, CrashLoopBackOffMax: 2 * time.Second})

	pod := testPod("crash", []string{"sh", "-c", "echo run; exit 2"})
	pod.Spec.HostNetwork = true
	evCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var starts []time.Time
	var mu sync.Mutex
	events := r.ContainerEvents(evCtx)
	go func() {
		for ev := range events {
			if ev.Type == kubelet.ContainerStartedEvent && ev.PodUID == pod.UID {
				mu.Lock()
				starts = append(starts, time.Now())
				mu.Unlock()
			}
		}
	}()
	if err := e.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	sawBackOff := false
	st := e.waitStatus(t, pod.UID, 60*time.Second, "three restarts", func(st *v1.PodStatus) bool {
		c := containerState(st, "c0")
		if c == nil {
			return false
		}
		if c.State.Waiting != nil && c.State.Waiting.Reason == kubelet.ReasonCrashLoopBackOff {
			sawBackOff = true
		}
		return c.RestartCount >= 3
	})
	c := containerState(st, "c0")
	if !sawBackOff {
		t.Errorf("never saw CrashLoopBackOff; last state %+v", c.State)
	}
	if c.LastTerminationState.Terminated == nil || c.LastTerminationState.Terminated.ExitCode != 2 || c.LastTerminationState.Terminated.Reason != kubelet.ReasonError {
		t.Errorf("last termination = %+v; want exit code 2, reason Error", c.LastTerminationState)
	}
	// The engine's schedule: the first restart at once, then 1s, then 2s
	// (the maximum) after the previous exit; the exit follows the start
	// closely, so consecutive starts are at least that far apart.
	// The status counts a restart once the new container is created; its
	// start event may still be on its way.
	var got []time.Time
	waitFor(t, 10*time.Second, "the fourth start event", func() bool {
		mu.Lock()
		got = slices.Clone(starts)
		mu.Unlock()
		return len(got) >= 4
	})
	for i, min := range []time.Duration{0, time.Second, 2 * time.Second} {
		// 100ms of slack for the delivery of the events to this test.
		if gap := got[i+1].Sub(got[i]); gap < min-100*time.Millisecond {
			t.Errorf("start %d came %s after start %d; the backoff is %s", i+1, gap, i, min)
		}
	}
	// Every attempt logged to its own file in the kubelet's layout.
	for attempt := range uint32(3) {
		data, err := os.ReadFile(r.ContainerLogPath(pod.Namespace, pod.Name, pod.UID, "c0", attempt))
		if err == nil && !strings.Contains(string(data), "stdout F run") {
			t.Errorf("log of attempt %d = %q", attempt, data)
		}
	}
	// The engine's garbage collection keeps one dead container.
	cs, _ := r.ListContainers(context.Background(), kubelet.ContainerFilter{PodUID: pod.UID})
	if len(cs) > 2 {
		t.Errorf("%d containers kept for one crash-looping container; want at most 2", len(cs))
	}
}

func TestEngineOOMKilled(t *testing.T) {
	env := newTestEnv(t, false)
	r := env.newRuntime(t)
	e := startEngine(t, r, kubelet.Options{})

	pod := testPod("oom", []string{"sh", "-c", `x=$(head -c 67108864 /dev/zero | tr "\0" a); echo survived`})
	pod.Spec.HostNetwork = true
	pod.Spec.RestartPolicy = v1.RestartPolicyNever
	limit := v1.ResourceList{v1.ResourceMemory: resource.MustParse("16Mi")}
	pod.Spec.Containers[0].Resources = v1.ResourceRequirements{Limits: limit, Requests: limit}
	if err := e.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	st := e.waitStatus(t, pod.UID, 60*time.Second, "the container to terminate", func(st *v1.PodStatus) bool {
		c := containerState(st, "c0")
		return c != nil && c.State.Terminated != nil
	})
	term := containerState(st, "c0").State.Terminated
	if term.Reason != kubelet.ReasonOOMKilled || term.ExitCode == 0 {
		t.Errorf("terminated = %+v; want reason OOMKilled and a non-zero exit code", term)
	}
	if st.Phase != v1.PodFailed {
		t.Errorf("phase = %s; want Failed", st.Phase)
	}
}

func TestEngineGracefulTermination(t *testing.T) {
	env := newTestEnv(t, false)
	r := env.newRuntime(t)
	e := startEngine(t, r, kubelet.Options{})

	hostDir := t.TempDir()
	pod := testPod("term",
		[]string{"sh", "-c", `trap 'echo TERM > /data/term; exit 0' TERM; echo ready > /data/ready; while true; do sleep 0.1; done`},
		[]string{"sleep", "3600"}, // PID 1 without a handler: ignores SIGTERM
	)
	pod.Spec.HostNetwork = true
	grace := int64(3)
	pod.Spec.TerminationGracePeriodSeconds = &grace
	pod.Spec.Volumes = []v1.Volume{{Name: "data", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: hostDir}}}}
	pod.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "data", MountPath: "/data"}}
	if err := e.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(t, pod.UID, 30*time.Second, "running", allRunning)
	waitFor(t, 10*time.Second, "the trap to be set", func() bool {
		_, err := os.Stat(filepath.Join(hostDir, "ready"))
		return err == nil
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	updates := e.Subscribe(ctx)
	start := time.Now()
	if err := e.DeletePod(pod.UID, kubelet.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var last *v1.PodStatus
	for u := range updates {
		if u.UID != pod.UID {
			continue
		}
		last = u.Status
		if u.Deleted {
			break
		}
	}
	elapsed := time.Since(start)
	data, err := os.ReadFile(filepath.Join(hostDir, "term"))
	if err != nil || strings.TrimSpace(string(data)) != "TERM" {
		t.Errorf("the trapping container recorded %q, %v; want TERM", data, err)
	}
	if last == nil {
		t.Fatal("no final status")
	}
	if c := containerState(last, "c0"); c == nil || c.State.Terminated == nil || c.State.Terminated.ExitCode != 0 {
		t.Errorf("trapping container final state = %+v; want exit code 0", c)
	}
	if c := containerState(last, "c1"); c == nil || c.State.Terminated == nil || c.State.Terminated.ExitCode != 137 {
		t.Errorf("container ignoring SIGTERM final state = %+v; want 137 (SIGKILL)", c)
	}
	// SIGKILL comes only after the grace period.
	if elapsed < time.Duration(grace)*time.Second {
		t.Errorf("pod deleted after %s, before its %ds grace period", elapsed, grace)
	}
	assertNoLeftovers(t, env, r)
}

func TestEngineWaitingReasons(t *testing.T) {
	env := newTestEnv(t, false)
	r := env.newRuntime(t)
	e := startEngine(t, r, kubelet.Options{})

	pod := testPod("waiting", []string{"true"}, []string{"id"})
	pod.Spec.HostNetwork = true
	pod.Spec.Containers[0].Image = "missing:1"
	yes := true
	pod.Spec.Containers[1].SecurityContext = &v1.SecurityContext{RunAsNonRoot: &yes}
	if err := e.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	st := e.waitStatus(t, pod.UID, 30*time.Second, "both containers waiting with a reason", func(st *v1.PodStatus) bool {
		c0, c1 := containerState(st, "c0"), containerState(st, "c1")
		return c0 != nil && c0.State.Waiting != nil && c0.State.Waiting.Reason != kubelet.ReasonContainerCreating &&
			c1 != nil && c1.State.Waiting != nil && c1.State.Waiting.Reason != kubelet.ReasonContainerCreating
	})
	if r := containerState(st, "c0").State.Waiting.Reason; r != kubelet.ReasonErrImagePull && r != kubelet.ReasonImagePullBackOff {
		t.Errorf("missing image: waiting reason %q; want ErrImagePull or ImagePullBackOff", r)
	}
	if w := containerState(st, "c1").State.Waiting; w.Reason != kubelet.ReasonCreateContainerConfigError || !strings.HasPrefix(w.Message, `pod "waiting_default(uid-waiting)", container "c1": container has runAsNonRoot and image will run as root`) {
		t.Errorf("runAsNonRoot with a root image: waiting %+v; want CreateContainerConfigError with the kubelet's message", w)
	}
	cs, _ := r.ListContainers(context.Background(), kubelet.ContainerFilter{PodUID: pod.UID})
	if len(cs) != 0 {
		t.Errorf("%d containers created for a pod whose containers were all refused", len(cs))
	}
}
