package kubelet

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// PodResourceConfig is what the kubelet writes to a pod's own cgroup
// (pkg/kubelet/cm ResourceConfigForPod, with CFS quota enforced and the
// default period): the limits that hold for all of the pod's containers
// together. A zero field is not written (the cgroup's default, unlimited).
type PodResourceConfig struct {
	// CPUShares is cgroup v1 cpu.shares: the pod's CPU requests
	// (MilliCPUToShares), MinShares for a BestEffort pod. On cgroup v2
	// it is written as cpu.weight through CPUSharesToWeight.
	CPUShares uint64
	// CPUQuota is the CFS quota in microseconds per CPUPeriod: the pod's
	// CPU limits, set for Guaranteed pods and for Burstable pods whose
	// containers all limit CPU.
	CPUQuota  int64
	CPUPeriod uint64
	// MemoryLimit is the memory limit in bytes: the pod's memory limits,
	// set for Guaranteed pods and for Burstable pods whose containers all
	// limit memory.
	MemoryLimit int64
	// MilliCPURequest is the pod's CPU requests in millicores (0 for a
	// BestEffort pod), from which CPUShares comes. It is not written to
	// the pod's cgroup: the kubelet sums it over the Burstable pods for
	// the cpu.shares of the burstable QoS cgroup (QOSCPUShares).
	MilliCPURequest int64
}

// QOSCPUShares returns the cgroup v1 cpu.shares the kubelet gives the
// cgroup of a QoS class (pkg/kubelet/cm qosContainerManager): for
// Burstable, the CPU requests of all Burstable pods together
// (milliCPURequests, the sum of their PodResourceConfig.MilliCPURequest);
// for BestEffort, MinShares. Guaranteed pods have no QoS cgroup of their
// own (they sit in kubepods): it returns 0.
func QOSCPUShares(class v1.PodQOSClass, milliCPURequests int64) uint64 {
	switch class {
	case v1.PodQOSBurstable:
		return MilliCPUToShares(milliCPURequests)
	case v1.PodQOSBestEffort:
		return MinShares
	}
	return 0
}

// PodResources returns the pod-level cgroup configuration of pod as the
// kubelet computes it. Requests and limits are aggregated as the scheduler
// and the kubelet do (k8s.io/component-helpers/resource PodRequests and
// PodLimits): the regular containers and the restartable init containers
// (sidecars) add up, each other init container counts with the sidecars
// declared before it, the larger of the two wins, and the pod overhead is
// added (to limits only where a limit is set). Pod-level resources
// (spec.resources), when they name CPU or memory, replace the containers'
// sum for that resource. A request left unset takes the container's limit,
// as API defaulting does for pods that did not go through an API server.
func PodResources(pod *v1.Pod) PodResourceConfig {
	requests := aggregateResources(pod, containerRequests, nil)
	cpuLimited, memoryLimited := true, true
	limits := aggregateResources(pod, func(c *v1.Container) v1.ResourceList { return c.Resources.Limits }, func(l v1.ResourceList) {
		if l.Cpu().IsZero() {
			cpuLimited = false
		}
		if l.Memory().IsZero() {
			memoryLimited = false
		}
	})
	if r := pod.Spec.Resources; r != nil {
		for _, name := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory} {
			if q, ok := r.Requests[name]; ok {
				requests[name] = q.DeepCopy()
			} else if q, ok := r.Limits[name]; ok {
				requests[name] = q.DeepCopy()
			}
			if q, ok := r.Limits[name]; ok {
				limits[name] = q.DeepCopy()
			}
		}
		if !r.Limits.Cpu().IsZero() {
			cpuLimited = true
		}
		if !r.Limits.Memory().IsZero() {
			memoryLimited = true
		}
	}
	for name, q := range pod.Spec.Overhead {
		addQuantity(requests, name, q)
		if l, ok := limits[name]; ok && !l.IsZero() {
			addQuantity(limits, name, q)
		}
	}

	var cfg PodResourceConfig
	switch QOSClass(pod) {
	case v1.PodQOSBestEffort:
		cfg.CPUShares = MinShares
		return cfg
	case v1.PodQOSGuaranteed:
		cpuLimited, memoryLimited = true, true
	}
	cfg.MilliCPURequest = requests.Cpu().MilliValue()
	cfg.CPUShares = MilliCPUToShares(cfg.MilliCPURequest)
	if cpuLimited {
		cfg.CPUQuota = MilliCPUToQuota(limits.Cpu().MilliValue(), QuotaPeriod)
		cfg.CPUPeriod = QuotaPeriod
	}
	if memoryLimited {
		cfg.MemoryLimit = limits.Memory().Value()
	}
	return cfg
}

// containerRequests are a container's requests, an unset request taking
// the limit.
func containerRequests(c *v1.Container) v1.ResourceList {
	var out v1.ResourceList
	for name, lim := range c.Resources.Limits {
		if _, ok := c.Resources.Requests[name]; ok {
			continue
		}
		if out == nil {
			out = c.Resources.Requests.DeepCopy()
			if out == nil {
				out = v1.ResourceList{}
			}
		}
		out[name] = lim
	}
	if out == nil {
		return c.Resources.Requests
	}
	return out
}

// aggregateResources sums get over the pod's containers by the sidecar
// formula (KEP 753), calling each, when set, with every container's list.
func aggregateResources(pod *v1.Pod, get func(*v1.Container) v1.ResourceList, each func(v1.ResourceList)) v1.ResourceList {
	sum := v1.ResourceList{}
	for i := range pod.Spec.Containers {
		l := get(&pod.Spec.Containers[i])
		if each != nil {
			each(l)
		}
		for name, q := range l {
			addQuantity(sum, name, q)
		}
	}
	sidecars := v1.ResourceList{}
	initMax := v1.ResourceList{}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		l := get(c)
		if each != nil {
			each(l)
		}
		use := v1.ResourceList{}
		if c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			for name, q := range l {
				addQuantity(sum, name, q)
				addQuantity(sidecars, name, q)
			}
			use = sidecars
		} else {
			for name, q := range l {
				addQuantity(use, name, q)
			}
			for name, q := range sidecars {
				addQuantity(use, name, q)
			}
		}
		maxQuantities(initMax, use)
	}
	maxQuantities(sum, initMax)
	return sum
}

func addQuantity(l v1.ResourceList, name v1.ResourceName, q resource.Quantity) {
	if v, ok := l[name]; ok {
		v.Add(q)
		l[name] = v
		return
	}
	l[name] = q.DeepCopy()
}

// maxQuantities sets each resource of l to the larger of l's and other's.
func maxQuantities(l, other v1.ResourceList) {
	for name, q := range other {
		if v, ok := l[name]; !ok || q.Cmp(v) > 0 {
			l[name] = q.DeepCopy()
		}
	}
}
