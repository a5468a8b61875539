package kubelet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
)

// Metrics are the engine's Prometheus metrics, with the kubelet's names,
// labels and buckets:
//
//   - kubelet_pod_worker_duration_seconds{operation_type}: one sync of a
//     running pod, by "create" (the pod's first sync), "update" (the
//     first after its spec changed) or "sync";
//   - kubelet_pod_start_duration_seconds: from the engine first seeing a
//     pod (SetPods) to its status first turning Running;
//   - kubelet_pleg_relist_duration_seconds: one relist of the runtime;
//   - kubelet_running_pods and kubelet_running_containers{container_state}:
//     from each relist's listing, as the kubelet's PLEG sets them, the
//     pods with a ready sandbox and the containers by state ("created",
//     "running", "exited", "unknown"). Unlike the kubelet, which sets only
//     the states it saw in the listing (a state no container is in any more
//     keeps its last count), every state is set, to 0 when none is in it;
//   - kubelet_started_pods_total and kubelet_started_pods_errors_total:
//     sandboxes created, and failures to;
//   - kubelet_run_podsandbox_duration_seconds{runtime_handler} and
//     kubelet_run_podsandbox_errors_total{runtime_handler}: RunPodSandbox
//     calls (runtime_handler is empty: there are no RuntimeClasses);
//   - kubelet_started_containers_total{container_type} and
//     kubelet_started_containers_errors_total{container_type, code}:
//     container starts ("container" or "init_container") and the
//     failures of their create or start. code is the gRPC code the CRI
//     would have carried (NotFound, AlreadyExists, FailedPrecondition,
//     DeadlineExceeded, Canceled, or Unknown).
//
// Metrics is safe for concurrent use.
type Metrics struct {
	podWorkerDuration      *prometheus.HistogramVec
	podStartDuration       prometheus.Histogram
	relistDuration         prometheus.Histogram
	runningPods            prometheus.Gauge
	runningContainers      *prometheus.GaugeVec
	startedPods            prometheus.Counter
	startedPodsErrors      prometheus.Counter
	runSandboxDuration     *prometheus.HistogramVec
	runSandboxErrors       *prometheus.CounterVec
	startedContainers      *prometheus.CounterVec
	startedContainersError *prometheus.CounterVec
}

// podStartBuckets are the kubelet's pod start duration buckets.
var podStartBuckets = []float64{0.5, 1, 2, 3, 4, 5, 6, 8, 10, 20, 30, 45, 60, 120, 180, 240, 300, 360, 480, 600, 900, 1200, 1800, 2700, 3600}

// NewMetrics creates the metrics and registers them on reg (never on a
// global registry). It fails if reg already holds metrics of these names.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	const sub = "kubelet"
	m := &Metrics{
		podWorkerDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Subsystem: sub, Name: "pod_worker_duration_seconds",
			Help: "Duration in seconds to sync a single pod. Broken down by operation type: create, update, or sync", Buckets: prometheus.DefBuckets},
			[]string{"operation_type"}),
		podStartDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Subsystem: sub, Name: "pod_start_duration_seconds",
			Help: "Duration in seconds from kubelet seeing a pod for the first time to the pod starting to run", Buckets: podStartBuckets}),
		relistDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Subsystem: sub, Name: "pleg_relist_duration_seconds",
			Help: "Duration in seconds for relisting pods in PLEG.", Buckets: prometheus.DefBuckets}),
		runningPods: prometheus.NewGauge(prometheus.GaugeOpts{Subsystem: sub, Name: "running_pods",
			Help: "Number of pods that have a running pod sandbox"}),
		runningContainers: prometheus.NewGaugeVec(prometheus.GaugeOpts{Subsystem: sub, Name: "running_containers",
			Help: "Number of containers currently running"}, []string{"container_state"}),
		startedPods: prometheus.NewCounter(prometheus.CounterOpts{Subsystem: sub, Name: "started_pods_total",
			Help: "Cumulative number of pods started"}),
		startedPodsErrors: prometheus.NewCounter(prometheus.CounterOpts{Subsystem: sub, Name: "started_pods_errors_total",
			Help: "Cumulative number of errors when starting pods"}),
		runSandboxDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Subsystem: sub, Name: "run_podsandbox_duration_seconds",
			Help: "Duration in seconds of the run_podsandbox operations. Broken down by RuntimeClass.Handler.", Buckets: prometheus.DefBuckets},
			[]string{"runtime_handler"}),
		runSandboxErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Subsystem: sub, Name: "run_podsandbox_errors_total",
			Help: "Cumulative number of the run_podsandbox operation errors by RuntimeClass.Handler."},
			[]string{"runtime_handler"}),
		startedContainers: prometheus.NewCounterVec(prometheus.CounterOpts{Subsystem: sub, Name: "started_containers_total",
			Help: "Cumulative number of containers started"}, []string{"container_type"}),
		startedContainersError: prometheus.NewCounterVec(prometheus.CounterOpts{Subsystem: sub, Name: "started_containers_errors_total",
			Help: "Cumulative number of errors when starting containers"}, []string{"container_type", "code"}),
	}
	for _, c := range []prometheus.Collector{m.podWorkerDuration, m.podStartDuration, m.relistDuration, m.runningPods, m.runningContainers, m.startedPods,
		m.startedPodsErrors, m.runSandboxDuration, m.runSandboxErrors, m.startedContainers, m.startedContainersError} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("kubelet: register metrics: %w", err)
		}
	}
	return m, nil
}

// The operation types of kubelet_pod_worker_duration_seconds.
const (
	syncTypeCreate = "create"
	syncTypeUpdate = "update"
	syncTypeSync   = "sync"
)

// containerTypeLabel is the kubelet's container_type label value.
func containerTypeLabel(init bool) string {
	if init {
		return "init_container"
	}
	return "container"
}

// errorCode is the gRPC code name a CRI runtime would have returned for
// err.
func errorCode(err error) string {
	switch {
	case errors.Is(err, ErrNotFound):
		return "NotFound"
	case errors.Is(err, ErrAlreadyExists):
		return "AlreadyExists"
	case errors.Is(err, ErrInvalidState):
		return "FailedPrecondition"
	case errors.Is(err, context.DeadlineExceeded):
		return "DeadlineExceeded"
	case errors.Is(err, context.Canceled):
		return "Canceled"
	}
	return "Unknown"
}

// The methods below do nothing on a nil *Metrics.

func (m *Metrics) observeSync(syncType string, start time.Time) {
	if m != nil {
		m.podWorkerDuration.WithLabelValues(syncType).Observe(time.Since(start).Seconds())
	}
}

func (m *Metrics) observePodStart(d time.Duration) {
	if m != nil {
		m.podStartDuration.Observe(d.Seconds())
	}
}

func (m *Metrics) observeRelist(start time.Time) {
	if m != nil {
		m.relistDuration.Observe(time.Since(start).Seconds())
	}
}

// setRunning sets the running pod and container gauges from a relist's
// listing.
func (m *Metrics) setRunning(sandboxes []*SandboxStatus, containers []*ContainerStatus) {
	if m == nil {
		return
	}
	pods := map[types.UID]bool{}
	for _, sb := range sandboxes {
		if sb.State == SandboxReady {
			pods[sb.PodUID] = true
		}
	}
	m.runningPods.Set(float64(len(pods)))
	counts := map[ContainerState]int{ContainerCreated: 0, ContainerRunning: 0, ContainerExited: 0, ContainerUnknown: 0}
	for _, c := range containers {
		counts[c.State]++
	}
	for state, n := range counts {
		m.runningContainers.WithLabelValues(strings.ToLower(string(state))).Set(float64(n))
	}
}

func (m *Metrics) sandboxRun(start time.Time, err error) {
	if m == nil {
		return
	}
	m.startedPods.Inc()
	m.runSandboxDuration.WithLabelValues("").Observe(time.Since(start).Seconds())
	if err != nil {
		m.startedPodsErrors.Inc()
		m.runSandboxErrors.WithLabelValues("").Inc()
	}
}

func (m *Metrics) containerStarting(init bool) {
	if m != nil {
		m.startedContainers.WithLabelValues(containerTypeLabel(init)).Inc()
	}
}

func (m *Metrics) containerStartFailed(init bool, err error) {
	if m != nil {
		m.startedContainersError.WithLabelValues(containerTypeLabel(init), errorCode(err)).Inc()
	}
}
