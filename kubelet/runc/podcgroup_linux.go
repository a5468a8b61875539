package runc

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/kubelet"
)

// setPodCgroup creates the pod's own cgroup (a SandboxConfig.CgroupParent
// of the kubelet's layout, ".../pod<uid>") and writes the pod-level limits
// the kubelet writes there (kubelet.PodResources): cpu.shares, the CFS
// quota and the memory limit on cgroup v1; cpu.weight, cpu.max and
// memory.max on v2. Other parents are left alone. Before that, as the
// kubelet updates its QoS cgroups before it makes a pod's, the cpu.shares
// of the pod's QoS class's cgroup are updated; a failure there is logged,
// as the kubelet does.
func (r *Runtime) setPodCgroup(sb *sandboxRecord, pod *v1.Pod) error {
	if pod == nil || !ownsPodCgroup(sb) {
		return nil
	}
	cfg := kubelet.PodResources(pod)
	sb.QOSClass, sb.MilliCPURequest = kubelet.QOSClass(pod), cfg.MilliCPURequest
	if p, ok := qosPodOf(sb); ok {
		if err := r.qos.add(sb.PodUID, p); err != nil {
			r.opts.Logger.Error("update QoS cgroups", "pod", sb.PodNamespace+"/"+sb.PodName, "err", err)
		}
	}
	if err := writePodCgroup(r.opts.CgroupFSRoot, path.Join(r.opts.CgroupRoot, sb.CgroupParent), cfg); err != nil {
		return fmt.Errorf("pod cgroup %s: %w", sb.CgroupParent, err)
	}
	return nil
}

// forgetQOSPod takes a pod whose cgroup is gone out of its QoS class's
// cpu.shares; a failure is logged.
func (r *Runtime) forgetQOSPod(sb *sandboxRecord) {
	if err := r.qos.remove(sb.PodUID); err != nil {
		r.opts.Logger.Error("update QoS cgroups", "pod", sb.PodNamespace+"/"+sb.PodName, "err", err)
	}
}

// writePodCgroup writes cfg to the cgroup cgroupPath of the hierarchies
// mounted below fsRoot, creating it.
func writePodCgroup(fsRoot, cgroupPath string, cfg kubelet.PodResourceConfig) error {
	return writeCgroupLimits(fsRoot, cgroupPath, "+cpu +memory", cgroupLimits{
		cpuShares: cfg.CPUShares, cpuQuota: cfg.CPUQuota, cpuPeriod: cfg.CPUPeriod, memory: cfg.MemoryLimit,
	})
}

// cgroupLimits are what writeCgroupLimits writes; a zero field is not
// written.
type cgroupLimits struct {
	cpuShares uint64 // cpu.shares; cpu.weight (CPUSharesToWeight) on v2
	cpuQuota  int64  // with cpuPeriod: the CFS quota; cpu.max on v2
	cpuPeriod uint64
	memory    int64 // memory.limit_in_bytes; memory.max on v2
	pids      int64 // pids.max
}

// writeCgroupLimits writes l to the cgroup cgroupPath of the hierarchies
// mounted below fsRoot, creating it; on cgroup v2 it first enables
// controllers ("+cpu +memory") in its ancestors.
func writeCgroupLimits(fsRoot, cgroupPath, controllers string, l cgroupLimits) error {
	v2 := isCgroupV2(fsRoot)
	var files []cgroupFile
	add := func(hierarchy, name, value string) {
		if v2 {
			hierarchy = ""
		}
		files = append(files, cgroupFile{filepath.Join(fsRoot, hierarchy, cgroupPath), name, value})
	}
	if v2 {
		if err := enableControllers(fsRoot, cgroupPath, controllers); err != nil {
			return err
		}
		if l.cpuShares > 0 {
			add("", "cpu.weight", strconv.FormatUint(kubelet.CPUSharesToWeight(l.cpuShares), 10))
		}
		if l.cpuQuota > 0 {
			add("", "cpu.max", strconv.FormatInt(l.cpuQuota, 10)+" "+strconv.FormatUint(l.cpuPeriod, 10))
		}
		if l.memory > 0 {
			add("", "memory.max", strconv.FormatInt(l.memory, 10))
		}
	} else {
		if l.cpuShares > 0 {
			add("cpu", "cpu.shares", strconv.FormatUint(l.cpuShares, 10))
		}
		if l.cpuQuota > 0 {
			// The period first: the kernel checks the quota against it.
			add("cpu", "cpu.cfs_period_us", strconv.FormatUint(l.cpuPeriod, 10))
			add("cpu", "cpu.cfs_quota_us", strconv.FormatInt(l.cpuQuota, 10))
		}
		if l.memory > 0 {
			add("memory", "memory.limit_in_bytes", strconv.FormatInt(l.memory, 10))
		}
	}
	if l.pids > 0 {
		add("pids", "pids.max", strconv.FormatInt(l.pids, 10))
	}
	return writeCgroupFiles(files)
}

// cgroupFile is a value to write to a file of a cgroup directory.
type cgroupFile struct{ dir, name, value string }

// isCgroupV2 reports whether fsRoot is a cgroup v2 (unified) mount.
func isCgroupV2(fsRoot string) bool {
	_, err := os.Stat(filepath.Join(fsRoot, "cgroup.controllers"))
	return err == nil
}

// enableControllers writes controllers ("+cpu +memory") to the
// cgroup.subtree_control of every ancestor of cgroupPath on the cgroup v2
// mount fsRoot, creating them: a controller is usable in a cgroup only
// once every ancestor enables it.
func enableControllers(fsRoot, cgroupPath, controllers string) error {
	parts := strings.Split(strings.Trim(path.Clean("/"+cgroupPath), "/"), "/")
	for i := range parts {
		parent := filepath.Join(append([]string{fsRoot}, parts[:i]...)...)
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte(controllers), 0o644); err != nil {
			return fmt.Errorf("enable controllers %q in %s: %w", controllers, parent, err)
		}
	}
	return nil
}

// writeCgroupFiles writes files in order, creating their directories. It
// writes every file it can and returns the failures together.
func writeCgroupFiles(files []cgroupFile) error {
	var errs []error
	for _, f := range files {
		if err := os.MkdirAll(f.dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(f.dir, f.name), []byte(f.value), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("write %s: %w", filepath.Join(f.dir, f.name), err))
		}
	}
	return errors.Join(errs...)
}
