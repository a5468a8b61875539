package kubelet_test

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/kubelet"
)

func res(requests, limits map[v1.ResourceName]string) v1.ResourceRequirements {
	parse := func(m map[v1.ResourceName]string) v1.ResourceList {
		if m == nil {
			return nil
		}
		l := v1.ResourceList{}
		for k, v := range m {
			l[k] = resource.MustParse(v)
		}
		return l
	}
	return v1.ResourceRequirements{Requests: parse(requests), Limits: parse(limits)}
}

func cpuMem(cpu, mem string) map[v1.ResourceName]string {
	m := map[v1.ResourceName]string{}
	if cpu != "" {
		m[v1.ResourceCPU] = cpu
	}
	if mem != "" {
		m[v1.ResourceMemory] = mem
	}
	return m
}

// TestPodResources checks the pod-level cgroup values against those
// ResourceConfigForPod of the kubelet gives for the same pods (worked out
// by hand from pkg/kubelet/cm/helpers_linux.go and component-helpers'
// PodRequests/PodLimits).
func TestPodResources(t *testing.T) {
	const mi = 1 << 20
	always := ptr.To(v1.ContainerRestartPolicyAlways)
	for _, tc := range []struct {
		name string
		pod  v1.PodSpec
		want kubelet.PodResourceConfig
	}{{
		name: "best effort",
		pod:  v1.PodSpec{Containers: []v1.Container{{Name: "a"}}},
		want: kubelet.PodResourceConfig{CPUShares: 2},
	}, {
		name: "guaranteed, two containers",
		pod: v1.PodSpec{Containers: []v1.Container{
			{Name: "a", Resources: res(cpuMem("500m", "16Mi"), cpuMem("500m", "16Mi"))},
			{Name: "b", Resources: res(nil, cpuMem("250m", "32Mi"))}, // requests default to limits
		}},
		want: kubelet.PodResourceConfig{CPUShares: 768, CPUQuota: 75000, CPUPeriod: 100000, MemoryLimit: 48 * mi, MilliCPURequest: 750},
	}, {
		name: "burstable, every container limits both",
		pod: v1.PodSpec{Containers: []v1.Container{
			{Name: "a", Resources: res(cpuMem("100m", "8Mi"), cpuMem("1", "64Mi"))},
			{Name: "b", Resources: res(cpuMem("200m", "8Mi"), cpuMem("500m", "64Mi"))},
		}},
		want: kubelet.PodResourceConfig{CPUShares: 307, CPUQuota: 150000, CPUPeriod: 100000, MemoryLimit: 128 * mi, MilliCPURequest: 300},
	}, {
		name: "burstable, one container without a memory limit",
		pod: v1.PodSpec{Containers: []v1.Container{
			{Name: "a", Resources: res(cpuMem("100m", "8Mi"), cpuMem("1", "64Mi"))},
			{Name: "b", Resources: res(cpuMem("200m", ""), cpuMem("500m", ""))},
		}},
		want: kubelet.PodResourceConfig{CPUShares: 307, CPUQuota: 150000, CPUPeriod: 100000, MilliCPURequest: 300},
	}, {
		name: "burstable, requests only",
		pod: v1.PodSpec{Containers: []v1.Container{
			{Name: "a", Resources: res(cpuMem("1500m", "1Gi"), nil)},
		}},
		want: kubelet.PodResourceConfig{CPUShares: 1536, MilliCPURequest: 1500},
	}, {
		name: "init containers count as the maximum, sidecars add up",
		pod: v1.PodSpec{
			InitContainers: []v1.Container{
				{Name: "sidecar", RestartPolicy: always, Resources: res(cpuMem("100m", "10Mi"), cpuMem("100m", "10Mi"))},
				// 1 CPU + the sidecar before it: 1100m, above the app's 300m.
				{Name: "init", Resources: res(cpuMem("1", "20Mi"), cpuMem("1", "20Mi"))},
			},
			Containers: []v1.Container{
				{Name: "a", Resources: res(cpuMem("200m", "50Mi"), cpuMem("200m", "50Mi"))},
			},
		},
		// Requests: max(200m+100m, 1000m+100m) = 1100m; memory max(60Mi, 30Mi).
		want: kubelet.PodResourceConfig{CPUShares: 1126, CPUQuota: 110000, CPUPeriod: 100000, MemoryLimit: 60 * mi, MilliCPURequest: 1100},
	}, {
		name: "overhead",
		pod: v1.PodSpec{
			Containers: []v1.Container{{Name: "a", Resources: res(cpuMem("250m", "64Mi"), cpuMem("250m", "64Mi"))}},
			Overhead:   v1.ResourceList{v1.ResourceCPU: resource.MustParse("250m"), v1.ResourceMemory: resource.MustParse("16Mi")},
		},
		want: kubelet.PodResourceConfig{CPUShares: 512, CPUQuota: 50000, CPUPeriod: 100000, MemoryLimit: 80 * mi, MilliCPURequest: 500},
	}, {
		name: "pod-level resources replace the containers' sum",
		pod: v1.PodSpec{
			Resources:  ptr.To(res(cpuMem("2", "1Gi"), cpuMem("4", "2Gi"))),
			Containers: []v1.Container{{Name: "a"}, {Name: "b", Resources: res(cpuMem("100m", ""), nil)}},
		},
		want: kubelet.PodResourceConfig{CPUShares: 2048, CPUQuota: 400000, CPUPeriod: 100000, MemoryLimit: 2048 * mi, MilliCPURequest: 2000},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &v1.Pod{Spec: tc.pod}
			if got := kubelet.PodResources(pod); got != tc.want {
				t.Errorf("PodResources = %+v, want %+v (QoS %s)", got, tc.want, kubelet.QOSClass(pod))
			}
		})
	}
}

// TestQOSCPUShares checks the QoS cgroups' cpu.shares against the
// kubelet's qosContainerManager: the Burstable pods' requests together,
// at least MinShares, and MinShares for BestEffort.
func TestQOSCPUShares(t *testing.T) {
	for _, tc := range []struct {
		class v1.PodQOSClass
		milli int64
		want  uint64
	}{
		{v1.PodQOSBurstable, 0, 2},
		{v1.PodQOSBurstable, 1, 2},
		{v1.PodQOSBurstable, 300 + 1100, 1433},
		{v1.PodQOSBurstable, 1 << 40, 262144},
		{v1.PodQOSBestEffort, 0, 2},
		{v1.PodQOSBestEffort, 500, 2},
		{v1.PodQOSGuaranteed, 500, 0},
	} {
		if got := kubelet.QOSCPUShares(tc.class, tc.milli); got != tc.want {
			t.Errorf("QOSCPUShares(%s, %d) = %d, want %d", tc.class, tc.milli, got, tc.want)
		}
	}
}
