package oci

import (
	"context"
	"fmt"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/internal/cgrouplayout"
	"github.com/nodekit/nodekit/kubelet"
)

// WithResources sets the container's cgroup limits as the kubelet's
// calculateLinuxResources and containerd's WithResources do:
//
//   - cpu.shares from the CPU request (the limit when only a limit is set),
//     at least 2 (kubelet.MilliCPUToShares);
//   - the CFS period always 100000 µs, and the quota from the CPU limit
//     when there is one (kubelet.MilliCPUToQuota);
//   - the memory limit, and memory+swap equal to it so the container cannot
//     swap (unless Options.NoSwapLimit);
//   - pids.max from Options.PidsLimit.
//
// On a cgroup v2 host runc converts the shares to cpu.weight with the same
// mapping as kubelet.CPUSharesToWeight.
func WithResources(_ context.Context, in *Input, s *specs.Spec) error {
	c := in.Container
	cpuReq, cpuLim := c.Resources.Requests[v1.ResourceCPU], c.Resources.Limits[v1.ResourceCPU]
	memLim := c.Resources.Limits[v1.ResourceMemory]
	if cpuReq.Sign() < 0 || cpuLim.Sign() < 0 || memLim.Sign() < 0 {
		return invalid("resources", "negative cpu or memory quantity")
	}
	var shares uint64
	if cpuReq.IsZero() && !cpuLim.IsZero() {
		shares = kubelet.MilliCPUToShares(cpuLim.MilliValue())
	} else {
		shares = kubelet.MilliCPUToShares(cpuReq.MilliValue())
	}
	period := uint64(kubelet.QuotaPeriod)
	r := s.Linux.Resources
	r.CPU = &specs.LinuxCPU{Shares: &shares, Period: &period}
	if q := kubelet.MilliCPUToQuota(cpuLim.MilliValue(), int64(period)); q != 0 {
		r.CPU.Quota = &q
	}
	if limit := memLim.Value(); limit != 0 {
		r.Memory = &specs.LinuxMemory{Limit: &limit}
		if !in.Options.NoSwapLimit {
			swap := limit
			r.Memory.Swap = &swap
		}
	}
	if in.Options.PidsLimit != 0 {
		r.Pids = &specs.LinuxPids{Limit: &in.Options.PidsLimit}
	}
	return nil
}

// WithCgroupsPath puts the container in a cgroup below its pod's, in the
// form runc expects for the driver:
//
//	cgroupfs: /kubepods/burstable/pod<uid>/<containerID>
//	systemd:  kubepods-burstable-pod<uid_>.slice:<prefix>:<containerID>
//
// as containerd's CRI plugin writes them (prefix "cri-nodekit" where
// containerd writes "cri-containerd").
func WithCgroupsPath(_ context.Context, in *Input, s *specs.Spec) error {
	id := in.Options.ContainerID
	if id == "" {
		return fmt.Errorf("cgroupsPath: Options.ContainerID is empty: %w", ErrMissingOption)
	}
	if strings.ContainsAny(id, "/:") || id == "." || id == ".." {
		return invalid("container ID", "%q must not contain '/' or ':'", id)
	}
	driver := in.Options.CgroupDriver
	if driver == "" {
		driver = cgrouplayout.DriverCgroupfs
	}
	parent := in.Options.CgroupParent
	if parent == "" {
		var err error
		parent, err = cgrouplayout.PodCgroupName(in.Pod).Path(driver)
		if err != nil {
			return invalid("cgroup driver", "%v", err)
		}
	}
	s.Linux.CgroupsPath = CgroupsPath(driver, parent, id, in.Options.SystemdScopePrefix)
	return nil
}

// CgroupsPath returns the OCI cgroupsPath of container id below parent, as
// containerd's getCgroupsPath: for a systemd parent (a ".slice") the form
// "<last slice>:<prefix>:<id>", otherwise parent/id. An empty prefix means
// DefaultSystemdScopePrefix.
func CgroupsPath(driver cgrouplayout.Driver, parent, id, prefix string) string {
	if prefix == "" {
		prefix = DefaultSystemdScopePrefix
	}
	base := path.Base(parent)
	if driver == cgrouplayout.DriverSystemd || strings.HasSuffix(base, ".slice") {
		return base + ":" + prefix + ":" + id
	}
	return path.Join(parent, id)
}
