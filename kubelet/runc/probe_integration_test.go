package runc

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/prober"
)

// TestEngineProbes runs exec probes through runc: a readiness probe flips
// the pod's Ready condition both ways without a restart, and a liveness
// probe that starts failing restarts the container.
func TestEngineProbes(t *testing.T) {
	r, e, pm := startProbedEngine(t)

	pod := testPod("probed", []string{"sh", "-c", "touch /tmp/ready /tmp/live; exec sleep 3600"})
	pod.Spec.HostNetwork = true
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	c := &pod.Spec.Containers[0]
	c.ReadinessProbe = &v1.Probe{
		ProbeHandler:  v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"test", "-f", "/tmp/ready"}}},
		PeriodSeconds: 1, FailureThreshold: 1, TimeoutSeconds: 5,
	}
	c.LivenessProbe = &v1.Probe{
		ProbeHandler:  v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"test", "-f", "/tmp/live"}}},
		PeriodSeconds: 1, FailureThreshold: 2, TimeoutSeconds: 5,
		TerminationGracePeriodSeconds: ptr.To[int64](1),
	}
	if err := e.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	ready := func(want v1.ConditionStatus) func(*v1.PodStatus) bool {
		return func(st *v1.PodStatus) bool {
			for _, cond := range st.Conditions {
				if cond.Type == v1.PodReady {
					return cond.Status == want
				}
			}
			return false
		}
	}
	st := e.waitStatus(t, pod.UID, 60*time.Second, "Ready", ready(v1.ConditionTrue))
	id := strings.TrimPrefix(containerState(st, "c0").ContainerID, "runc://")
	exec := func(cmd ...string) {
		t.Helper()
		res, err := r.ExecSync(context.Background(), id, cmd, 10*time.Second)
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("exec %q: %+v %v", cmd, res, err)
		}
	}

	exec("rm", "/tmp/ready")
	st = e.waitStatus(t, pod.UID, 30*time.Second, "not Ready", ready(v1.ConditionFalse))
	if cs := containerState(st, "c0"); cs.RestartCount != 0 || cs.State.Running == nil || cs.Ready {
		t.Fatalf("readiness failure: %+v", cs)
	}
	exec("touch", "/tmp/ready")
	e.waitStatus(t, pod.UID, 30*time.Second, "Ready again", ready(v1.ConditionTrue))

	exec("rm", "/tmp/live")
	st = e.waitStatus(t, pod.UID, 60*time.Second, "restarted after the liveness failure", func(st *v1.PodStatus) bool {
		cs := containerState(st, "c0")
		return cs != nil && cs.RestartCount == 1 && cs.State.Running != nil && ready(v1.ConditionTrue)(st)
	})
	cs := containerState(st, "c0")
	if cs.LastTerminationState.Terminated == nil || strings.TrimPrefix(cs.ContainerID, "runc://") == id {
		t.Fatalf("no new instance after the liveness failure: %+v", cs)
	}

	if err := e.DeletePod(pod.UID, kubelet.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the pod to be forgotten", func() bool {
		_, ok := e.PodStatus(pod.UID)
		return !ok
	})
	waitFor(t, 10*time.Second, "the probe workers to stop", func() bool { return pm.Workers() == 0 })
}

// TestEngineExecProbeTimeout: an exec liveness probe that outlives its
// timeoutSeconds fails (the kubelet's exec probe timeout) and restarts
// the container.
func TestEngineExecProbeTimeout(t *testing.T) {
	_, e, _ := startProbedEngine(t)

	pod := testPod("slowprobe", []string{"sleep", "3600"})
	pod.Spec.HostNetwork = true
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	pod.Spec.Containers[0].LivenessProbe = &v1.Probe{
		ProbeHandler:  v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"sleep", "30"}}},
		PeriodSeconds: 1, FailureThreshold: 1, TimeoutSeconds: 1,
	}
	if err := e.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	e.waitStatus(t, pod.UID, 60*time.Second, "restarted after a timed-out liveness probe", func(st *v1.PodStatus) bool {
		cs := containerState(st, "c0")
		return cs != nil && cs.RestartCount >= 1
	})
	if err := e.DeletePod(pod.UID, kubelet.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the pod to be forgotten", func() bool {
		_, ok := e.PodStatus(pod.UID)
		return !ok
	})
}

// startProbedEngine runs an engine and a prober on a runc runtime of a new
// test environment (no pod network) until the test ends.
func startProbedEngine(t *testing.T) (*Runtime, *engine, *prober.Manager) {
	t.Helper()
	env := newTestEnv(t, false)
	r := env.newRuntime(t)
	pm := prober.New(r, prober.Options{})
	e := startEngine(t, r, kubelet.Options{Probes: pm})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := pm.Run(ctx, e.Syncer); err != nil {
			t.Errorf("prober Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return r, e, pm
}
