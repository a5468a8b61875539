package prober

import (
	"context"
	"math/rand/v2"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/nodekit/nodekit/kubelet"
)

// The API server's defaults of a probe's fields, applied when a pod that
// did not go through an API server leaves them zero.
const (
	DefaultTimeoutSeconds   int32 = 1
	DefaultPeriodSeconds    int32 = 10
	DefaultSuccessThreshold int32 = 1
	DefaultFailureThreshold int32 = 3
)

// withDefaults returns the probe with the API defaults filled in.
func withDefaults(p *v1.Probe) *v1.Probe {
	if p.TimeoutSeconds > 0 && p.PeriodSeconds > 0 && p.SuccessThreshold > 0 && p.FailureThreshold > 0 {
		return p
	}
	cp := *p
	if cp.TimeoutSeconds <= 0 {
		cp.TimeoutSeconds = DefaultTimeoutSeconds
	}
	if cp.PeriodSeconds <= 0 {
		cp.PeriodSeconds = DefaultPeriodSeconds
	}
	if cp.SuccessThreshold <= 0 {
		cp.SuccessThreshold = DefaultSuccessThreshold
	}
	if cp.FailureThreshold <= 0 {
		cp.FailureThreshold = DefaultFailureThreshold
	}
	return &cp
}

// worker probes one container for one probe type periodically (the
// kubelet's worker). It runs until it is stopped, the pod reaches a
// terminal phase, or the container terminated and will not be restarted.
type worker struct {
	m         *Manager
	key       workerKey
	probeType kubelet.ProbeType
	pod       *v1.Pod
	container *v1.Container
	// spec is the probe as defined (compared to detect changes); probe
	// has the API defaults applied.
	spec  *v1.Probe
	probe *v1.Probe
	// initial is the result while the probe has not decided yet.
	initial kubelet.ProbeResult

	stopCh    chan struct{}
	triggerCh chan struct{}

	// Owned by the worker's goroutine (containerID is written under
	// Manager.mu so that the Manager may read it).
	containerID string
	lastResult  kubelet.ProbeResult
	resultRun   int
	onHold      bool
	requests    requestCache
	metrics     workerMetrics
}

func newWorker(m *Manager, key workerKey, pod *v1.Pod, c *v1.Container, spec *v1.Probe) *worker {
	w := &worker{
		m:         m,
		key:       key,
		probeType: key.probeType,
		pod:       pod,
		container: c,
		spec:      spec,
		probe:     withDefaults(spec),
		stopCh:    make(chan struct{}, 1),
		triggerCh: make(chan struct{}, 1),
	}
	w.metrics = newWorkerMetrics(m.metrics, w)
	switch key.probeType {
	case kubelet.ReadinessProbe:
		w.initial = kubelet.ProbeFailure
	case kubelet.LivenessProbe:
		w.initial = kubelet.ProbeSuccess
	default:
		w.initial = kubelet.ProbeUnknown
	}
	return w
}

// stop asks the worker to end; it is safe to call more than once.
func (w *worker) stop() {
	select {
	case w.stopCh <- struct{}{}:
	default:
	}
}

// trigger asks for a probe now.
func (w *worker) trigger() {
	select {
	case w.triggerCh <- struct{}{}:
	default:
	}
}

// run probes every period until stopped.
func (w *worker) run(ctx context.Context) {
	defer w.m.wg.Done()
	defer func() {
		w.metrics.remove()
		w.m.removeResult(w)
		w.m.removeWorker(w)
	}()
	clk := w.m.clock
	period := time.Duration(w.probe.PeriodSeconds) * time.Second

	// If the program (re)started recently, many probes would start at
	// once: wait a random part of the period first, as the kubelet does.
	// With Options.Coalesce the first probe waits for a grid point.
	var delay time.Duration
	if period > clk.Since(w.m.start) {
		delay = time.Duration(rand.Float64() * float64(period))
	}
	if delay = w.m.untilGrid(delay); delay > 0 {
		t := clk.NewTimer(delay)
		select {
		case <-t.C():
		case <-w.stopCh:
			t.Stop()
			return
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
	// The periodic probes come from ticker. After a triggered probe the
	// schedule restarts a period later; with Options.Coalesce the new
	// ticker starts at the next grid point, which align waits for.
	ticker := clk.NewTicker(period)
	tick := ticker.C()
	var align clock.Timer
	var aligned <-chan time.Time
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
		if align != nil {
			align.Stop()
		}
	}()
	for probe := true; ; {
		if probe && !w.doProbe(ctx) {
			return
		}
		probe = true
		select {
		case <-w.stopCh:
			return
		case <-ctx.Done():
			return
		case <-tick:
		case <-aligned:
			aligned, align = nil, nil
			ticker = clk.NewTicker(period)
			tick = ticker.C()
			probe = false
		case <-w.triggerCh:
			// The next periodic probe is a period after this one.
			if ticker != nil {
				ticker.Stop()
				ticker, tick = nil, nil
			}
			if align != nil {
				align.Stop()
				align, aligned = nil, nil
			}
			if d := w.m.untilGrid(0); d > 0 {
				align = clk.NewTimer(d)
				aligned = align.C()
			} else {
				ticker = clk.NewTicker(period)
				tick = ticker.C()
			}
		}
	}
}

// untilGrid returns d when Options.Coalesce is off, and otherwise the
// time from now to the first grid point at least d from now.
func (m *Manager) untilGrid(d time.Duration) time.Duration {
	if m.coalesce <= 0 {
		return d
	}
	at := m.clock.Now().Add(d).UnixNano()
	r := at % int64(m.coalesce)
	if r < 0 {
		r += int64(m.coalesce)
	}
	if r != 0 {
		d += m.coalesce - time.Duration(r)
	}
	return d
}

// findStatus returns the status of the worker's container, from the
// regular containers or else the init containers.
func findStatus(st *v1.PodStatus, name string) *v1.ContainerStatus {
	for i := range st.ContainerStatuses {
		if c := &st.ContainerStatuses[i]; c.Name == name && c.ContainerID != "" {
			return c
		}
	}
	for i := range st.InitContainerStatuses {
		if c := &st.InitContainerStatuses[i]; c.Name == name && c.ContainerID != "" {
			return c
		}
	}
	return nil
}

// set records a result and asks for a sync of the pod if it changed.
func (w *worker) set(r kubelet.ProbeResult) {
	if w.m.setResult(w, r) {
		w.m.triggerSync(w.key.podUID)
	}
}

// doProbe probes the container once and records the result (the
// kubelet's doProbe). It returns whether the worker should go on.
func (w *worker) doProbe(ctx context.Context) bool {
	start := time.Now()
	src := w.m.source()
	if src == nil {
		return false
	}
	status, ok := src.PodStatus(w.key.podUID)
	if !ok {
		// Not synced yet, or already gone.
		return true
	}
	if status.Phase == v1.PodFailed || status.Phase == v1.PodSucceeded {
		return false
	}
	c := findStatus(status, w.container.Name)
	if c == nil {
		// Not created yet, or removed.
		return true
	}
	if id := containerIDOf(c.ContainerID); id != w.containerID {
		w.m.adopt(w, id)
		w.set(w.initial)
		// A new container: resume probing.
		w.onHold = false
	}
	if w.onHold {
		// Held after a liveness or startup failure until a new instance.
		return true
	}
	pod := w.m.currentPod(w.key.podUID, w.pod)
	if c.State.Running == nil {
		w.set(kubelet.ProbeFailure)
		// Stop if the container will not be restarted (sidecars always
		// are).
		return c.State.Terminated == nil || pod.Spec.RestartPolicy != v1.RestartPolicyNever ||
			(w.container.RestartPolicy != nil && *w.container.RestartPolicy == v1.ContainerRestartPolicyAlways)
	}
	if pod.DeletionTimestamp != nil && (w.probeType == kubelet.LivenessProbe || w.probeType == kubelet.StartupProbe) {
		// Graceful shutdown: leave a quiet success and stop.
		w.set(kubelet.ProbeSuccess)
		return false
	}
	if int32(w.m.clock.Since(c.State.Running.StartedAt.Time).Seconds()) < w.probe.InitialDelaySeconds {
		return true
	}
	if c.Started != nil && *c.Started {
		// The startup probe is done once the container started; the
		// worker stays for the next instance.
		if w.probeType == kubelet.StartupProbe {
			return true
		}
	} else if w.probeType != kubelet.StartupProbe {
		// Liveness and readiness wait for the startup probe.
		return true
	}

	result, err := w.m.prober.probe(ctx, w.probeType, w.probe, pod, status, w.container, w.containerID, &w.requests)
	if err != nil {
		// A prober error: the result is thrown away.
		return true
	}
	w.metrics.record(result, start)
	if w.lastResult == result {
		w.resultRun++
	} else {
		w.lastResult = result
		w.resultRun = 1
	}
	if (result == kubelet.ProbeFailure && w.resultRun < int(w.probe.FailureThreshold)) ||
		(result == kubelet.ProbeSuccess && w.resultRun < int(w.probe.SuccessThreshold)) {
		// Below the threshold: the recorded result stays.
		return true
	}
	w.set(result)
	if (w.probeType == kubelet.LivenessProbe && result == kubelet.ProbeFailure) || w.probeType == kubelet.StartupProbe {
		// A liveness or startup failure restarts the container: hold
		// until a new instance exists, so that probing never races the
		// restart. A startup probe that decided either way is done with
		// this instance too.
		w.onHold = true
		w.resultRun = 0
	}
	return true
}
