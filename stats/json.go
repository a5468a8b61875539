package stats

import (
	"encoding/json"
	"io"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/types"
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
	// RootFilesystem is the filesystem of Options.RootfsDir, nil when not
	// configured or not measured yet.
	RootFilesystem *FilesystemStats `json:"rootFilesystem,omitempty"`
	// ImageFs is the usage of Options.ImageFsDir, nil when not configured
	// or not measured yet.
	ImageFs *DiskUsage `json:"imageFs,omitempty"`
	// Volumes are the volumes registered with SetPodVolumes, sorted by pod
	// UID and name.
	Volumes []VolumeSnapshot `json:"volumes,omitempty"`
}

// VolumeSnapshot is one pod volume in a Snapshot.
type VolumeSnapshot struct {
	PodUID types.UID `json:"podUID"`
	PodVolume
	// Usage is nil before the volume was measured or when it cannot be
	// (for example a directory not created yet).
	Usage *DiskUsage `json:"usage,omitempty"`
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
	// Rootfs and Logs are the usage of Target.RootfsPath and LogsPath.
	Rootfs *DiskUsage `json:"rootfs,omitempty"`
	Logs   *DiskUsage `json:"logs,omitempty"`
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
	s.RootFilesystem, _, s.ImageFs = c.nodeFilesystems()
	c.mu.RLock()
	uids := make([]types.UID, 0, len(c.volumes))
	for uid := range c.volumes {
		uids = append(uids, uid)
	}
	c.mu.RUnlock()
	slices.Sort(uids)
	for _, uid := range uids {
		for _, v := range c.volumeUsages(uid, true) {
			s.Volumes = append(s.Volumes, VolumeSnapshot{PodUID: uid, PodVolume: v.vol, Usage: v.usage})
		}
	}
	return s
}

func (e *entry) snapshot() TargetSnapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	ts := TargetSnapshot{Target: e.target, Samples: e.history.n, Rootfs: e.rootfs, Logs: e.logs}
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
