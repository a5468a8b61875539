package runc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nodekit/nodekit/kubelet"
)

// ContainerInfo is what the runtime knows about a container beyond its
// kubelet.ContainerStatus: where its cgroup, processes, writable layer and log
// are, which a stats collector needs to watch it (the CRI returns the same
// in the verbose info of ContainerStatus). It is plain data.
type ContainerInfo struct {
	// CgroupsPath is the container's cgroup in cgroupfs form, relative to
	// the hierarchy roots and including Options.CgroupRoot, such as
	// "/kubepods/besteffort/pod<uid>/<id>"; it is the OCI spec's
	// linux.cgroupsPath.
	CgroupsPath string
	// PodCgroupPath is the pod's cgroup in the same form (the parent of
	// CgroupsPath).
	PodCgroupPath string
	// PID is the host PID of the container's init process while the
	// container runs, 0 otherwise. The process lives in the pod's network
	// namespace.
	PID int
	// UpperDir is the writable layer of the container's root filesystem.
	UpperDir string
	// LogPath is the container's CRI log file.
	LogPath string
}

// ContainerInfo reports where a container's cgroup, init process, writable
// layer and log are. An unknown container wraps kubelet.ErrNotFound.
func (r *Runtime) ContainerInfo(_ context.Context, containerID string) (ContainerInfo, error) {
	c, ok := r.observe(containerID)
	if !ok {
		return ContainerInfo{}, fmt.Errorf("container %q: %w", containerID, kubelet.ErrNotFound)
	}
	bundle := r.bundleDir(c.ID)
	info := ContainerInfo{
		CgroupsPath: c.CgroupsPath,
		UpperDir:    filepath.Join(bundle, "upper"),
		LogPath:     c.LogPath,
	}
	if c.CgroupsPath != "" {
		info.PodCgroupPath = filepath.Dir(c.CgroupsPath)
	}
	if c.RuncCreated && !c.Exited {
		data, err := os.ReadFile(filepath.Join(bundle, fileInitPID))
		if err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && processAlive(pid) {
				info.PID = pid
			}
		}
	}
	return info, nil
}
