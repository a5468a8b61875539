package kubelet_test

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/internal/metricstest"
	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/kubelettest"
)

// TestMetrics checks the engine's kubelet metrics through a pod's life:
// its first sync, the start of its init container and container, the
// start duration, an update of its spec, and a failed start.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := kubelet.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kubelet.NewMetrics(reg); err == nil {
		t.Error("registering the metrics twice on one registry succeeded")
	}
	e := newEnv(t, kubelet.Options{Metrics: m})
	e.rt.SetAutoExit("", "init", 0)
	pod := newPod("web", withInit("init"))
	if err := e.s.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	e.syncN(4)
	if st := e.status(pod.UID); st.Phase != v1.PodRunning {
		t.Fatalf("pod not running: %s", summary(st))
	}
	got := metricstest.Samples(t, reg)
	for name, want := range map[string]float64{
		"kubelet_pod_worker_duration_seconds{operation_type=create}":      1,
		"kubelet_started_pods_total{}":                                    1,
		"kubelet_run_podsandbox_duration_seconds{runtime_handler=}":       1,
		"kubelet_started_containers_total{container_type=init_container}": 1,
		"kubelet_started_containers_total{container_type=container}":      1,
		"kubelet_pod_start_duration_seconds{}":                            1,
		"kubelet_started_pods_errors_total{}":                             0,
		"kubelet_running_pods{}":                                          1,
		"kubelet_running_containers{container_state=running}":             1,
		"kubelet_running_containers{container_state=exited}":              1, // the init container
		"kubelet_running_containers{container_state=created}":             0,
		"kubelet_running_containers{container_state=unknown}":             0,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	if got["kubelet_pod_worker_duration_seconds{operation_type=sync}"] < 1 {
		t.Errorf("no sync-type pod worker durations: %v", got)
	}

	// A changed spec is an update.
	updated := pod.DeepCopy()
	updated.Labels = map[string]string{"v": "2"}
	if err := e.s.SetPods([]*v1.Pod{updated}); err != nil {
		t.Fatal(err)
	}
	e.sync()
	if got := metricstest.Samples(t, reg); got["kubelet_pod_worker_duration_seconds{operation_type=update}"] != 1 {
		t.Errorf("update syncs = %v, want 1", got["kubelet_pod_worker_duration_seconds{operation_type=update}"])
	}

	// A start that fails is counted with the runtime's error code.
	other := newPod("broken")
	e.rt.InjectError(kubelettest.OpStartContainer, other.UID, kubelet.ErrInvalidState, 1)
	e.rt.InjectError(kubelettest.OpRunPodSandbox, "", errors.New("no network"), 1)
	if err := e.s.SetPods([]*v1.Pod{updated, other}); err != nil {
		t.Fatal(err)
	}
	e.syncN(3)
	got = metricstest.Samples(t, reg)
	if got["kubelet_started_pods_errors_total{}"] != 1 || got["kubelet_run_podsandbox_errors_total{runtime_handler=}"] != 1 {
		t.Errorf("sandbox errors: %v", got)
	}
	if got["kubelet_started_containers_errors_total{code=FailedPrecondition,container_type=container}"] != 1 {
		t.Errorf("container start errors: %v", got)
	}
	if got["kubelet_pleg_relist_duration_seconds{}"] < 1 {
		t.Errorf("no relist observed: %v", got)
	}

	// With the pods gone, nothing runs.
	if err := e.s.SetPods(nil); err != nil {
		t.Fatal(err)
	}
	e.syncN(4)
	got = metricstest.Samples(t, reg)
	if got["kubelet_running_pods{}"] != 0 || got["kubelet_running_containers{container_state=running}"] != 0 {
		t.Errorf("running pods and containers once the pods are gone: %v", got)
	}
}
