package kubelet

import (
	"time"
)

// backoffEntry is one key's state in a backoff, with the semantics of
// k8s.io/client-go/util/flowcontrol.Backoff (without jitter, as the kubelet
// configures it).
type backoffEntry struct {
	backoff    time.Duration
	lastUpdate time.Time
}

// backoffPolicy holds the parameters shared by all entries.
type backoffPolicy struct {
	initial time.Duration
	max     time.Duration
}

// expired reports whether an entry last updated at lastUpdate is forgotten by
// an event at eventTime: the item is considered stable after twice the
// maximum backoff (10 minutes with the kubelet's 5 minute maximum).
func (p backoffPolicy) expired(eventTime, lastUpdate time.Time) bool {
	return eventTime.Sub(lastUpdate) > 2*p.max
}

// next records a new attempt for the entry at now, after an event (a
// container exit) at eventTime, and returns the updated entry: the first
// attempt, or the first after a stable period, gets the initial delay, every
// further one doubles it up to the maximum.
func (p backoffPolicy) next(e *backoffEntry, eventTime, now time.Time) *backoffEntry {
	if e == nil || p.expired(eventTime, e.lastUpdate) {
		e = &backoffEntry{backoff: p.initial}
	} else {
		e.backoff = min(e.backoff*2, p.max)
	}
	e.lastUpdate = now
	return e
}

// inBackoffSince reports whether an attempt at now is still inside the
// backoff window that started at eventTime.
func (p backoffPolicy) inBackoffSince(e *backoffEntry, eventTime, now time.Time) bool {
	if e == nil || p.expired(eventTime, e.lastUpdate) {
		return false
	}
	return now.Sub(eventTime) < e.backoff
}

// inBackoffSinceUpdate reports whether now is inside the window that started
// at the entry's last update (used for image pulls).
func (p backoffPolicy) inBackoffSinceUpdate(e *backoffEntry, now time.Time) bool {
	if e == nil || p.expired(now, e.lastUpdate) {
		return false
	}
	return now.Sub(e.lastUpdate) < e.backoff
}
