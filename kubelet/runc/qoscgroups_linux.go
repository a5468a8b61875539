package runc

import (
	"errors"
	"fmt"
	"path"
	"sync"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodekit/nodekit/internal/cgrouplayout"
	"github.com/nodekit/nodekit/kubelet"
)

// qosPod is what a pod with a cgroup of its own adds to the cgroup of its
// QoS class: its class and its CPU requests.
type qosPod struct {
	class    v1.PodQOSClass
	milliCPU int64
}

// qosCgroups keeps the cpu.shares of the kubelet's QoS cgroups
// (/kubepods/burstable and /kubepods/besteffort below the cgroup root) in
// step with the pods that have cgroups below them, as the kubelet's
// qosContainerManager does: Burstable gets the CPU requests of all
// Burstable pods together, BestEffort the minimum (kubelet.QOSCPUShares).
// Guaranteed pods sit in /kubepods, whose shares it leaves alone.
//
// It is safe for concurrent use: each write is computed from the pods
// known when it holds the lock, so the last write is always up to date.
type qosCgroups struct {
	fsRoot, cgroupRoot string

	mu   sync.Mutex
	pods map[types.UID]qosPod
}

func newQOSCgroups(fsRoot, cgroupRoot string) *qosCgroups {
	return &qosCgroups{fsRoot: fsRoot, cgroupRoot: cgroupRoot, pods: map[types.UID]qosPod{}}
}

// qosPodOf returns what sb's pod adds to its QoS cgroup, and false for a
// sandbox whose cgroup is not the pod's own in the kubelet's cgroupfs
// layout below that class's cgroup (a Guaranteed pod, a caller's parent).
func qosPodOf(sb *sandboxRecord) (qosPod, bool) {
	if !ownsPodCgroup(sb) || (sb.QOSClass != v1.PodQOSBurstable && sb.QOSClass != v1.PodQOSBestEffort) {
		return qosPod{}, false
	}
	if path.Dir(path.Clean("/"+sb.CgroupParent)) != cgrouplayout.QOSCgroupName(sb.QOSClass).ToCgroupfs() {
		return qosPod{}, false
	}
	return qosPod{class: sb.QOSClass, milliCPU: sb.MilliCPURequest}, true
}

// add records the pod of uid (replacing what it had) and writes its
// class's cgroup.
func (q *qosCgroups) add(uid types.UID, p qosPod) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pods[uid] = p
	return q.writeLocked(p.class)
}

// remove forgets the pod of uid and writes its class's cgroup.
func (q *qosCgroups) remove(uid types.UID) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	p, ok := q.pods[uid]
	if !ok {
		return nil
	}
	delete(q.pods, uid)
	return q.writeLocked(p.class)
}

// restore records the pods of sandboxes (as a new Runtime finds them) and
// writes the cgroup of each class they use.
func (q *qosCgroups) restore(sandboxes map[string]*sandboxRecord) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	classes := map[v1.PodQOSClass]bool{}
	for _, sb := range sandboxes {
		if p, ok := qosPodOf(sb); ok {
			q.pods[sb.PodUID] = p
			classes[p.class] = true
		}
	}
	var errs []error
	for _, class := range []v1.PodQOSClass{v1.PodQOSBurstable, v1.PodQOSBestEffort} {
		if classes[class] {
			errs = append(errs, q.writeLocked(class))
		}
	}
	return errors.Join(errs...)
}

// writeLocked writes the cpu.shares (cpu.weight on cgroup v2) of class's
// cgroup from the pods recorded. q.mu must be held.
func (q *qosCgroups) writeLocked(class v1.PodQOSClass) error {
	var milli int64
	for _, p := range q.pods {
		if p.class == class {
			milli += p.milliCPU
		}
	}
	dir := path.Join(q.cgroupRoot, cgrouplayout.QOSCgroupName(class).ToCgroupfs())
	if err := writePodCgroup(q.fsRoot, dir, kubelet.PodResourceConfig{CPUShares: kubelet.QOSCPUShares(class, milli)}); err != nil {
		return fmt.Errorf("QoS cgroup %s: %w", dir, err)
	}
	return nil
}
