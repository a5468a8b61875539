package stats

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// PodVolume is a volume of a pod whose disk usage the Collector measures,
// for the Summary's VolumeStats and the pod's EphemeralStorage.
type PodVolume struct {
	// Name is the volume's name in the pod spec.
	Name string `json:"name"`
	// Path is the volume's directory on the node, for example
	// /var/lib/kubelet/pods/<uid>/volumes/kubernetes.io~empty-dir/<name>.
	Path string `json:"path"`
	// PVC is the PersistentVolumeClaim the volume is bound from, empty for
	// ephemeral volumes (emptyDir, configMap, secret, ...). As in the
	// kubelet, a PVC-backed volume is reported with its PVCRef and is not
	// counted in the pod's ephemeral storage.
	PVC types.NamespacedName `json:"pvc,omitzero"`
}

// podVolume is a registered volume and its latest measurement.
type podVolume struct {
	vol PodVolume

	mu    sync.Mutex
	usage *DiskUsage
}

// SetPodVolumes registers the volumes of the pod with the given UID,
// replacing those registered before; nil or empty stops measuring them.
// Volumes are measured on the housekeeping workers, like container root
// filesystems (Options.DirUsage: walked at most once per TTL, within a time
// budget). Invalid input (an empty UID or name, a duplicate name, a relative
// path) returns an error wrapping ErrInvalidTarget naming the field, and
// changes nothing.
func (c *Collector) SetPodVolumes(podUID types.UID, volumes []PodVolume) error {
	if podUID == "" {
		return fmt.Errorf("stats: SetPodVolumes: field podUID: empty: %w", ErrInvalidTarget)
	}
	seen := map[string]bool{}
	for i, v := range volumes {
		switch {
		case v.Name == "":
			return fmt.Errorf("stats: SetPodVolumes: pod %q: field Volumes[%d].Name: empty: %w", podUID, i, ErrInvalidTarget)
		case seen[v.Name]:
			return fmt.Errorf("stats: SetPodVolumes: pod %q: field Volumes[%d].Name: duplicate %q: %w", podUID, i, v.Name, ErrInvalidTarget)
		case !strings.HasPrefix(v.Path, "/"):
			return fmt.Errorf("stats: SetPodVolumes: pod %q: field Volumes[%d].Path: %q is not absolute: %w", podUID, i, v.Path, ErrInvalidTarget)
		}
		seen[v.Name] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.volumes[podUID]
	if len(volumes) == 0 {
		delete(c.volumes, podUID)
	} else {
		next := make([]*podVolume, 0, len(volumes))
		for _, v := range volumes {
			pv := &podVolume{vol: v}
			// Keep the measurement of an unchanged volume.
			for _, o := range old {
				if o.vol == v {
					pv = o
				}
			}
			next = append(next, pv)
		}
		sort.Slice(next, func(i, j int) bool { return next[i].vol.Name < next[j].vol.Name })
		c.volumes[podUID] = next
	}
	if f, ok := c.opts.DirUsage.(interface{ Forget(string) }); ok {
		for _, o := range old {
			if !slices.ContainsFunc(volumes, func(v PodVolume) bool { return v.Path == o.vol.Path }) {
				f.Forget(o.vol.Path)
			}
		}
	}
	return nil
}

// PodVolumes returns the volumes registered for a pod, sorted by name.
func (c *Collector) PodVolumes(podUID types.UID) []PodVolume {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]PodVolume, 0, len(c.volumes[podUID]))
	for _, v := range c.volumes[podUID] {
		out = append(out, v.vol)
	}
	return out
}

// allVolumes returns every registered volume, for a pass to measure.
func (c *Collector) allVolumes() []*podVolume {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []*podVolume
	for _, vs := range c.volumes {
		out = append(out, vs...)
	}
	return out
}

// measure records the volume's usage; nil when it cannot be measured (for
// example a volume not set up yet).
func (c *Collector) measureVolume(v *podVolume) {
	u := c.diskUsage(v.vol.Path)
	v.mu.Lock()
	v.usage = u
	v.mu.Unlock()
}

// volumeUsages returns the volumes of a pod with their latest usage;
// volumes not measured are left out unless all is set.
func (c *Collector) volumeUsages(podUID types.UID, all bool) []volumeUsage {
	c.mu.RLock()
	vs := c.volumes[podUID]
	c.mu.RUnlock()
	out := make([]volumeUsage, 0, len(vs))
	for _, v := range vs {
		v.mu.Lock()
		u := v.usage
		v.mu.Unlock()
		if u != nil || all {
			out = append(out, volumeUsage{vol: v.vol, usage: u})
		}
	}
	return out
}

type volumeUsage struct {
	vol   PodVolume
	usage *DiskUsage
}

// nodeFilesystems holds the latest figures of Options.RootfsDir and
// ImageFsDir.
type nodeFilesystems struct {
	mu      sync.Mutex
	rootfs  *FilesystemStats
	rootAt  time.Time
	imageFs *DiskUsage
}

// measureNodeFilesystems statfs's the node root filesystem and measures the
// image store, when configured.
func (c *Collector) measureNodeFilesystems() {
	var root *FilesystemStats
	if c.opts.RootfsDir != "" {
		if st, err := StatFilesystem(c.opts.RootfsDir); err == nil {
			root = &st
		}
	}
	var image *DiskUsage
	if c.opts.ImageFsDir != "" {
		image = c.diskUsage(c.opts.ImageFsDir)
	}
	now := c.opts.Clock.Now()
	c.nodeFs.mu.Lock()
	c.nodeFs.rootfs, c.nodeFs.rootAt, c.nodeFs.imageFs = root, now, image
	c.nodeFs.mu.Unlock()
}

func (c *Collector) nodeFilesystems() (root *FilesystemStats, rootAt time.Time, image *DiskUsage) {
	c.nodeFs.mu.Lock()
	defer c.nodeFs.mu.Unlock()
	return c.nodeFs.rootfs, c.nodeFs.rootAt, c.nodeFs.imageFs
}
