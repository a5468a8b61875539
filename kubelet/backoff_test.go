package kubelet_test

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/kubelet"
)

// restartDelay makes the running container crash and returns how long the
// engine waits before restarting it, checking the CrashLoopBackOff reason
// one second before the restart.
func restartDelay(t *testing.T, e *testEnv, pod *v1.Pod, code int32) time.Duration {
	t.Helper()
	before := e.cstatus(pod.UID, "app").RestartCount
	if err := e.rt.ExitByName(pod.UID, "app", code, ""); err != nil {
		t.Fatal(err)
	}
	start := e.clock.Now()
	for {
		e.sync()
		cs := e.cstatus(pod.UID, "app")
		if cs.State.Running != nil {
			if cs.RestartCount != before+1 {
				t.Fatalf("restart count %d, want %d", cs.RestartCount, before+1)
			}
			return e.clock.Since(start)
		}
		if cs.State.Waiting == nil || cs.State.Waiting.Reason != kubelet.ReasonCrashLoopBackOff {
			t.Fatalf("waiting for restart: %s", containerSummary(cs))
		}
		if e.clock.Since(start) > time.Hour {
			t.Fatal("never restarted")
		}
		e.step(time.Second)
	}
}

func TestCrashLoopBackOffSchedule(t *testing.T) {
	e := newEnv(t, kubelet.Options{})
	pod := newPod("p")
	_ = e.s.SetPods([]*v1.Pod{pod})
	e.sync()

	var got []time.Duration
	for range 9 {
		got = append(got, restartDelay(t, e, pod, 1))
	}
	want := []time.Duration{0, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 300 * time.Second, 300 * time.Second, 300 * time.Second}
	if !equalDurations(got, want) {
		t.Fatalf("delays %v, want %v", got, want)
	}

	// Running for more than 10 minutes (twice the maximum) resets the backoff.
	e.step(10*time.Minute + time.Second)
	e.sync()
	got = []time.Duration{restartDelay(t, e, pod, 1), restartDelay(t, e, pod, 1)}
	if want := []time.Duration{0, 10 * time.Second}; !equalDurations(got, want) {
		t.Fatalf("after a stable period: delays %v, want %v", got, want)
	}

	// Running for less than that does not.
	e.step(9 * time.Minute)
	e.sync()
	if d := restartDelay(t, e, pod, 1); d != 20*time.Second {
		t.Fatalf("after 9 minutes: delay %v, want 20s", d)
	}
}

func TestCrashLoopBackOffConfigurable(t *testing.T) {
	e := newEnv(t, kubelet.Options{CrashLoopBackOffInitial: time.Second, CrashLoopBackOffMax: 4 * time.Second})
	pod := newPod("p")
	_ = e.s.SetPods([]*v1.Pod{pod})
	e.sync()
	var got []time.Duration
	for range 5 {
		got = append(got, restartDelay(t, e, pod, 1))
	}
	if want := []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}; !equalDurations(got, want) {
		t.Fatalf("delays %v, want %v", got, want)
	}
}

func TestCrashLoopBackOffKeyedByDefinition(t *testing.T) {
	e := newEnv(t, kubelet.Options{})
	pod := newPod("p")
	_ = e.s.SetPods([]*v1.Pod{pod})
	e.sync()
	restartDelay(t, e, pod, 1)
	if d := restartDelay(t, e, pod, 1); d != 10*time.Second {
		t.Fatalf("second delay %v", d)
	}
	_ = e.rt.ExitByName(pod.UID, "app", 1, "")
	e.sync()
	if r := e.cstatus(pod.UID, "app").State.Waiting; r == nil || r.Reason != kubelet.ReasonCrashLoopBackOff ||
		r.Message != "back-off 20s restarting failed container=app pod=p_default(uid-p)" {
		t.Fatalf("waiting %+v", r)
	}
	// A new definition has its own backoff: it starts at once.
	p := pod.DeepCopy()
	p.Spec.Containers[0].Image = "app:2"
	_ = e.s.UpdatePod(p)
	e.sync()
	if cs := e.cstatus(pod.UID, "app"); cs.State.Running == nil {
		t.Fatalf("new definition not started: %s", containerSummary(cs))
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
