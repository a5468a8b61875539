package cgrouplayout

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// qosResources are the resources that decide a pod's QoS class.
var qosResources = [...]v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory}

// QOSClass returns pod's QoS class as the kubelet computes it: the class
// recorded in pod.Status.QOSClass when there is one, otherwise computed from
// the pod-level resources when they name CPU or memory, otherwise from the
// resources of all containers and init containers. A pod is BestEffort when
// nothing requests or limits CPU or memory, Guaranteed when every container
// limits both and requests equal limits, and Burstable otherwise.
func QOSClass(pod *v1.Pod) v1.PodQOSClass {
	if pod.Status.QOSClass != "" {
		return pod.Status.QOSClass
	}
	return ComputeQOSClass(pod)
}

// ComputeQOSClass is QOSClass without the shortcut through
// pod.Status.QOSClass.
func ComputeQOSClass(pod *v1.Pod) v1.PodQOSClass {
	if r := pod.Spec.Resources; r != nil && namesQOSResource(*r) {
		return classOf([]v1.ResourceRequirements{*r})
	}
	reqs := make([]v1.ResourceRequirements, 0, len(pod.Spec.Containers)+len(pod.Spec.InitContainers))
	for i := range pod.Spec.Containers {
		reqs = append(reqs, pod.Spec.Containers[i].Resources)
	}
	for i := range pod.Spec.InitContainers {
		reqs = append(reqs, pod.Spec.InitContainers[i].Resources)
	}
	return classOf(reqs)
}

func namesQOSResource(r v1.ResourceRequirements) bool {
	for _, name := range qosResources {
		if _, ok := r.Requests[name]; ok {
			return true
		}
		if _, ok := r.Limits[name]; ok {
			return true
		}
	}
	return false
}

// classOf sums requests and limits over reqs and classifies the sums.
func classOf(reqs []v1.ResourceRequirements) v1.PodQOSClass {
	var requests, limits [len(qosResources)]resource.Quantity
	var hasRequest, hasLimit [len(qosResources)]bool
	guaranteed := true
	for _, r := range reqs {
		for i, name := range qosResources {
			lim, limOK := r.Limits[name]
			limOK = limOK && lim.Sign() > 0
			req, reqOK := r.Requests[name]
			if !reqOK && limOK {
				// API defaulting: an unset request takes the limit.
				req, reqOK = lim, true
			}
			if reqOK && req.Sign() > 0 {
				requests[i].Add(req)
				hasRequest[i] = true
			}
			if limOK {
				limits[i].Add(lim)
				hasLimit[i] = true
			} else {
				guaranteed = false
			}
		}
	}
	nReq, nLim := 0, 0
	for i := range qosResources {
		if hasRequest[i] {
			nReq++
			if !hasLimit[i] || limits[i].Cmp(requests[i]) != 0 {
				guaranteed = false
			}
		}
		if hasLimit[i] {
			nLim++
		}
	}
	switch {
	case nReq == 0 && nLim == 0:
		return v1.PodQOSBestEffort
	case guaranteed && nReq == nLim:
		return v1.PodQOSGuaranteed
	default:
		return v1.PodQOSBurstable
	}
}
