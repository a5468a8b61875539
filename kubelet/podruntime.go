package kubelet

import (
	"slices"
	"strconv"

	"k8s.io/apimachinery/pkg/types"
)

// containerRecord is a runtime container with the engine's metadata parsed
// from its annotations.
type containerRecord struct {
	*ContainerStatus
	hash         uint64
	restartCount int
	init         bool
}

func newContainerRecord(c *ContainerStatus) *containerRecord {
	// Copy the status: a runtime may return statuses that share one
	// backing array, which a kept pointer would pin.
	cp := *c
	c = &cp
	r := &containerRecord{ContainerStatus: c, restartCount: int(c.Attempt)}
	if v, ok := c.Annotations[AnnotationContainerHash]; ok {
		if h, err := strconv.ParseUint(v, 16, 64); err == nil {
			r.hash = h
		}
	}
	if v, ok := c.Annotations[AnnotationContainerRestartCount]; ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			r.restartCount = n
		}
	}
	r.init = c.Annotations[AnnotationContainerInit] == "true"
	return r
}

// sameAs reports whether two records describe the same container in the
// same observable state.
func (r *containerRecord) sameAs(c *ContainerStatus) bool {
	return r.ID == c.ID && r.State == c.State && r.ExitCode == c.ExitCode &&
		r.StartedAt.Equal(c.StartedAt) && r.FinishedAt.Equal(c.FinishedAt) && r.Reason == c.Reason
}

// podRuntime is what the runtime holds for one pod: its sandboxes and its
// containers, each sorted newest first (as the kubelet's PodStatus is).
type podRuntime struct {
	uid        types.UID
	sandboxes  []*SandboxStatus
	containers []*containerRecord
}

// newest-first ordering; ties (equal creation times under a fake clock) are
// broken by attempt, then by ID.
func sortSandboxes(s []*SandboxStatus) {
	slices.SortFunc(s, func(a, b *SandboxStatus) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		if a.Attempt != b.Attempt {
			if a.Attempt > b.Attempt {
				return -1
			}
			return 1
		}
		switch {
		case a.ID > b.ID:
			return -1
		case a.ID < b.ID:
			return 1
		}
		return 0
	})
}

func sortContainers(s []*containerRecord) {
	slices.SortFunc(s, func(a, b *containerRecord) int {
		if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
			return c
		}
		if a.restartCount != b.restartCount {
			return b.restartCount - a.restartCount
		}
		switch {
		case a.ID > b.ID:
			return -1
		case a.ID < b.ID:
			return 1
		}
		return 0
	})
}

// newPodRuntime builds a snapshot from listed objects, reusing records of
// prev for containers that did not change.
func newPodRuntime(uid types.UID, sandboxes []*SandboxStatus, containers []*ContainerStatus, prev *podRuntime) *podRuntime {
	r := &podRuntime{uid: uid, sandboxes: make([]*SandboxStatus, len(sandboxes))}
	for i, sb := range sandboxes {
		cp := *sb
		r.sandboxes[i] = &cp
	}
	r.containers = make([]*containerRecord, 0, len(containers))
	for _, c := range containers {
		var rec *containerRecord
		if prev != nil {
			for _, old := range prev.containers {
				if old.ID == c.ID {
					if old.sameAs(c) {
						rec = old
					}
					break
				}
			}
		}
		if rec == nil {
			rec = newContainerRecord(c)
		}
		r.containers = append(r.containers, rec)
	}
	sortSandboxes(r.sandboxes)
	sortContainers(r.containers)
	return r
}

// findContainer returns the newest container named name, or nil.
func (r *podRuntime) findContainer(name string) *containerRecord {
	if r == nil {
		return nil
	}
	for _, c := range r.containers {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// newestExited returns the newest exited container named name, or nil.
func (r *podRuntime) newestExited(name string) *containerRecord {
	for _, c := range r.containers {
		if c.Name == name && c.State == ContainerExited {
			return c
		}
	}
	return nil
}

// runningContainers returns the running containers.
func (r *podRuntime) runningContainers() []*containerRecord {
	var out []*containerRecord
	for _, c := range r.containers {
		if c.State == ContainerRunning {
			out = append(out, c)
		}
	}
	return out
}

// podIPs returns the IPs of the newest sandbox.
func (r *podRuntime) podIPs() []string {
	if r == nil || len(r.sandboxes) == 0 {
		return nil
	}
	return r.sandboxes[0].IPs
}
