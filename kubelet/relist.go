package kubelet

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
)

// relist lists every sandbox and container of the runtime, updates the
// snapshot of each known pod, marks pods whose snapshot changed for a sync,
// and schedules cleanup of orphans. Errors are logged; the next relist
// retries.
func (s *Syncer) relist(ctx context.Context) {
	s.mu.Lock()
	s.seq++
	seq := s.seq
	s.mu.Unlock()

	cctx, cancel := s.callCtx(ctx, 0)
	sandboxes, err := s.rt.ListPodSandboxes(cctx, SandboxFilter{})
	cancel()
	if err != nil {
		s.log.Error("relist: list pod sandboxes", "err", err)
		return
	}
	cctx, cancel = s.callCtx(ctx, 0)
	containers, err := s.rt.ListContainers(cctx, ContainerFilter{})
	cancel()
	if err != nil {
		s.log.Error("relist: list containers", "err", err)
		return
	}

	// Group by pod without an allocation per pod in the common case: the
	// groups come from one slab and start on inline arrays.
	slab := make([]relistGroup, 0, len(sandboxes)+1)
	groups := make(map[types.UID]*relistGroup, len(sandboxes))
	get := func(uid types.UID) *relistGroup {
		g := groups[uid]
		if g == nil {
			if len(slab) == cap(slab) {
				slab = make([]relistGroup, 0, 64)
			}
			slab = append(slab, relistGroup{})
			g = &slab[len(slab)-1]
			g.sandboxes = g.sbInline[:0]
			g.containers = g.cInline[:0]
			groups[uid] = g
		}
		return g
	}
	for _, sb := range sandboxes {
		if sb.PodUID == "" {
			continue
		}
		g := get(sb.PodUID)
		g.sandboxes = append(g.sandboxes, sb)
	}
	for _, c := range containers {
		if c.PodUID == "" {
			continue
		}
		g := get(c.PodUID)
		g.containers = append(g.containers, c)
	}
	empty := &relistGroup{}

	s.mu.Lock()
	defer s.mu.Unlock()
	for uid, ps := range s.pods {
		if ps.rtSeq >= seq {
			continue
		}
		g := groups[uid]
		if g == nil {
			g = empty
		}
		if ps.rt != nil && quickEqual(ps.rt, g.sandboxes, g.containers) {
			ps.rtSeq = seq
			continue
		}
		ps.rt = newPodRuntime(uid, g.sandboxes, g.containers, ps.rt)
		ps.rtSeq = seq
		s.enqueueLocked(ps)
	}
	if !s.declared {
		return
	}
	for uid, g := range groups {
		if _, known := s.pods[uid]; known {
			continue
		}
		if _, ok := s.orphans[uid]; ok {
			continue
		}
		if !managedByUs(g.sandboxes, g.containers) {
			continue
		}
		o := &podState{uid: uid, orphan: true}
		s.orphans[uid] = o
		s.enqueueLocked(o)
	}
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

// quickEqual reports whether freshly listed objects match the snapshot,
// without building a new one.
func quickEqual(rt *podRuntime, sandboxes []*SandboxStatus, containers []*ContainerStatus) bool {
	if len(rt.sandboxes) != len(sandboxes) || len(rt.containers) != len(containers) {
		return false
	}
	for _, sb := range sandboxes {
		found := false
		for _, o := range rt.sandboxes {
			if o.ID == sb.ID {
				if o.State != sb.State || len(o.IPs) != len(sb.IPs) {
					return false
				}
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for _, c := range containers {
		found := false
		for _, o := range rt.containers {
			if o.ID == c.ID {
				if !o.sameAs(c) {
					return false
				}
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

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
