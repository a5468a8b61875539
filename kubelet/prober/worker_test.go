package prober

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/kubelet"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// execRuntime answers ExecSync from a script and counts calls; the other
// Runtime methods are not used by workers.
type execRuntime struct {
	kubelet.Runtime
	mu    sync.Mutex
	calls int
	next  func(id string) (kubelet.ExecResult, error)
}

func (r *execRuntime) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (kubelet.ExecResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.next == nil {
		return kubelet.ExecResult{}, nil
	}
	return r.next(id)
}

func (r *execRuntime) exitCode(code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next = func(string) (kubelet.ExecResult, error) { return kubelet.ExecResult{ExitCode: code}, nil }
}

func (r *execRuntime) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next = func(string) (kubelet.ExecResult, error) { return kubelet.ExecResult{}, err }
}

func (r *execRuntime) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls
}

// statusSource is a Source whose statuses tests set directly.
type statusSource struct {
	mu       sync.Mutex
	status   map[types.UID]*v1.PodStatus
	triggers int
}

func (s *statusSource) Pods() []*v1.Pod { return nil }
func (s *statusSource) PodStatus(uid types.UID) (*v1.PodStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.status[uid]
	if !ok {
		return nil, false
	}
	return st.DeepCopy(), true
}
func (s *statusSource) Subscribe(ctx context.Context) <-chan kubelet.StatusUpdate {
	ch := make(chan kubelet.StatusUpdate)
	go func() { <-ctx.Done(); close(ch) }()
	return ch
}
func (s *statusSource) Trigger(types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.triggers++
}

func (s *statusSource) set(uid types.UID, st *v1.PodStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status[uid] = st
}

// workerEnv is one worker driven by hand: each doProbe call is a tick.
type workerEnv struct {
	t     *testing.T
	clock *clocktesting.FakeClock
	rt    *execRuntime
	src   *statusSource
	m     *Manager
	pod   *v1.Pod
	w     *worker
}

const testUID = types.UID("uid-1")

func newWorkerEnv(t *testing.T, probeType kubelet.ProbeType, probe *v1.Probe, mutate ...func(*v1.Pod)) *workerEnv {
	clk := clocktesting.NewFakeClock(epoch)
	rt := &execRuntime{}
	src := &statusSource{status: map[types.UID]*v1.PodStatus{}}
	m := New(rt, Options{Clock: clk})
	m.src, m.running, m.ctx = src, true, t.Context()
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: testUID},
		Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "app", Image: "app"}}},
	}
	c := &pod.Spec.Containers[0]
	switch probeType {
	case kubelet.LivenessProbe:
		c.LivenessProbe = probe
	case kubelet.ReadinessProbe:
		c.ReadinessProbe = probe
	case kubelet.StartupProbe:
		c.StartupProbe = probe
	}
	for _, f := range mutate {
		f(pod)
	}
	m.pods[pod.UID] = pod
	key := workerKey{pod.UID, "app", probeType}
	w := newWorker(m, key, pod, c, probe)
	m.workers[key] = w
	return &workerEnv{t: t, clock: clk, rt: rt, src: src, m: m, pod: pod, w: w}
}

// running reports container id as running since startedAgo, started or
// not (the startup probe's verdict as the engine shows it).
func (e *workerEnv) running(id string, startedAgo time.Duration, started bool) {
	e.src.set(testUID, &v1.PodStatus{
		Phase: v1.PodRunning,
		ContainerStatuses: []v1.ContainerStatus{{
			Name: "app", ContainerID: "fake://" + id, Started: ptr.To(started),
			State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: metav1.NewTime(e.clock.Now().Add(-startedAgo))}},
		}},
	})
}

func (e *workerEnv) result() string {
	r, ok := e.m.ProbeResult(e.w.containerID, e.w.probeType)
	if !ok {
		return "none"
	}
	return resultName(r)
}

func resultName(r kubelet.ProbeResult) string {
	switch r {
	case kubelet.ProbeSuccess:
		return "Success"
	case kubelet.ProbeFailure:
		return "Failure"
	}
	return "Unknown"
}

var execCheck = v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"check"}}}

func TestInitialResults(t *testing.T) {
	for _, tc := range []struct {
		probeType kubelet.ProbeType
		want      string
	}{
		{kubelet.ReadinessProbe, "Failure"},
		{kubelet.LivenessProbe, "Success"},
		{kubelet.StartupProbe, "Unknown"},
	} {
		t.Run(string(tc.probeType), func(t *testing.T) {
			e := newWorkerEnv(t, tc.probeType, &v1.Probe{ProbeHandler: execCheck, InitialDelaySeconds: 30})
			e.running("c1", 0, tc.probeType != kubelet.StartupProbe)
			if !e.w.doProbe(t.Context()) {
				t.Fatal("worker stopped")
			}
			if got := e.result(); got != tc.want {
				t.Fatalf("initial result %s, want %s", got, tc.want)
			}
			if n := e.rt.count(); n != 0 {
				t.Fatalf("%d probes ran during the initial delay", n)
			}
			if e.src.triggers != 1 {
				t.Fatalf("%d triggers, want 1 for the initial result", e.src.triggers)
			}
		})
	}
}

// step is one tick of a timing scenario.
type step struct {
	advance time.Duration // fake clock advance before the tick
	exit    int           // exit code of the probe command (-1: runtime error)
	id      string        // container ID reported (default c1)
	started *bool         // Started as the engine reports it (default true)
	want    string        // result after the tick
	probes  int           // probe commands run so far
}

func TestWorkerTiming(t *testing.T) {
	for _, tc := range []struct {
		name      string
		probeType kubelet.ProbeType
		probe     v1.Probe
		steps     []step
	}{{
		name: "initial delay counts from the container's start", probeType: kubelet.ReadinessProbe,
		probe: v1.Probe{ProbeHandler: execCheck, InitialDelaySeconds: 15, PeriodSeconds: 10},
		steps: []step{
			{want: "Failure", probes: 0},
			{advance: 10 * time.Second, want: "Failure", probes: 0},
			{advance: 5 * time.Second, want: "Success", probes: 1},
		},
	}, {
		name: "liveness fails after failureThreshold failures in a row and holds", probeType: kubelet.LivenessProbe,
		probe: v1.Probe{ProbeHandler: execCheck, FailureThreshold: 3},
		steps: []step{
			{exit: 1, want: "Success", probes: 1},
			{exit: 0, want: "Success", probes: 2},
			{exit: 1, want: "Success", probes: 3},
			{exit: 1, want: "Success", probes: 4},
			{exit: 1, want: "Failure", probes: 5},
			// On hold: no more probes until a new container instance.
			{exit: 0, want: "Failure", probes: 5},
			{exit: 0, want: "Failure", probes: 5},
			{exit: 1, id: "c2", want: "Success", probes: 6},
		},
	}, {
		name: "zero thresholds mean the API defaults (failure 3)", probeType: kubelet.LivenessProbe,
		probe: v1.Probe{ProbeHandler: execCheck},
		steps: []step{
			{exit: 1, want: "Success", probes: 1},
			{exit: 1, want: "Success", probes: 2},
			{exit: 1, want: "Failure", probes: 3},
		},
	}, {
		name: "readiness needs successThreshold successes and keeps probing after failure", probeType: kubelet.ReadinessProbe,
		probe: v1.Probe{ProbeHandler: execCheck, SuccessThreshold: 2, FailureThreshold: 1},
		steps: []step{
			{exit: 0, want: "Failure", probes: 1},
			{exit: 0, want: "Success", probes: 2},
			{exit: 1, want: "Failure", probes: 3},
			{exit: 0, want: "Failure", probes: 4},
			{exit: 0, want: "Success", probes: 5},
		},
	}, {
		name: "a runtime error throws the result away", probeType: kubelet.ReadinessProbe,
		probe: v1.Probe{ProbeHandler: execCheck, FailureThreshold: 1},
		steps: []step{
			{exit: 0, want: "Success", probes: 1},
			{exit: -1, want: "Success", probes: 4}, // three tries
			{exit: 1, want: "Failure", probes: 5},
		},
	}, {
		name: "liveness waits for the startup probe", probeType: kubelet.LivenessProbe,
		probe: v1.Probe{ProbeHandler: execCheck, FailureThreshold: 1},
		steps: []step{
			{exit: 1, started: ptr.To(false), want: "Success", probes: 0},
			{exit: 1, started: ptr.To(true), want: "Failure", probes: 1},
		},
	}, {
		name: "readiness waits for the startup probe", probeType: kubelet.ReadinessProbe,
		probe: v1.Probe{ProbeHandler: execCheck},
		steps: []step{
			{exit: 0, started: ptr.To(false), want: "Failure", probes: 0},
			{exit: 0, started: ptr.To(true), want: "Success", probes: 1},
		},
	}, {
		name: "startup probes until started, then holds for the next instance", probeType: kubelet.StartupProbe,
		probe: v1.Probe{ProbeHandler: execCheck, FailureThreshold: 2},
		steps: []step{
			{exit: 1, started: ptr.To(false), want: "Unknown", probes: 1},
			{exit: 0, started: ptr.To(false), want: "Success", probes: 2},
			{exit: 1, started: ptr.To(true), want: "Success", probes: 2},
			{exit: 1, id: "c2", started: ptr.To(false), want: "Unknown", probes: 3},
			{exit: 1, id: "c2", started: ptr.To(false), want: "Failure", probes: 4},
			{exit: 0, id: "c2", started: ptr.To(false), want: "Failure", probes: 4},
		},
	}, {
		name: "the run of results carries over to a new instance", probeType: kubelet.ReadinessProbe,
		probe: v1.Probe{ProbeHandler: execCheck, SuccessThreshold: 3, FailureThreshold: 1},
		steps: []step{
			{exit: 0, want: "Failure", probes: 1},
			{exit: 0, want: "Failure", probes: 2},
			{exit: 0, id: "c2", want: "Success", probes: 3},
		},
	}, {
		name: "exec timeout fails the probe", probeType: kubelet.ReadinessProbe,
		probe: v1.Probe{ProbeHandler: execCheck, FailureThreshold: 1},
		steps: []step{
			{exit: 0, want: "Success", probes: 1},
			{exit: -2, want: "Failure", probes: 2},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newWorkerEnv(t, tc.probeType, &tc.probe)
			start := e.clock.Now()
			for i, s := range tc.steps {
				e.clock.Step(s.advance)
				id := s.id
				if id == "" {
					id = "c1"
				}
				started := s.started == nil || *s.started
				e.running(id, e.clock.Now().Sub(start), started)
				switch s.exit {
				case -1:
					e.rt.fail(fmt.Errorf("exec: %w", kubelet.ErrNotFound))
				case -2:
					e.rt.fail(context.DeadlineExceeded)
				default:
					e.rt.exitCode(s.exit)
				}
				if !e.w.doProbe(t.Context()) {
					t.Fatalf("step %d: worker stopped", i)
				}
				if got := e.result(); got != s.want || e.rt.count() != s.probes {
					t.Fatalf("step %d: result %s after %d probes, want %s after %d", i, got, e.rt.count(), s.want, s.probes)
				}
			}
		})
	}
}

func TestWorkerStops(t *testing.T) {
	terminated := func(e *workerEnv) {
		e.src.set(testUID, &v1.PodStatus{Phase: v1.PodRunning, ContainerStatuses: []v1.ContainerStatus{{
			Name: "app", ContainerID: "fake://c1",
			State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 1}},
		}}})
	}
	for _, tc := range []struct {
		name      string
		probeType kubelet.ProbeType
		mutate    func(*v1.Pod)
		status    func(*workerEnv)
		keepGoing bool
		want      string
	}{{
		name: "terminal pod", probeType: kubelet.ReadinessProbe,
		status:    func(e *workerEnv) { e.src.set(testUID, &v1.PodStatus{Phase: v1.PodSucceeded}) },
		keepGoing: false, want: "none",
	}, {
		name: "no status yet", probeType: kubelet.ReadinessProbe,
		status:    func(*workerEnv) {},
		keepGoing: true, want: "none",
	}, {
		name: "container not created yet", probeType: kubelet.ReadinessProbe,
		status:    func(e *workerEnv) { e.src.set(testUID, &v1.PodStatus{Phase: v1.PodPending}) },
		keepGoing: true, want: "none",
	}, {
		name: "terminated container that will restart", probeType: kubelet.LivenessProbe,
		status: terminated, keepGoing: true, want: "Failure",
	}, {
		name: "terminated container that will not restart", probeType: kubelet.LivenessProbe,
		mutate: func(p *v1.Pod) { p.Spec.RestartPolicy = v1.RestartPolicyNever },
		status: terminated, keepGoing: false, want: "Failure",
	}, {
		name: "terminated sidecar of a pod that never restarts", probeType: kubelet.LivenessProbe,
		mutate: func(p *v1.Pod) {
			p.Spec.RestartPolicy = v1.RestartPolicyNever
			p.Spec.Containers[0].RestartPolicy = ptr.To(v1.ContainerRestartPolicyAlways)
		},
		status: terminated, keepGoing: true, want: "Failure",
	}, {
		name: "liveness of a pod being deleted", probeType: kubelet.LivenessProbe,
		mutate:    func(p *v1.Pod) { p.DeletionTimestamp = ptr.To(metav1.NewTime(epoch)) },
		status:    func(e *workerEnv) { e.rt.exitCode(1); e.running("c1", time.Minute, true) },
		keepGoing: false, want: "Success",
	}, {
		name: "readiness of a pod being deleted goes on", probeType: kubelet.ReadinessProbe,
		mutate:    func(p *v1.Pod) { p.DeletionTimestamp = ptr.To(metav1.NewTime(epoch)) },
		status:    func(e *workerEnv) { e.running("c1", time.Minute, true) },
		keepGoing: true, want: "Success",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var mutate []func(*v1.Pod)
			if tc.mutate != nil {
				mutate = append(mutate, tc.mutate)
			}
			e := newWorkerEnv(t, tc.probeType, &v1.Probe{ProbeHandler: execCheck, FailureThreshold: 1}, mutate...)
			tc.status(e)
			if got := e.w.doProbe(t.Context()); got != tc.keepGoing {
				t.Fatalf("doProbe = %v, want %v", got, tc.keepGoing)
			}
			if got := e.result(); got != tc.want {
				t.Fatalf("result %s, want %s", got, tc.want)
			}
		})
	}
}

func TestExecProbe(t *testing.T) {
	big := strings.Repeat("x", 8<<10)
	for _, tc := range []struct {
		name    string
		res     kubelet.ExecResult
		err     error
		want    outcome
		wantOut string
		wantErr error
	}{
		{name: "exit 0", res: kubelet.ExecResult{Stdout: []byte("ok")}, want: outcomeSuccess, wantOut: "ok"},
		{name: "exit 1 with output", res: kubelet.ExecResult{ExitCode: 1, Stdout: []byte("out "), Stderr: []byte("err")}, want: outcomeFailure, wantOut: "out err"},
		{name: "output capped at 10 KiB", res: kubelet.ExecResult{Stdout: []byte(big), Stderr: []byte(big)}, want: outcomeSuccess, wantOut: (big + big)[:10<<10]},
		{name: "timeout", err: fmt.Errorf("exec: %w", context.DeadlineExceeded), want: outcomeFailure, wantOut: `command "check --now" timed out`},
		{name: "runtime timeout", err: fmt.Errorf("exec: %w", kubelet.ErrExecTimeout), want: outcomeFailure, wantOut: `command "check --now" timed out`},
		{name: "runtime error", err: kubelet.ErrNotFound, want: outcomeUnknown, wantErr: kubelet.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := &execRuntime{next: func(string) (kubelet.ExecResult, error) { return tc.res, tc.err }}
			got, out, err := execProbe(t.Context(), rt, "c1", []string{"check", "--now"}, time.Second)
			if got != tc.want || out != tc.wantOut || !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("execProbe = %s, %q, %v; want %s, %q, %v", got, out, err, tc.want, tc.wantOut, tc.wantErr)
			}
		})
	}
}

func TestExpandStatic(t *testing.T) {
	env := []v1.EnvVar{{Name: "PORT", Value: "8080"}, {Name: "SECRET", ValueFrom: &v1.EnvVarSource{}}}
	for _, tc := range []struct{ in, want string }{
		{"$(PORT)", "8080"},
		{"--port=$(PORT)/x", "--port=8080/x"},
		{"$(SECRET)", ""},
		{"$(MISSING)", "$(MISSING)"},
		{"$$(PORT)", "$(PORT)"},
		{"$(PORT", "$(PORT"},
		{"a$b", "a$b"},
		{"end$", "end$"},
		{"$$", "$"},
	} {
		if got := expandStatic([]string{tc.in}, env)[0]; got != tc.want {
			t.Errorf("expand %q = %q, want %q", tc.in, got, tc.want)
		}
	}
	// Escapes are undone also when the container has no environment.
	if got := expandStatic([]string{"echo $$HOME"}, nil)[0]; got != "echo $HOME" {
		t.Errorf("without env: %q", got)
	}
}

func TestCoalesceStep(t *testing.T) {
	for _, tc := range []struct{ in, want time.Duration }{
		{time.Millisecond, time.Millisecond},
		{100 * time.Millisecond, 100 * time.Millisecond},
		{300 * time.Millisecond, 250 * time.Millisecond},
		{999 * time.Millisecond, 500 * time.Millisecond},
		{7 * time.Millisecond, 6250 * time.Microsecond},
		{time.Second, time.Second},
		{time.Minute, time.Second},
	} {
		if got := coalesceStep(tc.in); got != tc.want {
			t.Errorf("coalesceStep(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if got := New(nil, Options{Coalesce: 300 * time.Millisecond}).coalesce; got != 250*time.Millisecond {
		t.Errorf("Manager.coalesce = %v, want 250ms", got)
	}
}

// TestCoalescedSchedule runs a worker on a fake clock with a 100 ms grid:
// the first probe waits for a grid point, the periodic ones stay on the
// grid, and the schedule after a triggered probe starts again on it.
func TestCoalescedSchedule(t *testing.T) {
	e := newWorkerEnv(t, kubelet.ReadinessProbe, &v1.Probe{ProbeHandler: execCheck, PeriodSeconds: 1})
	e.m.coalesce = 100 * time.Millisecond
	// Long after the manager's start (no start-up jitter), 30 ms past a
	// grid point.
	e.clock.Step(time.Minute + 30*time.Millisecond)
	e.running("c1", time.Minute, true)

	probes := func(want int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for e.rt.count() < want && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		// Give a wrong extra probe a chance to show.
		time.Sleep(20 * time.Millisecond)
		if got := e.rt.count(); got != want {
			t.Fatalf("at %s: %d probes, want %d", e.clock.Now().Sub(epoch), got, want)
		}
	}
	// step moves the clock once the worker waits on it.
	step := func(d time.Duration) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !e.clock.HasWaiters() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		e.clock.Step(d)
	}

	ctx, cancel := context.WithCancel(t.Context())
	e.m.wg.Add(1)
	done := make(chan struct{})
	go func() { defer close(done); e.w.run(ctx) }()
	defer func() { cancel(); <-done }()

	probes(0)
	step(69 * time.Millisecond) // 60.099 s
	probes(0)
	step(time.Millisecond) // 60.100 s: the first grid point
	probes(1)
	step(999 * time.Millisecond) // 61.099 s
	probes(1)
	step(time.Millisecond) // 61.100 s
	probes(2)
	step(50 * time.Millisecond) // 61.150 s
	e.w.trigger()
	probes(3)
	// Without coalescing the next probe would be at 62.150 s; here the
	// schedule starts again at 61.200 s.
	step(50 * time.Millisecond) // 61.200 s: the new ticker starts
	probes(3)
	step(999 * time.Millisecond) // 62.199 s
	probes(3)
	step(time.Millisecond) // 62.200 s
	probes(4)
}
