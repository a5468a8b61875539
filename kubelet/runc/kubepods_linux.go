package runc

import (
	"fmt"
	"path"

	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/internal/cgrouplayout"
	"github.com/nodekit/nodekit/kubelet"
)

// ResourcePID is the kubelet's name for the process ID resource
// (--system-reserved=pid=..., pkg/kubelet/stats/pidlimit), as
// Options.KubepodsResources takes it.
const ResourcePID v1.ResourceName = "pid"

// checkKubepodsResources refuses what writeKubepodsCgroup cannot write: a
// resource other than cpu, memory and pid, or a quantity that is not
// positive.
func checkKubepodsResources(rl v1.ResourceList) error {
	for name, q := range rl {
		switch name {
		case v1.ResourceCPU, v1.ResourceMemory, ResourcePID:
		default:
			return fmt.Errorf("Options.KubepodsResources[%q]: only cpu, memory and pid are written: %w", name, ErrInvalidOptions)
		}
		if q.Sign() <= 0 {
			return fmt.Errorf("Options.KubepodsResources[%q] = %s: must be positive: %w", name, q.String(), ErrInvalidOptions)
		}
	}
	return nil
}

// writeKubepodsCgroup writes rl to the kubepods cgroup below cgroupRoot of
// the hierarchies mounted at fsRoot, creating it, as the kubelet's node
// container manager does (getCgroupConfig): cpu as cpu.shares
// (MilliCPUToShares; cpu.weight on cgroup v2), memory as the memory limit,
// pid as pids.max. Resources rl does not name are left alone.
func writeKubepodsCgroup(fsRoot, cgroupRoot string, rl v1.ResourceList) error {
	if len(rl) == 0 {
		return nil
	}
	dir := path.Join(cgroupRoot, cgrouplayout.QOSCgroupName(v1.PodQOSGuaranteed).ToCgroupfs())
	var l cgroupLimits
	if cpu, ok := rl[v1.ResourceCPU]; ok {
		l.cpuShares = kubelet.MilliCPUToShares(cpu.MilliValue())
	}
	if memory, ok := rl[v1.ResourceMemory]; ok {
		l.memory = memory.Value()
	}
	if pids, ok := rl[ResourcePID]; ok {
		l.pids = pids.Value()
	}
	if err := writeCgroupLimits(fsRoot, dir, "+cpu +memory +pids", l); err != nil {
		return fmt.Errorf("kubepods cgroup %s: %w", dir, err)
	}
	return nil
}
