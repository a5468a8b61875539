package kubelet

import (
	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/internal/cgrouplayout"
)

// QOSClass returns the pod's QoS class as the kubelet computes it (the class
// already recorded in pod.Status.QOSClass wins, as in the kubelet):
// BestEffort when no container requests or limits CPU or memory, Guaranteed
// when every container limits both with requests equal to limits, Burstable
// otherwise. Pod-level resources, when they name CPU or memory, decide alone.
func QOSClass(pod *v1.Pod) v1.PodQOSClass {
	return cgrouplayout.QOSClass(pod)
}

// CgroupDriver selects how pod cgroups are named: "cgroupfs" paths or
// systemd slices, as the kubelet's --cgroup-driver.
type CgroupDriver = cgrouplayout.Driver

// The cgroup drivers.
const (
	CgroupDriverCgroupfs = cgrouplayout.DriverCgroupfs
	CgroupDriverSystemd  = cgrouplayout.DriverSystemd
)

// PodCgroupName returns the pod's cgroup parent under the kubelet's
// kubepods hierarchy, for the given driver: with cgroupfs
// "/kubepods/burstable/pod<uid>" (Guaranteed pods sit directly under
// /kubepods), with systemd
// "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice"
// (dashes of the UID become underscores). The same layout is read back by
// the stats package.
func PodCgroupName(pod *v1.Pod, driver CgroupDriver) string {
	n := cgrouplayout.PodCgroupName(pod)
	if driver == CgroupDriverSystemd {
		return n.ToSystemd()
	}
	return n.ToCgroupfs()
}
