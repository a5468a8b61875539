package stats

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// Target is one cgroup the Collector watches: a container, or a pod's
// cgroup (Container empty).
type Target struct {
	// ID is the cgroup path relative to the hierarchy roots, for example
	// "/kubepods/burstable/pod<uid>/<container-id>". It is the key of the
	// target and the Prometheus "id" label.
	ID string `json:"id"`
	// Pod is the pod's namespace and name; empty for cgroups outside pods
	// and for pods found by Discover whose names are not known yet.
	Pod types.NamespacedName `json:"pod,omitzero"`
	// PodUID is the pod's UID; targets with the same PodUID form one pod in
	// the Summary.
	PodUID types.UID `json:"podUID,omitempty"`
	// Container is the container's name in the pod spec; empty for the
	// pod-level cgroup.
	Container string `json:"container,omitempty"`
	// Name is the runtime's name or ID of the container (Prometheus "name").
	Name string `json:"name,omitempty"`
	// Image is the container image (Prometheus "image").
	Image string `json:"image,omitempty"`
	// PID is a process in the target's network namespace; 0 means no
	// network figures. For a pod, any process of the pod (the sandbox's).
	PID int `json:"pid,omitempty"`
	// RootfsPath is the container's writable root filesystem layer and
	// LogsPath its log directory; when set, the Collector measures their
	// usage (Options.DirUsage) and Summary reports Rootfs and Logs.
	RootfsPath string `json:"rootfsPath,omitempty"`
	LogsPath   string `json:"logsPath,omitempty"`
}

// validate checks a Target before it is registered.
func (t *Target) validate() error {
	if err := validateCgroupPath(t.ID); err != nil {
		return fmt.Errorf("target %q: field ID: %w", t.ID, err)
	}
	if t.ID == "/" {
		return fmt.Errorf("target %q: field ID: the root cgroup is tracked as the node: %w", t.ID, ErrInvalidTarget)
	}
	if t.PID < 0 {
		return fmt.Errorf("target %q: field PID: %d is negative: %w", t.ID, t.PID, ErrInvalidTarget)
	}
	for name, p := range map[string]string{"RootfsPath": t.RootfsPath, "LogsPath": t.LogsPath} {
		if p != "" && !strings.HasPrefix(p, "/") {
			return fmt.Errorf("target %q: field %s: %q is not absolute: %w", t.ID, name, p, ErrInvalidTarget)
		}
	}
	if t.Container != "" && t.PodUID == "" {
		return fmt.Errorf("target %q: field PodUID: required when Container (%q) is set: %w", t.ID, t.Container, ErrInvalidTarget)
	}
	if t.Pod.Name != "" && t.PodUID == "" {
		return fmt.Errorf("target %q: field PodUID: required when Pod (%s) is set: %w", t.ID, t.Pod, ErrInvalidTarget)
	}
	return nil
}
