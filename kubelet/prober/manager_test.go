package prober_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/internal/metricstest"
	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/kubelettest"
	"github.com/nodekit/nodekit/kubelet/prober"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// env is a Syncer and a prober Manager on a fake runtime and a fake clock,
// both running.
type env struct {
	t       *testing.T
	clock   *clocktesting.FakeClock
	rt      *kubelettest.FakeRuntime
	s       *kubelet.Syncer
	m       *prober.Manager
	updates <-chan kubelet.StatusUpdate
	exits   sync.Map // container name -> int (exit code of its probe commands)
	latest  map[types.UID]*v1.PodStatus
}

func newEnv(t *testing.T, opts ...prober.Options) *env {
	t.Helper()
	clk := clocktesting.NewFakeClock(epoch)
	rt := kubelettest.NewFakeRuntime(clk)
	e := &env{t: t, clock: clk, rt: rt, latest: map[types.UID]*v1.PodStatus{}}
	rt.SetExecHandler(func(ctx context.Context, c kubelet.ContainerStatus, cmd []string) (kubelet.ExecResult, error) {
		code := 0
		if v, ok := e.exits.Load(c.Name); ok && cmd[0] != "true" {
			code = v.(int)
		}
		return kubelet.ExecResult{ExitCode: code, Stdout: []byte(fmt.Sprintf("exit %d", code))}, nil
	})
	var o prober.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	o.Clock = clk
	e.m = prober.New(rt, o)
	// Past the start jitter window.
	clk.Step(time.Minute)
	e.s = kubelet.New(rt, kubelet.Options{Clock: clk, Probes: e.m, HostIPs: []string{"192.168.1.10"}})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	e.updates = e.s.Subscribe(ctx)
	go func() { defer wg.Done(); _ = e.s.Run(ctx) }()
	go func() { defer wg.Done(); _ = e.m.Run(ctx, e.s) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return e
}

func (e *env) setExit(name string, code int) { e.exits.Store(name, code) }

// drain takes the pending status updates.
func (e *env) drain() {
	for {
		select {
		case u := <-e.updates:
			e.latest[u.UID] = u.Status
		default:
			return
		}
	}
}

// eventually steps the fake clock a second at a time until cond holds on
// the latest status delivered to a subscriber. It fails after a bound on
// steps, never on elapsed time.
func (e *env) eventually(what string, uid types.UID, cond func(*v1.PodStatus) bool) *v1.PodStatus {
	e.t.Helper()
	for range 3000 {
		deadline := time.After(5 * time.Millisecond)
	wait:
		for {
			select {
			case u := <-e.updates:
				e.latest[u.UID] = u.Status
			case <-deadline:
				break wait
			}
		}
		if st := e.latest[uid]; st != nil && cond(st) {
			return st
		}
		e.clock.Step(time.Second)
	}
	e.t.Fatalf("never: %s; last status: %+v", what, e.latest[uid])
	return nil
}

func condition(st *v1.PodStatus, t v1.PodConditionType) v1.ConditionStatus {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func container(st *v1.PodStatus, name string) v1.ContainerStatus {
	for _, c := range append(append([]v1.ContainerStatus{}, st.InitContainerStatuses...), st.ContainerStatuses...) {
		if c.Name == name {
			return c
		}
	}
	return v1.ContainerStatus{}
}

func newPod(name string, mut ...func(*v1.Pod)) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec: v1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](30),
			Containers:                    []v1.Container{{Name: "app", Image: "app:1"}},
		},
	}
	for _, f := range mut {
		f(p)
	}
	return p
}

func execProbe(period, failures int32) *v1.Probe {
	return &v1.Probe{
		ProbeHandler:  v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"check"}}},
		PeriodSeconds: period, FailureThreshold: failures,
	}
}

func stopGraces(rt *kubelettest.FakeRuntime, name string) []time.Duration {
	var out []time.Duration
	for _, c := range rt.Calls() {
		if c.Op == kubelettest.OpStopContainer && c.Name == name {
			out = append(out, c.GracePeriod)
		}
	}
	return out
}

func TestReadinessFlipsReadyBothWays(t *testing.T) {
	e := newEnv(t)
	pod := newPod("web", func(p *v1.Pod) { p.Spec.Containers[0].ReadinessProbe = execProbe(1, 1) })
	e.setExit("app", 0)
	if err := e.s.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	e.eventually("ready", pod.UID, func(st *v1.PodStatus) bool {
		return condition(st, v1.PodReady) == v1.ConditionTrue && condition(st, v1.ContainersReady) == v1.ConditionTrue && container(st, "app").Ready
	})
	e.setExit("app", 1)
	st := e.eventually("not ready", pod.UID, func(st *v1.PodStatus) bool {
		return condition(st, v1.PodReady) == v1.ConditionFalse && !container(st, "app").Ready
	})
	if c := container(st, "app"); c.RestartCount != 0 || c.State.Running == nil || condition(st, v1.ContainersReady) != v1.ConditionFalse {
		t.Fatalf("readiness failure must not restart: %+v", c)
	}
	e.setExit("app", 0)
	e.eventually("ready again", pod.UID, func(st *v1.PodStatus) bool {
		return condition(st, v1.PodReady) == v1.ConditionTrue
	})
	if g := stopGraces(e.rt, "app"); len(g) != 0 {
		t.Fatalf("container stopped: %v", g)
	}
}

func TestLivenessFailureRestartsWithProbeGracePeriod(t *testing.T) {
	e := newEnv(t)
	pod := newPod("web", func(p *v1.Pod) {
		lp := execProbe(1, 3)
		lp.TerminationGracePeriodSeconds = ptr.To[int64](5)
		p.Spec.Containers[0].LivenessProbe = lp
	})
	e.setExit("app", 1)
	if err := e.s.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	e.eventually("restarted", pod.UID, func(st *v1.PodStatus) bool {
		c := container(st, "app")
		return c.RestartCount == 1 && c.State.Running != nil
	})
	if g := stopGraces(e.rt, "app"); len(g) != 1 || g[0] != 5*time.Second {
		t.Fatalf("stops %v, want one with the probe's 5s", g)
	}
	// The new instance starts with a passing liveness result and is
	// probed afresh: a healthy container stays.
	e.setExit("app", 0)
	for range 20 {
		e.clock.Step(time.Second)
		time.Sleep(time.Millisecond)
	}
	e.drain()
	if c := container(e.latest[pod.UID], "app"); c.RestartCount != 1 || c.State.Running == nil {
		t.Fatalf("healthy new instance restarted: %+v", c)
	}
}

func TestStartupFailureRestartsWithProbeGracePeriod(t *testing.T) {
	e := newEnv(t)
	pod := newPod("web", func(p *v1.Pod) {
		sp := execProbe(1, 2)
		sp.TerminationGracePeriodSeconds = ptr.To[int64](3)
		p.Spec.Containers[0].StartupProbe = sp
		rp := execProbe(1, 1)
		rp.Exec.Command = []string{"ready-check"}
		p.Spec.Containers[0].ReadinessProbe = rp
	})
	e.setExit("app", 1)
	if err := e.s.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	e.eventually("restarted", pod.UID, func(st *v1.PodStatus) bool {
		return container(st, "app").RestartCount == 1
	})
	if g := stopGraces(e.rt, "app"); len(g) != 1 || g[0] != 3*time.Second {
		t.Fatalf("stops %v, want one with the startup probe's 3s", g)
	}
	// The readiness probe never ran: it waits for the startup probe.
	for _, c := range e.rt.Calls() {
		if c.Op == kubelettest.OpExecSync && c.Cmd[0] == "ready-check" {
			t.Fatalf("readiness probed before the startup probe succeeded: %v", c)
		}
	}
	e.setExit("app", 0)
	e.eventually("started and ready", pod.UID, func(st *v1.PodStatus) bool {
		c := container(st, "app")
		return c.Started != nil && *c.Started && c.Ready
	})
}

func TestLivenessFailureWithRestartPolicyNeverFailsThePod(t *testing.T) {
	e := newEnv(t)
	pod := newPod("job", func(p *v1.Pod) {
		p.Spec.RestartPolicy = v1.RestartPolicyNever
		p.Spec.Containers[0].LivenessProbe = execProbe(1, 1)
	})
	e.setExit("app", 1)
	if err := e.s.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	e.eventually("failed", pod.UID, func(st *v1.PodStatus) bool { return st.Phase == v1.PodFailed })
	e.eventually("workers gone", pod.UID, func(*v1.PodStatus) bool { return e.m.Workers() == 0 })
}

func TestStartupProbeGatesNextInitContainerAndLiveness(t *testing.T) {
	e := newEnv(t)
	pod := newPod("web", func(p *v1.Pod) {
		p.Spec.InitContainers = []v1.Container{
			{Name: "proxy", Image: "proxy:1", RestartPolicy: ptr.To(v1.ContainerRestartPolicyAlways), StartupProbe: execProbe(1, 1000)},
			{Name: "migrate", Image: "migrate:1"},
		}
		p.Spec.Containers[0].StartupProbe = execProbe(1, 1000)
		p.Spec.Containers[0].LivenessProbe = execProbe(1, 1)
	})
	e.rt.SetAutoExit(pod.UID, "migrate", 0)
	e.setExit("proxy", 1)
	e.setExit("app", 1)
	if err := e.s.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	e.eventually("proxy running, not started", pod.UID, func(st *v1.PodStatus) bool {
		c := container(st, "proxy")
		return c.State.Running != nil && c.Started != nil && !*c.Started
	})
	for range 10 {
		e.clock.Step(time.Second)
		time.Sleep(time.Millisecond)
	}
	for _, c := range e.rt.Calls() {
		if c.Op == kubelettest.OpCreateContainer && c.Name != "proxy" {
			t.Fatalf("%s created before the sidecar's startup probe succeeded", c.Name)
		}
	}
	e.setExit("proxy", 0)
	e.eventually("app running, not started", pod.UID, func(st *v1.PodStatus) bool {
		c := container(st, "app")
		return container(st, "migrate").State.Terminated != nil && c.State.Running != nil && c.Started != nil && !*c.Started
	})
	// The liveness probe fails, but it waits for the startup probe.
	for range 10 {
		e.clock.Step(time.Second)
		time.Sleep(time.Millisecond)
	}
	if g := stopGraces(e.rt, "app"); len(g) != 0 {
		t.Fatalf("liveness ran before startup succeeded: stops %v", g)
	}
	e.setExit("app", 0)
	e.eventually("ready", pod.UID, func(st *v1.PodStatus) bool {
		return condition(st, v1.PodReady) == v1.ConditionTrue && *container(st, "app").Started
	})
	e.setExit("app", 1)
	e.eventually("liveness restart after start", pod.UID, func(st *v1.PodStatus) bool {
		return container(st, "app").RestartCount >= 1
	})
}

func TestHTTPReadinessThroughTheEngine(t *testing.T) {
	var healthy atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	e := newEnv(t)
	pod := newPod("web", func(p *v1.Pod) {
		p.Spec.Containers[0].Ports = []v1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}
		p.Spec.Containers[0].ReadinessProbe = &v1.Probe{
			ProbeHandler:  v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Host: "127.0.0.1", Port: intstr.FromString("http"), Path: "/healthz"}},
			PeriodSeconds: 1, FailureThreshold: 1,
		}
	})
	if err := e.s.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	e.eventually("running, not ready", pod.UID, func(st *v1.PodStatus) bool {
		return container(st, "app").State.Running != nil && condition(st, v1.PodReady) == v1.ConditionFalse
	})
	healthy.Store(true)
	e.eventually("ready", pod.UID, func(st *v1.PodStatus) bool { return condition(st, v1.PodReady) == v1.ConditionTrue })
	healthy.Store(false)
	e.eventually("not ready", pod.UID, func(st *v1.PodStatus) bool { return condition(st, v1.PodReady) == v1.ConditionFalse })
}

func TestDeletionStopsWorkers(t *testing.T) {
	e := newEnv(t)
	pod := newPod("web", func(p *v1.Pod) {
		p.Spec.Containers[0].ReadinessProbe = execProbe(1, 1)
		p.Spec.Containers[0].LivenessProbe = execProbe(1, 1)
	})
	if err := e.s.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	e.eventually("ready", pod.UID, func(st *v1.PodStatus) bool { return condition(st, v1.PodReady) == v1.ConditionTrue })
	if n := e.m.Workers(); n != 2 {
		t.Fatalf("%d workers, want 2", n)
	}
	if err := e.s.DeletePod(pod.UID, kubelet.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually("workers gone", pod.UID, func(*v1.PodStatus) bool { return e.m.Workers() == 0 })
}

func TestChangedDefinitionGetsNewWorkers(t *testing.T) {
	e := newEnv(t)
	pod := newPod("web", func(p *v1.Pod) { p.Spec.Containers[0].ReadinessProbe = execProbe(1, 1) })
	e.setExit("app", 1)
	if err := e.s.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	e.eventually("running, not ready", pod.UID, func(st *v1.PodStatus) bool {
		return container(st, "app").State.Running != nil && condition(st, v1.PodReady) == v1.ConditionFalse
	})
	p2 := pod.DeepCopy()
	p2.Spec.Containers[0].ReadinessProbe.Exec.Command = []string{"true"}
	if err := e.s.UpdatePod(p2); err != nil {
		t.Fatal(err)
	}
	st := e.eventually("ready with the new probe", pod.UID, func(st *v1.PodStatus) bool { return condition(st, v1.PodReady) == v1.ConditionTrue })
	if c := container(st, "app"); c.RestartCount != 1 {
		t.Fatalf("changed container not restarted: %+v", c)
	}
	if n := e.m.Workers(); n != 1 {
		t.Fatalf("%d workers, want 1", n)
	}
}

func TestRunTwice(t *testing.T) {
	clk := clocktesting.NewFakeClock(epoch)
	rt := kubelettest.NewFakeRuntime(clk)
	m := prober.New(rt, prober.Options{Clock: clk})
	s := kubelet.New(rt, kubelet.Options{Clock: clk, Probes: m})
	ctx, stop := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	start := func() { go func() { errc <- m.Run(ctx, s) }() }
	start()
	// A Run with a done context is refused while the first Run is active;
	// if it comes first it returns at once, and the first Run, meeting it,
	// may itself be refused: then it starts again.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	for refused := false; !refused; {
		select {
		case err := <-errc:
			if !errors.Is(err, prober.ErrAlreadyRunning) {
				t.Fatalf("first Run returned %v", err)
			}
			start()
		default:
		}
		switch err := m.Run(done, s); {
		case errors.Is(err, prober.ErrAlreadyRunning):
			refused = true
		case err != nil:
			t.Fatal(err)
		default:
			time.Sleep(time.Millisecond)
		}
	}
	stop()
	if err := <-errc; err != nil {
		t.Errorf("first Run returned %v after its context ended", err)
	}
}

// TestRunCatchesUpWithExistingPods: a Manager started after the Syncer
// published its pods' statuses finds them through Pods.
func TestRunCatchesUpWithExistingPods(t *testing.T) {
	clk := clocktesting.NewFakeClock(epoch)
	rt := kubelettest.NewFakeRuntime(clk)
	m := prober.New(rt, prober.Options{Clock: clk})
	clk.Step(time.Minute)
	s := kubelet.New(rt, kubelet.Options{Clock: clk, Probes: m})
	pod := newPod("web", func(p *v1.Pod) { p.Spec.Containers[0].ReadinessProbe = execProbe(1, 1) })
	if err := s.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.SyncOnce(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := s.PodStatus(pod.UID); st == nil || container(st, "app").State.Running == nil || container(st, "app").Ready {
		t.Fatalf("before the prober runs: %+v", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = s.Run(ctx) }()
	go func() { defer wg.Done(); _ = m.Run(ctx, s) }()
	defer func() { cancel(); wg.Wait() }()
	for i := 0; ; i++ {
		if st, _ := s.PodStatus(pod.UID); condition(st, v1.PodReady) == v1.ConditionTrue {
			return
		}
		if i == 3000 {
			t.Fatal("never ready: the prober did not pick up the existing pod")
		}
		clk.Step(time.Second)
		time.Sleep(time.Millisecond)
	}
}

// TestMetrics checks the kubelet's prober metrics: results by kind, the
// duration of successful probes, and the series deleted with the worker.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	metrics, err := prober.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prober.NewMetrics(reg); err == nil {
		t.Error("registering the metrics twice on one registry succeeded")
	}
	e := newEnv(t, prober.Options{Metrics: metrics})
	pod := newPod("web", func(p *v1.Pod) { p.Spec.Containers[0].ReadinessProbe = execProbe(1, 1) })
	e.setExit("app", 0)
	if err := e.s.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	e.eventually("ready", pod.UID, func(st *v1.PodStatus) bool { return condition(st, v1.PodReady) == v1.ConditionTrue })
	e.setExit("app", 1)
	e.eventually("not ready", pod.UID, func(st *v1.PodStatus) bool { return condition(st, v1.PodReady) == v1.ConditionFalse })

	base := "container=app,namespace=default,pod=web,pod_uid=" + string(pod.UID) + ",probe_type=Readiness"
	got := metricstest.Samples(t, reg)
	if got["prober_probe_total{"+base+",result=successful}"] < 1 || got["prober_probe_total{"+base+",result=failed}"] < 1 {
		t.Errorf("prober_probe_total = %v; want successful and failed Readiness probes of web/app", got)
	}
	if got["prober_probe_duration_seconds{container=app,namespace=default,pod=web,probe_type=Readiness}"] < 1 {
		t.Errorf("prober_probe_duration_seconds = %v; want observations for web/app", got)
	}
	if err := e.s.DeletePod(pod.UID, kubelet.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.eventually("workers gone", pod.UID, func(*v1.PodStatus) bool { return e.m.Workers() == 0 })
	for k := range metricstest.Samples(t, reg) {
		if strings.HasPrefix(k, "prober_probe_total{") {
			t.Errorf("series left after the worker stopped: %s", k)
		}
	}
}
