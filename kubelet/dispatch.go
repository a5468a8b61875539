package kubelet

import (
	"context"
	"time"
)

// enqueueLocked marks the pod as needing a sync. The sync is started by the
// next dispatch (from Run's loop or SyncOnce). s.mu must be held.
func (s *Syncer) enqueueLocked(ps *podState) {
	ps.dirty = true
	if ps.pendingFlag || ps.queued || ps.working {
		return
	}
	ps.pendingFlag = true
	s.pending = append(s.pending, ps)
	if s.inflight == 0 {
		s.idle = make(chan struct{})
	}
	s.inflight++
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// enqueueAll marks every pod and orphan for a sync, except pods that are
// settled: their last sync found nothing to do for the very spec and runtime
// snapshot they still have, nothing asked for a fresh status, and no timer
// is due. Syncing those again would compute the same empty set of actions
// (the decisions are a pure function of spec, snapshot, probe results and
// time; probe changes come with Trigger and time with wake-ups).
func (s *Syncer) enqueueAll() {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ps := range s.pods {
		if ps.settledPod != nil && ps.settledPod == ps.pod && ps.settledRT == ps.rt &&
			!ps.statusDirty && !ps.refresh && !ps.removed && ps.invalid == nil &&
			(ps.wakeAt.IsZero() || ps.wakeAt.After(now)) {
			continue
		}
		s.enqueueLocked(ps)
	}
	for _, ps := range s.orphans {
		s.enqueueLocked(ps)
	}
}

// enqueueDue marks pods whose timer is due.
func (s *Syncer) enqueueDue(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ps := range s.pods {
		if !ps.wakeAt.IsZero() && !ps.wakeAt.After(now) {
			ps.wakeAt = time.Time{}
			s.enqueueLocked(ps)
		}
	}
}

// dispatch hands pending pods to workers, starting workers up to the bound.
func (s *Syncer) dispatch() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ps := range s.pending {
		ps.pendingFlag = false
		ps.queued = true
		s.queue = append(s.queue, ps)
	}
	clear(s.pending)
	s.pending = s.pending[:0]
	for s.workers < s.opts.MaxConcurrentSyncs && s.workers < len(s.queue) {
		s.workers++
		go s.workerLoop()
	}
}

// workerLoop syncs queued pods until the queue is empty. Finishing one pod
// and taking the next happen under one acquisition of the lock.
func (s *Syncer) workerLoop() {
	var done *podState
	var res syncResult
	var in syncInput
	for {
		s.mu.Lock()
		if done != nil {
			s.finishSyncLocked(done, res)
			done.working = false
			if done.dirty {
				done.queued = true
				s.queue = append(s.queue, done)
			} else {
				s.inflight--
				if s.inflight == 0 {
					close(s.idle)
				}
			}
		}
		if len(s.queue) == 0 {
			s.workers--
			s.mu.Unlock()
			return
		}
		ps := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		if len(s.queue) == 0 {
			s.queue = nil
		}
		ps.queued = false
		ps.working = true
		ps.dirty = false
		ctx, _ := s.prepareSyncLocked(ps, &in)
		s.mu.Unlock()

		res = s.runSync(ctx, ps, &in)
		done = ps
	}
}

// waitIdle waits until no pod is pending, queued or being synced.
func (s *Syncer) waitIdle(ctx context.Context) error {
	for {
		s.mu.Lock()
		idle := s.idle
		n := len(s.pending)
		s.mu.Unlock()
		if n > 0 {
			s.dispatch()
		}
		select {
		case <-idle:
			s.mu.Lock()
			done := s.inflight == 0
			s.mu.Unlock()
			if done {
				return nil
			}
		case <-s.kick:
			s.dispatch()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// setWakeLocked schedules a sync of the pod at t (the earliest wins).
func setWakeLocked(ps *podState, t time.Time) {
	if t.IsZero() {
		return
	}
	if ps.wakeAt.IsZero() || t.Before(ps.wakeAt) {
		ps.wakeAt = t
	}
}
