package stats

import (
	"encoding/json"
	"io"
	"time"
)

// Snapshot is the JSON export: the newest sample, rates and status of the
// node and of every target.
type Snapshot struct {
	// Time is when the snapshot was taken (the Collector's clock).
	Time time.Time `json:"time"`
	// Machine describes the node.
	Machine Machine `json:"machine"`
	// Node is the root cgroup.
	Node TargetSnapshot `json:"node"`
	// SystemContainers maps Options.SystemContainers names to their state.
	SystemContainers map[string]TargetSnapshot `json:"systemContainers,omitempty"`
	// Targets are sorted by ID.
	Targets []TargetSnapshot `json:"targets"`
}

// TargetSnapshot is one target in a Snapshot.
type TargetSnapshot struct {
	Target Target `json:"target"`
	// Sample is nil before the first successful sample.
	Sample *Sample `json:"sample,omitempty"`
	// Rates is nil with fewer than two samples or after a failed read.
	Rates *Rates `json:"rates,omitempty"`
	// Error is the error of the last read, if it failed.
	Error string `json:"error,omitempty"`
	// Samples is the number of samples in the history.
	Samples int `json:"samples"`
}

// Snapshot copies the newest state of the node and every target.
func (c *Collector) Snapshot() Snapshot {
	c.mu.RLock()
	order := append([]*entry(nil), c.order...)
	c.mu.RUnlock()
	s := Snapshot{Time: c.opts.Clock.Now(), Machine: c.machine, Node: c.node.snapshot(), Targets: make([]TargetSnapshot, 0, len(order))}
	for _, e := range order {
		s.Targets = append(s.Targets, e.snapshot())
	}
	for _, sc := range c.system {
		if s.SystemContainers == nil {
			s.SystemContainers = map[string]TargetSnapshot{}
		}
		s.SystemContainers[sc.name] = sc.entry.snapshot()
	}
	return s
}

func (e *entry) snapshot() TargetSnapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	ts := TargetSnapshot{Target: e.target, Samples: e.history.n}
	if e.sampled {
		s := e.copySample()
		ts.Sample = &s
	}
	if r, ok := e.rates(); ok {
		ts.Rates = &r
	}
	if e.lastErr != nil {
		ts.Error = e.lastErr.Error()
	}
	return ts
}

// WriteJSON writes Snapshot() as indented JSON.
func (c *Collector) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(c.Snapshot())
}
