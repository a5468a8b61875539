package cgrouplayout

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
)

func res(kv ...string) v1.ResourceList {
	l := v1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[v1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return l
}

func ctr(req, lim v1.ResourceList) v1.Container {
	return v1.Container{Name: "c", Resources: v1.ResourceRequirements{Requests: req, Limits: lim}}
}

func TestQOSClass(t *testing.T) {
	for _, tc := range []struct {
		name string
		pod  v1.Pod
		want v1.PodQOSClass
	}{
		{"no resources", v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{ctr(nil, nil)}}}, v1.PodQOSBestEffort},
		{"zero request", v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{ctr(res("cpu", "0"), nil)}}}, v1.PodQOSBestEffort},
		{"only storage", v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{ctr(res("ephemeral-storage", "1Gi"), nil)}}}, v1.PodQOSBestEffort},
		{"equal requests and limits", v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{
			ctr(res("cpu", "100m", "memory", "64Mi"), res("cpu", "100m", "memory", "64Mi"))}}}, v1.PodQOSGuaranteed},
		{"limits only default requests", v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{
			ctr(nil, res("cpu", "1", "memory", "1Gi"))}}}, v1.PodQOSGuaranteed},
		{"quantities compared by value", v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{
			ctr(res("cpu", "1000m", "memory", "1024Mi"), res("cpu", "1", "memory", "1Gi"))}}}, v1.PodQOSGuaranteed},
		{"cpu limit missing", v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{
			ctr(res("memory", "64Mi"), res("memory", "64Mi"))}}}, v1.PodQOSBurstable},
		{"request below limit", v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{
			ctr(res("cpu", "50m", "memory", "64Mi"), res("cpu", "100m", "memory", "64Mi"))}}}, v1.PodQOSBurstable},
		{"one guaranteed one besteffort", v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{
			ctr(res("cpu", "1", "memory", "1Gi"), res("cpu", "1", "memory", "1Gi")), ctr(nil, nil)}}}, v1.PodQOSBurstable},
		{"init container counts", v1.Pod{Spec: v1.PodSpec{
			InitContainers: []v1.Container{ctr(res("cpu", "10m"), nil)},
			Containers:     []v1.Container{ctr(nil, nil)}}}, v1.PodQOSBurstable},
		{"pod-level resources win", v1.Pod{Spec: v1.PodSpec{
			Resources:  &v1.ResourceRequirements{Limits: res("cpu", "1", "memory", "1Gi")},
			Containers: []v1.Container{ctr(nil, nil)}}}, v1.PodQOSGuaranteed},
		{"status wins", v1.Pod{Status: v1.PodStatus{QOSClass: v1.PodQOSBurstable}}, v1.PodQOSBurstable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := QOSClass(&tc.pod); got != tc.want {
				t.Errorf("QOSClass = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPodCgroupNames(t *testing.T) {
	const uid = "6e1f2a3b-0c4d-4e5f-8a9b-0c1d2e3f4a5b"
	for _, tc := range []struct {
		qos               v1.PodQOSClass
		cgroupfs, systemd string
	}{
		{v1.PodQOSGuaranteed, "/kubepods/pod" + uid, "/kubepods.slice/kubepods-pod6e1f2a3b_0c4d_4e5f_8a9b_0c1d2e3f4a5b.slice"},
		{v1.PodQOSBurstable, "/kubepods/burstable/pod" + uid, "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6e1f2a3b_0c4d_4e5f_8a9b_0c1d2e3f4a5b.slice"},
		{v1.PodQOSBestEffort, "/kubepods/besteffort/pod" + uid, "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod6e1f2a3b_0c4d_4e5f_8a9b_0c1d2e3f4a5b.slice"},
	} {
		n := PodCgroupNameFor(tc.qos, uid)
		if got := n.ToCgroupfs(); got != tc.cgroupfs {
			t.Errorf("%s cgroupfs = %s, want %s", tc.qos, got, tc.cgroupfs)
		}
		if got := n.ToSystemd(); got != tc.systemd {
			t.Errorf("%s systemd = %s, want %s", tc.qos, got, tc.systemd)
		}
		for _, p := range []string{tc.cgroupfs, tc.systemd, "/sys/fs/cgroup/memory" + tc.cgroupfs + "/0123abcd", tc.systemd + "/cri-containerd-0123.scope"} {
			qos, got, ok := ParsePodCgroup(p)
			if !ok || qos != tc.qos || got != types.UID(uid) {
				t.Errorf("ParsePodCgroup(%s) = %s, %s, %v; want %s, %s", p, qos, got, ok, tc.qos, uid)
			}
		}
	}
	if _, err := (Name{"a"}).Path("openrc"); err == nil {
		t.Error("Path accepted an unknown driver")
	}
}

func TestParsePodCgroupRejects(t *testing.T) {
	for _, p := range []string{"", "/", "/kubepods", "/kubepods/burstable", "/kubepods/burstable/notapod",
		"/kubepods/pod", "/system.slice/docker.service", "/kubepods.slice/kubepods-burstable.slice",
		"/kubepods.slice/kubepods-podabc", "/kubepods/pod..", "/kubepods/podA B"} {
		if qos, uid, ok := ParsePodCgroup(p); ok {
			t.Errorf("ParsePodCgroup(%q) = %s, %s, true; want false", p, qos, uid)
		}
	}
}

func FuzzParsePodCgroup(f *testing.F) {
	f.Add("/kubepods/burstable/pod1234/abcd")
	f.Add("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12_34.slice")
	f.Add("kubepods//pod")
	f.Fuzz(func(t *testing.T, p string) {
		qos, uid, ok := ParsePodCgroup(p)
		if !ok {
			return
		}
		// What parses must round-trip through both drivers.
		n := PodCgroupNameFor(qos, uid)
		for _, s := range []string{n.ToCgroupfs(), n.ToSystemd()} {
			q2, u2, ok2 := ParsePodCgroup(s)
			if !ok2 || q2 != qos || u2 != uid {
				t.Fatalf("%q parsed to %s/%s but %q parses to %s/%s/%v", p, qos, uid, s, q2, u2, ok2)
			}
		}
	})
}
