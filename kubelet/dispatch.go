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

// enqueueAll marks every pod and orphan for a sync.
func (s *Syncer) enqueueAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ps := range s.pods {
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

// workerLoop syncs queued pods until the queue is empty.
func (s *Syncer) workerLoop() {
	for {
		s.mu.Lock()
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
		s.mu.Unlock()

		s.runSync(ps)

		s.mu.Lock()
		ps.working = false
		if ps.dirty {
			ps.queued = true
			s.queue = append(s.queue, ps)
		} else {
			s.inflight--
			if s.inflight == 0 {
				close(s.idle)
			}
		}
		s.mu.Unlock()
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
