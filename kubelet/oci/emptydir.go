package oci

import (
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
)

// EmptyDirTmpfs returns the host mount a runtime must make for an emptyDir
// volume of medium Memory before the pod's containers start: a tmpfs on
// the volume's Layout directory, of size sizeLimit, else the pod's memory
// limit (the sum of its containers' limits), else the node's allocatable
// memory, as the kubelet's calculateEmptyDirMemorySize; the ok result is
// false for other volumes.
//
// The kubelet mounts the tmpfs on the host and bind-mounts it into each
// container, so that all containers of the pod share it; a tmpfs in each
// container's spec would give each its own. GenerateSpec therefore binds
// the directory, and this mount is the runtime's to make (and to unmount
// when the pod goes).
func EmptyDirTmpfs(pod *v1.Pod, vol *v1.Volume, layout *Layout, allocatable v1.ResourceList) (m specs.Mount, ok bool) {
	if vol.EmptyDir == nil || vol.EmptyDir.Medium != v1.StorageMediumMemory || layout == nil {
		return specs.Mount{}, false
	}
	size := int64(0)
	if q, ok := allocatable[v1.ResourceMemory]; ok {
		size = q.Value()
	}
	if limit := podMemoryLimit(pod); limit > 0 && (size == 0 || limit < size) {
		size = limit
	}
	if sl := vol.EmptyDir.SizeLimit; sl != nil && sl.Value() > 0 && (size == 0 || sl.Value() < size) {
		size = sl.Value()
	}
	opts := []string{"nosuid", "nodev", "mode=1777"}
	if size > 0 {
		opts = append(opts, "size="+strconv.FormatInt(size, 10))
	}
	return specs.Mount{
		Destination: layout.VolumeDir(pod.UID, PluginEmptyDir, vol.Name),
		Type:        "tmpfs",
		Source:      "tmpfs",
		Options:     opts,
	}, true
}

// podMemoryLimit is the sum of the memory limits of the pod's regular
// containers, or 0 if one of them has none (unlimited).
func podMemoryLimit(pod *v1.Pod) int64 {
	var sum int64
	for i := range pod.Spec.Containers {
		q, ok := pod.Spec.Containers[i].Resources.Limits[v1.ResourceMemory]
		if !ok || q.IsZero() {
			return 0
		}
		sum += q.Value()
	}
	return sum
}
