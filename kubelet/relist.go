package kubelet

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// observation is what a relist remembers of one sandbox or container: just
// enough to tell whether it changed since the previous relist.
type observation struct {
	pod      types.UID
	state    string
	exit     int32
	nIPs     int
	started  int64
	finished int64
	reason   string
}

func observeSandbox(sb *SandboxStatus) observation {
	return observation{pod: sb.PodUID, state: string(sb.State), nIPs: len(sb.IPs)}
}

func observeContainer(c *ContainerStatus) observation {
	return observation{pod: c.PodUID, state: string(c.State), exit: c.ExitCode,
		started: c.StartedAt.UnixNano(), finished: c.FinishedAt.UnixNano(), reason: c.Reason}
}

// observe compares listed objects with the previous observations, records
// the new ones, and marks the pods of objects that appeared, changed or
// vanished.
func observe[T any](listed []*T, id func(*T) string, obs func(*T) observation, seen map[string]observation, mark func(types.UID)) {
	for _, o := range listed {
		n := obs(o)
		k := id(o)
		if prev, ok := seen[k]; !ok || prev != n {
			seen[k] = n
			mark(n.pod)
		}
	}
	if len(seen) == len(listed) {
		return // every listed ID was found or added, so nothing vanished
	}
	present := make(map[string]struct{}, len(listed))
	for _, o := range listed {
		present[id(o)] = struct{}{}
	}
	for k, prev := range seen {
		if _, ok := present[k]; !ok {
			delete(seen, k)
			mark(prev.pod)
		}
	}
}

// relist lists every sandbox and container of the runtime and compares
// them with what the previous relist saw. Only pods with a difference get a
// new snapshot and a sync, so an unchanged node costs one map lookup per
// object. It also schedules cleanup of orphans. Errors are logged; the next
// relist retries.
func (s *Syncer) relist(ctx context.Context) {
	s.relistMu.Lock()
	defer s.relistMu.Unlock()
	defer s.opts.Metrics.observeRelist(time.Now())
	s.mu.Lock()
	s.seq++
	seq := s.seq
	rescan := s.rescan
	s.rescan = false
	s.mu.Unlock()

	cctx, cancel := s.callCtx(ctx, 0)
	sandboxes, err := s.rt.ListPodSandboxes(cctx, SandboxFilter{})
	cancel()
	if err != nil {
		s.log.Error("relist: list pod sandboxes", "err", err)
		s.requestRescan()
		return
	}
	cctx, cancel = s.callCtx(ctx, 0)
	containers, err := s.rt.ListContainers(cctx, ContainerFilter{})
	cancel()
	if err != nil {
		s.log.Error("relist: list containers", "err", err)
		s.requestRescan()
		return
	}
	s.opts.Metrics.setRunning(sandboxes, containers)

	var changed map[types.UID]*relistGroup
	mark := func(uid types.UID) {
		if uid == "" {
			return
		}
		if changed == nil {
			changed = map[types.UID]*relistGroup{}
		}
		changed[uid] = nil
	}
	if rescan {
		clear(s.seenSandboxes)
		clear(s.seenContainers)
	}
	observe(sandboxes, func(sb *SandboxStatus) string { return sb.ID }, observeSandbox, s.seenSandboxes, mark)
	observe(containers, func(c *ContainerStatus) string { return c.ID }, observeContainer, s.seenContainers, mark)
	if rescan {
		s.mu.Lock()
		for uid := range s.pods {
			mark(uid)
		}
		s.mu.Unlock()
	}
	if len(changed) == 0 {
		return
	}

	// Group the objects of changed pods.
	slab := make([]relistGroup, len(changed))
	i := 0
	for uid := range changed {
		g := &slab[i]
		i++
		g.sandboxes = g.sbInline[:0]
		g.containers = g.cInline[:0]
		changed[uid] = g
	}
	for _, sb := range sandboxes {
		if g := changed[sb.PodUID]; g != nil {
			g.sandboxes = append(g.sandboxes, sb)
		}
	}
	for _, c := range containers {
		if g := changed[c.PodUID]; g != nil {
			g.containers = append(g.containers, c)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	for uid, g := range changed {
		if ps, known := s.pods[uid]; known {
			if ps.rtSeq >= seq {
				continue
			}
			ps.rt = newPodRuntime(uid, g.sandboxes, g.containers, ps.rt)
			ps.rtSeq = seq
			s.enqueueLocked(ps)
			continue
		}
		if !s.declared {
			// Seen again once SetPods declares the desired set (rescan).
			continue
		}
		if _, ok := s.orphans[uid]; ok || !managedByUs(g.sandboxes, g.containers) {
			continue
		}
		o := &podState{uid: uid, orphan: true}
		s.orphans[uid] = o
		s.enqueueLocked(o)
	}
}

// requestRescan makes the next relist compare everything afresh.
func (s *Syncer) requestRescan() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rescan = true
}

// relistGroup is the listed objects of one pod.
type relistGroup struct {
	sandboxes  []*SandboxStatus
	containers []*ContainerStatus
	sbInline   [1]*SandboxStatus
	cInline    [3]*ContainerStatus
}

// managedByUs reports whether the objects carry the Syncer's label, so that
// containers of other users of the same runtime are never touched.
func managedByUs(sandboxes []*SandboxStatus, containers []*ContainerStatus) bool {
	for _, s := range sandboxes {
		if s.Labels[LabelManagedBy] == managerName {
			return true
		}
	}
	for _, c := range containers {
		if c.Labels[LabelManagedBy] == managerName {
			return true
		}
	}
	return false
}

// managerName is the value of LabelManagedBy.
const managerName = "nodekit"

// fetchPod lists the pod's sandboxes and containers and stores the snapshot
// (unless a newer one arrived meanwhile).
func (s *Syncer) fetchPod(ctx context.Context, ps *podState) (*podRuntime, error) {
	s.mu.Lock()
	s.seq++
	seq := s.seq
	prev := ps.rt
	s.mu.Unlock()

	cctx, cancel := s.callCtx(ctx, 0)
	sandboxes, err := s.rt.ListPodSandboxes(cctx, SandboxFilter{PodUID: ps.uid})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("list sandboxes of pod %q: %w", ps.uid, err)
	}
	cctx, cancel = s.callCtx(ctx, 0)
	containers, err := s.rt.ListContainers(cctx, ContainerFilter{PodUID: ps.uid})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("list containers of pod %q: %w", ps.uid, err)
	}
	rt := newPodRuntime(ps.uid, sandboxes, containers, prev)

	s.mu.Lock()
	defer s.mu.Unlock()
	if ps.rtSeq < seq {
		ps.rt = rt
		ps.rtSeq = seq
	}
	return rt, nil
}
