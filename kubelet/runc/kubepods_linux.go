package runc

import (
	"fmt"
	"path"
	"path/filepath"
	"strconv"

	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/internal/cgrouplayout"
	"github.com/nodekit/nodekit/kubelet"
)

// resourcePIDs is the kubelet's name for the process ID resource
// (--system-reserved=pid=..., pkg/kubelet/stats/pidlimit).
const resourcePIDs v1.ResourceName = "pid"

// checkKubepodsResources refuses what writeKubepodsCgroup cannot write: a
// resource other than cpu, memory and pid, or a quantity that is not
// positive.
func checkKubepodsResources(rl v1.ResourceList) error {
	for name, q := range rl {
		switch name {
		case v1.ResourceCPU, v1.ResourceMemory, resourcePIDs:
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
	cpu, hasCPU := rl[v1.ResourceCPU]
	memory, hasMemory := rl[v1.ResourceMemory]
	pids, hasPIDs := rl[resourcePIDs]
	var files []cgroupFile
	add := func(hierarchy, name string, ok bool, value string) {
		if ok {
			files = append(files, cgroupFile{filepath.Join(fsRoot, hierarchy, dir), name, value})
		}
	}
	shares := kubelet.MilliCPUToShares(cpu.MilliValue())
	if isCgroupV2(fsRoot) {
		if err := enableControllers(fsRoot, dir, "+cpu +memory +pids"); err != nil {
			return err
		}
		add("", "cpu.weight", hasCPU, strconv.FormatUint(kubelet.CPUSharesToWeight(shares), 10))
		add("", "memory.max", hasMemory, strconv.FormatInt(memory.Value(), 10))
		add("", "pids.max", hasPIDs, strconv.FormatInt(pids.Value(), 10))
	} else {
		add("cpu", "cpu.shares", hasCPU, strconv.FormatUint(shares, 10))
		add("memory", "memory.limit_in_bytes", hasMemory, strconv.FormatInt(memory.Value(), 10))
		add("pids", "pids.max", hasPIDs, strconv.FormatInt(pids.Value(), 10))
	}
	if err := writeCgroupFiles(files); err != nil {
		return fmt.Errorf("kubepods cgroup %s: %w", dir, err)
	}
	return nil
}
