package prober

import (
	"fmt"
	"maps"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nodekit/nodekit/kubelet"
)

// Metrics are the kubelet prober's Prometheus metrics, with the kubelet's
// names, labels and values:
//
//   - prober_probe_total{probe_type, result, container, pod, namespace,
//     pod_uid}: probes run, by result ("successful", "failed", "unknown");
//     a probe that errored (its result thrown away) is not counted;
//   - prober_probe_duration_seconds{probe_type, container, pod,
//     namespace}: the time of one probe worker pass, observed for
//     successful and unknown results, as the kubelet does.
//
// probe_type is "Liveness", "Readiness" or "Startup". A worker's series are
// deleted when it stops. Metrics is safe for concurrent use.
type Metrics struct {
	results  *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics creates the metrics and registers them on reg (never on a
// global registry). It fails if reg already holds metrics of these names.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		results: prometheus.NewCounterVec(prometheus.CounterOpts{Subsystem: "prober", Name: "probe_total",
			Help: "Cumulative number of a liveness, readiness or startup probe for a container by result."},
			[]string{"probe_type", "result", "container", "pod", "namespace", "pod_uid"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Subsystem: "prober", Name: "probe_duration_seconds",
			Help: "Duration in seconds for a probe response.", Buckets: prometheus.DefBuckets},
			[]string{"probe_type", "container", "pod", "namespace"}),
	}
	for _, c := range []prometheus.Collector{m.results, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("prober: register metrics: %w", err)
		}
	}
	return m, nil
}

// The result label values of prober_probe_total.
const (
	resultSuccessful = "successful"
	resultFailed     = "failed"
	resultUnknown    = "unknown"
)

// probeTypeLabel is the kubelet's name of a probe type.
func probeTypeLabel(t kubelet.ProbeType) string {
	switch t {
	case kubelet.LivenessProbe:
		return "Liveness"
	case kubelet.ReadinessProbe:
		return "Readiness"
	}
	return "Startup"
}

// workerMetrics are one worker's series; the zero value (no Metrics)
// records nothing.
type workerMetrics struct {
	m                            *Metrics
	successful, failed, unknown  prometheus.Counter
	duration                     prometheus.Observer
	resultLabels, durationLabels prometheus.Labels
}

func newWorkerMetrics(m *Metrics, w *worker) workerMetrics {
	if m == nil {
		return workerMetrics{}
	}
	labels := prometheus.Labels{
		"probe_type": probeTypeLabel(w.probeType),
		"container":  w.container.Name,
		"pod":        w.pod.Name,
		"namespace":  w.pod.Namespace,
	}
	wm := workerMetrics{m: m, durationLabels: labels, resultLabels: maps.Clone(labels)}
	wm.resultLabels["pod_uid"] = string(w.pod.UID)
	with := func(result string) prometheus.Counter { return m.results.With(wm.withResult(result)) }
	wm.successful, wm.failed, wm.unknown = with(resultSuccessful), with(resultFailed), with(resultUnknown)
	wm.duration = m.duration.With(labels)
	return wm
}

// record counts one probe's result and, for a successful or unknown
// result, the time since start.
func (wm workerMetrics) record(r kubelet.ProbeResult, start time.Time) {
	if wm.m == nil {
		return
	}
	switch r {
	case kubelet.ProbeSuccess:
		wm.successful.Inc()
		wm.duration.Observe(time.Since(start).Seconds())
	case kubelet.ProbeFailure:
		wm.failed.Inc()
	default:
		wm.unknown.Inc()
		wm.duration.Observe(time.Since(start).Seconds())
	}
}

// remove deletes the worker's series.
func (wm workerMetrics) remove() {
	if wm.m == nil {
		return
	}
	for _, result := range []string{resultSuccessful, resultFailed, resultUnknown} {
		wm.m.results.Delete(wm.withResult(result))
	}
	wm.m.duration.Delete(wm.durationLabels)
}

// withResult returns the worker's prober_probe_total labels with result.
func (wm workerMetrics) withResult(result string) prometheus.Labels {
	l := maps.Clone(wm.resultLabels)
	l["result"] = result
	return l
}
