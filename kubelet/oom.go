package kubelet

import (
	v1 "k8s.io/api/core/v1"
)

// OOM score adjustments of pkg/kubelet/qos.
const (
	// GuaranteedOOMScoreAdj protects Guaranteed and node-critical pods.
	GuaranteedOOMScoreAdj = -997
	// BestEffortOOMScoreAdj makes BestEffort pods the first victims.
	BestEffortOOMScoreAdj = 1000
	// systemCriticalPriority is scheduling.SystemCriticalPriority.
	systemCriticalPriority = 2 * 1000000000
)

// OOMScoreAdjust returns the oom_score_adj of a container as the kubelet's
// GetContainerOOMScoreAdjust computes it for a node with memoryCapacity bytes:
// -997 for Guaranteed and node-critical pods, 1000 for BestEffort, and for
// Burstable 1000 - 1000*memoryRequest/memoryCapacity clamped to [3, 999]
// (a sidecar never gets a higher score than the pod's regular container
// with the smallest memory request). A non-positive memoryCapacity is treated
// as 1 byte, giving the lowest Burstable score. A memory limit without a
// request counts as a request of the same amount, as after the API server's
// defaulting.
func OOMScoreAdjust(pod *v1.Pod, container *v1.Container, memoryCapacity int64) int {
	if memoryCapacity <= 0 {
		memoryCapacity = 1
	}
	if isNodeCriticalPod(pod) {
		return GuaranteedOOMScoreAdj
	}
	switch QOSClass(pod) {
	case v1.PodQOSGuaranteed:
		return GuaranteedOOMScoreAdj
	case v1.PodQOSBestEffort:
		return BestEffortOOMScoreAdj
	}
	memoryRequest := memoryRequestOf(container)
	adj := 1000 - (1000*memoryRequest)/memoryCapacity
	if isSidecar(pod, container) && len(pod.Spec.Containers) > 0 {
		minRequest := memoryRequestOf(&pod.Spec.Containers[0])
		for i := range pod.Spec.Containers[1:] {
			if v := memoryRequestOf(&pod.Spec.Containers[i+1]); v < minRequest {
				minRequest = v
			}
		}
		if minAdj := 1000 - (1000*minRequest)/memoryCapacity; adj > minAdj {
			adj = minAdj
		}
	}
	if adj < 1000+GuaranteedOOMScoreAdj {
		return 1000 + GuaranteedOOMScoreAdj
	}
	if adj == BestEffortOOMScoreAdj {
		return int(adj - 1)
	}
	return int(adj)
}

// memoryRequestOf is the container's memory request, or its memory limit
// when it has no request, as the API server's defaulting makes it (and as
// QOSClass assumes) for pods that never went through one.
func memoryRequestOf(c *v1.Container) int64 {
	if q, ok := c.Resources.Requests[v1.ResourceMemory]; ok {
		return q.Value()
	}
	return c.Resources.Limits.Memory().Value()
}

func isSidecar(pod *v1.Pod, c *v1.Container) bool {
	for i := range pod.Spec.InitContainers {
		ic := &pod.Spec.InitContainers[i]
		if ic.Name == c.Name {
			return isRestartableInit(ic)
		}
	}
	return false
}

// isNodeCriticalPod is kubelettypes.IsNodeCriticalPod: a critical pod (static,
// mirror, or priority >= system-critical) of priority class
// system-node-critical.
func isNodeCriticalPod(pod *v1.Pod) bool {
	if pod.Spec.PriorityClassName != "system-node-critical" {
		return false
	}
	if src, ok := pod.Annotations["kubernetes.io/config.source"]; ok && src != "api" {
		return true
	}
	if _, ok := pod.Annotations["kubernetes.io/config.mirror"]; ok {
		return true
	}
	return pod.Spec.Priority != nil && *pod.Spec.Priority >= systemCriticalPriority
}
