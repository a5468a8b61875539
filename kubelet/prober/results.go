package prober

import (
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodekit/nodekit/kubelet"
)

// resultKey names the result of one probe type of one container instance,
// as the kubelet's results.Manager keys by container ID (one manager per
// probe type).
type resultKey struct {
	containerID string
	probeType   kubelet.ProbeType
}

// workerKey names a worker: one per pod, container and probe type (the
// kubelet's probeKey).
type workerKey struct {
	podUID    types.UID
	container string
	probeType kubelet.ProbeType
}

// owner is the pod and container a runtime container ID belongs to.
type owner struct {
	podUID    types.UID
	container string
}

// ProbeResult implements kubelet.ProbeResults: the latest result of the
// probe of type t for the container instance containerID.
//
// As the kubelet's UpdatePodStatus, a container the Manager knows whose
// probe of that type has no worker (never had one, or the worker was
// stopped, for example the liveness and startup workers of a pod being
// deleted) counts as passing; a worker that has not produced a result yet
// gives no result, which the engine reads as not started and not ready.
func (m *Manager) ProbeResult(containerID string, t kubelet.ProbeType) (kubelet.ProbeResult, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if r, ok := m.results[resultKey{containerID, t}]; ok {
		return r, true
	}
	o, ok := m.owners[containerID]
	if !ok {
		return kubelet.ProbeUnknown, false
	}
	if _, ok := m.workers[workerKey{o.podUID, o.container, t}]; ok {
		return kubelet.ProbeUnknown, false
	}
	return kubelet.ProbeSuccess, true
}

// setResult records r for the container instance and reports whether it
// changed (the kubelet's results.Manager.Set).
func (m *Manager) setResult(w *worker, r kubelet.ProbeResult) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := resultKey{w.containerID, w.probeType}
	if old, ok := m.results[k]; ok && old == r {
		return false
	}
	m.results[k] = r
	return true
}

// adopt makes w follow a new container instance: the result of the old
// one is dropped and the new one is recorded as the pod's.
func (m *Manager) adopt(w *worker, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w.containerID != "" {
		delete(m.results, resultKey{w.containerID, w.probeType})
		// The engine asks only about running instances; the old one is
		// gone or going.
		delete(m.owners, w.containerID)
	}
	w.containerID = id
	m.owners[id] = owner{w.key.podUID, w.key.container}
}

// removeResult drops the result of w's container instance unless another
// worker for the same key (a replacement) already follows that instance.
func (m *Manager) removeResult(w *worker) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w.containerID == "" {
		return
	}
	if cur, ok := m.workers[w.key]; ok && cur != w && cur.containerID == w.containerID {
		return
	}
	delete(m.results, resultKey{w.containerID, w.probeType})
}
