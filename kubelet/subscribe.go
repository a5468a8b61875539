package kubelet

import (
	"context"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// StatusUpdate reports a new status of a pod, or that the pod was removed.
type StatusUpdate struct {
	UID       types.UID
	Namespace string
	Name      string
	// Status is the new status (the last one when Deleted). It is shared
	// with other subscribers and must not be modified.
	Status *v1.PodStatus
	// Deleted is set once the pod was terminated, removed from the runtime
	// and forgotten (after DeletePod, or when SetPods dropped it).
	Deleted bool
	// Pod is the pod's definition as the Syncer held it when the update
	// was made (probers read the containers' probes from it). It is shared
	// and must not be modified.
	Pod *v1.Pod
}

// subscriber coalesces updates per pod so that a slow reader never blocks
// the Syncer: it sees the latest status of every pod that changed.
type subscriber struct {
	ch      chan StatusUpdate
	signal  chan struct{}
	pending map[types.UID]StatusUpdate
	order   []types.UID
}

// Subscribe returns a channel of status changes, closed when ctx ends.
// Updates of one pod are coalesced while the reader lags: it receives the
// latest status, never a stale one after a newer one, and every Deleted.
func (s *Syncer) Subscribe(ctx context.Context) <-chan StatusUpdate {
	sub := &subscriber{
		ch:      make(chan StatusUpdate),
		signal:  make(chan struct{}, 1),
		pending: map[types.UID]StatusUpdate{},
	}
	s.mu.Lock()
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	go func() {
		defer close(sub.ch)
		defer func() {
			s.mu.Lock()
			delete(s.subs, sub)
			s.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.signal:
			}
			for {
				s.mu.Lock()
				if len(sub.order) == 0 {
					s.mu.Unlock()
					break
				}
				uid := sub.order[0]
				sub.order = sub.order[1:]
				u := sub.pending[uid]
				delete(sub.pending, uid)
				s.mu.Unlock()
				select {
				case sub.ch <- u:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return sub.ch
}

// notifyLocked queues u for every subscriber. s.mu must be held.
func (s *Syncer) notifyLocked(u StatusUpdate) {
	for sub := range s.subs {
		if _, ok := sub.pending[u.UID]; !ok {
			sub.order = append(sub.order, u.UID)
		}
		sub.pending[u.UID] = u
		select {
		case sub.signal <- struct{}{}:
		default:
		}
	}
}
