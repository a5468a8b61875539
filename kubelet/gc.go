package kubelet

import (
	"context"
	"errors"
	"fmt"

	v1 "k8s.io/api/core/v1"
)

// collectGarbage removes dead containers and sandboxes the status no longer
// needs, as the kubelet's container GC with MaxPerPodContainer=1: of the
// containers of each name that are not running, only the newest is kept
// (it provides lastState and the backoff's finish time); dead containers no
// longer in the spec go; sandboxes that are neither the newest nor hold a
// container go. Terminated pods keep their last containers (for their
// status), only older instances are removed.
func (s *Syncer) collectGarbage(ctx context.Context, pod *v1.Pod, rt *podRuntime, _ bool) (bool, error) {
	var victims []*containerRecord
	var kept map[string]bool
	for _, c := range rt.containers {
		if c.State == ContainerRunning {
			continue
		}
		inSpec := containerSpec(pod.Spec.Containers, c.Name) != nil || containerSpec(pod.Spec.InitContainers, c.Name) != nil
		if !inSpec {
			victims = append(victims, c)
			continue
		}
		if kept == nil {
			kept = make(map[string]bool, 4)
		}
		if kept[c.Name] {
			victims = append(victims, c)
			continue
		}
		kept[c.Name] = true
	}
	var sandboxVictims []*SandboxStatus
	for i, sb := range rt.sandboxes {
		if i == 0 || sb.State == SandboxReady {
			continue
		}
		holds := false
		for _, c := range rt.containers {
			if c.SandboxID == sb.ID && !isVictim(victims, c) {
				holds = true
				break
			}
		}
		if !holds {
			sandboxVictims = append(sandboxVictims, sb)
		}
	}
	if len(victims) == 0 && len(sandboxVictims) == 0 {
		return false, nil
	}
	var errs []error
	for _, c := range victims {
		cctx, cancel := s.callCtx(ctx, 0)
		if err := s.rt.RemoveContainer(cctx, c.ID); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, fmt.Errorf("remove dead container %q (%s): %w", c.Name, c.ID, err))
		}
		cancel()
	}
	for _, sb := range sandboxVictims {
		cctx, cancel := s.callCtx(ctx, 0)
		if err := s.rt.RemovePodSandbox(cctx, sb.ID); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, fmt.Errorf("remove dead sandbox %s: %w", sb.ID, err))
		}
		cancel()
	}
	s.markRefresh(rt)
	if err := errors.Join(errs...); err != nil {
		return true, fmt.Errorf("garbage collection of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return true, nil
}

func isVictim(victims []*containerRecord, c *containerRecord) bool {
	for _, v := range victims {
		if v == c {
			return true
		}
	}
	return false
}

// markRefresh makes the next sync of the pod list it afresh (the snapshot
// still shows removed objects).
func (s *Syncer) markRefresh(rt *podRuntime) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ps, ok := s.pods[rt.uid]; ok {
		ps.refresh = true
	}
}

// removePodObjects removes every container and sandbox of a terminated pod.
func (s *Syncer) removePodObjects(ctx context.Context, rt *podRuntime) error {
	var errs []error
	for _, c := range rt.containers {
		cctx, cancel := s.callCtx(ctx, 0)
		if err := s.rt.RemoveContainer(cctx, c.ID); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, fmt.Errorf("remove container %q (%s): %w", c.Name, c.ID, err))
		}
		cancel()
	}
	for _, sb := range rt.sandboxes {
		cctx, cancel := s.callCtx(ctx, 0)
		if err := s.rt.RemovePodSandbox(cctx, sb.ID); err != nil && !errors.Is(err, ErrNotFound) {
			errs = append(errs, fmt.Errorf("remove sandbox %s: %w", sb.ID, err))
		}
		cancel()
	}
	return errors.Join(errs...)
}

// cleanupOrphan stops and removes a pod the Syncer does not know. Grace
// periods come from the annotations the Syncer put on the containers, as
// the kubelet restores them from labels.
func (s *Syncer) cleanupOrphan(ctx context.Context, ps *podState) error {
	rt, err := s.fetchPod(ctx, ps)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range rt.runningContainers() {
		if err := s.killContainer(ctx, nil, c, nil, killReasonUnknown, nil, nil); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("orphan pod %q: %w", ps.uid, err)
	}
	for _, sb := range rt.sandboxes {
		cctx, cancel := s.callCtx(ctx, 0)
		err := s.rt.StopPodSandbox(cctx, sb.ID)
		cancel()
		if err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("orphan pod %q: stop sandbox %s: %w", ps.uid, sb.ID, err)
		}
	}
	if err := s.removePodObjects(ctx, rt); err != nil {
		return fmt.Errorf("orphan pod %q: %w", ps.uid, err)
	}
	s.mu.Lock()
	if cur, ok := s.orphans[ps.uid]; ok && cur == ps {
		delete(s.orphans, ps.uid)
	}
	s.mu.Unlock()
	return nil
}
