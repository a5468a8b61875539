package kubelet

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

func TestMilliCPUToShares(t *testing.T) {
	tests := []struct {
		milli int64
		want  uint64
	}{
		{0, 2}, {1, 2}, {2, 2}, {10, 10}, {100, 102}, {250, 256}, {500, 512}, {1000, 1024}, {1500, 1536},
		{256000, 262144}, {300000, 262144},
	}
	for _, tc := range tests {
		if got := MilliCPUToShares(tc.milli); got != tc.want {
			t.Errorf("MilliCPUToShares(%d) = %d, want %d", tc.milli, got, tc.want)
		}
	}
}

func TestMilliCPUToQuota(t *testing.T) {
	tests := []struct {
		milli, period, want int64
	}{
		{0, 100000, 0}, {5, 100000, 1000}, {9, 100000, 1000}, {10, 100000, 1000}, {200, 100000, 20000},
		{500, 0, 50000}, {1000, 100000, 100000}, {1500, 100000, 150000}, {1000, 50000, 50000},
	}
	for _, tc := range tests {
		if got := MilliCPUToQuota(tc.milli, tc.period); got != tc.want {
			t.Errorf("MilliCPUToQuota(%d, %d) = %d, want %d", tc.milli, tc.period, got, tc.want)
		}
	}
}

func TestCPUSharesToWeight(t *testing.T) {
	// Values from runc's tests of ConvertCPUSharesToCgroupV2Value
	// (libcontainer/cgroups/utils_test.go) for the quadratic mapping.
	tests := []struct {
		shares, want uint64
	}{
		{0, 0}, {1, 1}, {2, 1}, {1024, 100}, {262144, 10000}, {300000, 10000},
	}
	for _, tc := range tests {
		if got := CPUSharesToWeight(tc.shares); got != tc.want {
			t.Errorf("CPUSharesToWeight(%d) = %d, want %d", tc.shares, got, tc.want)
		}
	}
	// Monotonic over the whole range and inside [1, 10000].
	prev := uint64(1)
	for s := uint64(2); s <= MaxShares; s++ {
		w := CPUSharesToWeight(s)
		if w < prev || w < MinCPUWeight || w > MaxCPUWeight {
			t.Fatalf("CPUSharesToWeight(%d) = %d after %d", s, w, prev)
		}
		prev = w
	}
	if got := MilliCPUToWeight(1000); got != DefaultCPUWeight {
		t.Errorf("one CPU weighs %d, want the default %d", got, DefaultCPUWeight)
	}
}

func res(cpuReq, memReq, cpuLim, memLim string) v1.ResourceRequirements {
	r := v1.ResourceRequirements{Requests: v1.ResourceList{}, Limits: v1.ResourceList{}}
	set := func(l v1.ResourceList, name v1.ResourceName, v string) {
		if v != "" {
			l[name] = resource.MustParse(v)
		}
	}
	set(r.Requests, v1.ResourceCPU, cpuReq)
	set(r.Requests, v1.ResourceMemory, memReq)
	set(r.Limits, v1.ResourceCPU, cpuLim)
	set(r.Limits, v1.ResourceMemory, memLim)
	return r
}

func TestOOMScoreAdjust(t *testing.T) {
	const capacity = 4000000000
	guaranteed := &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a", Resources: res("1", "1G", "1", "1G")}}}}
	bestEffort := &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a"}}}}
	burstable := func(mem string) *v1.Pod {
		return &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a", Resources: res("", mem, "", "")}}}}
	}
	critical := &v1.Pod{Spec: v1.PodSpec{PriorityClassName: "system-node-critical", Priority: ptr.To[int32](2000001000),
		Containers: []v1.Container{{Name: "a"}}}}
	sidecarPod := &v1.Pod{Spec: v1.PodSpec{
		InitContainers: []v1.Container{{Name: "s", RestartPolicy: ptr.To(v1.ContainerRestartPolicyAlways), Resources: res("", "100M", "", "")}},
		Containers:     []v1.Container{{Name: "a", Resources: res("", "2G", "", "")}},
	}}
	limitOnly := &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a", Resources: res("", "", "", "400M")}}}}
	tests := []struct {
		name string
		pod  *v1.Pod
		c    *v1.Container
		want int
	}{
		{"guaranteed", guaranteed, &guaranteed.Spec.Containers[0], -997},
		{"best effort", bestEffort, &bestEffort.Spec.Containers[0], 1000},
		{"node critical", critical, &critical.Spec.Containers[0], -997},
		{"burstable 10%", burstable("400M"), &burstable("400M").Spec.Containers[0], 900},
		{"burstable tiny request", burstable("1"), &burstable("1").Spec.Containers[0], 999},
		{"burstable whole node", burstable("4G"), &burstable("4G").Spec.Containers[0], 3},
		{"burstable above the node", burstable("8G"), &burstable("8G").Spec.Containers[0], 3},
		{"limit without request counts as request", limitOnly, &limitOnly.Spec.Containers[0], 900},
		{"sidecar no worse than regular containers", sidecarPod, &sidecarPod.Spec.InitContainers[0], 500},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := OOMScoreAdjust(tc.pod, tc.c, capacity); got != tc.want {
				t.Fatalf("OOMScoreAdjust = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestQOSAndCgroupNames(t *testing.T) {
	pod := &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a", Resources: res("100m", "", "", "")}}}}
	pod.UID = "12345678-aaaa-bbbb-cccc-1234567890ab"
	if got := QOSClass(pod); got != v1.PodQOSBurstable {
		t.Fatalf("QOSClass = %s", got)
	}
	if got, want := PodCgroupName(pod, CgroupDriverCgroupfs), "/kubepods/burstable/pod12345678-aaaa-bbbb-cccc-1234567890ab"; got != want {
		t.Errorf("cgroupfs: %s, want %s", got, want)
	}
	if got, want := PodCgroupName(pod, CgroupDriverSystemd), "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12345678_aaaa_bbbb_cccc_1234567890ab.slice"; got != want {
		t.Errorf("systemd: %s, want %s", got, want)
	}
	g := &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a", Resources: res("1", "1G", "1", "1G")}}}}
	g.UID = "u"
	if got := PodCgroupName(g, CgroupDriverCgroupfs); got != "/kubepods/podu" {
		t.Errorf("guaranteed cgroupfs: %s", got)
	}
}

func TestBackoffPolicy(t *testing.T) {
	p := backoffPolicy{initial: 10 * time.Second, max: 300 * time.Second}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var e *backoffEntry
	if p.inBackoffSince(e, t0, t0) {
		t.Fatal("no entry is never in backoff")
	}
	e = p.next(e, t0, t0)
	if e.backoff != 10*time.Second || !p.inBackoffSince(e, t0, t0.Add(9*time.Second)) || p.inBackoffSince(e, t0, t0.Add(10*time.Second)) {
		t.Fatalf("first window wrong: %+v", e)
	}
	for range 10 {
		e = p.next(e, t0, t0)
	}
	if e.backoff != 300*time.Second {
		t.Fatalf("not capped: %v", e.backoff)
	}
	// An event more than 2*max after the last update forgets the entry.
	late := t0.Add(601 * time.Second)
	if p.inBackoffSince(e, late, late) {
		t.Fatal("stale entry still in backoff")
	}
	if e = p.next(e, late, late); e.backoff != 10*time.Second {
		t.Fatalf("not reset: %v", e.backoff)
	}
	if !p.inBackoffSinceUpdate(e, late.Add(time.Second)) || p.inBackoffSinceUpdate(e, late.Add(10*time.Second)) {
		t.Fatal("inBackoffSinceUpdate window wrong")
	}
}

func TestHashContainer(t *testing.T) {
	a := &v1.Container{Name: "a", Image: "x"}
	b := a.DeepCopy()
	if HashContainer(a) != HashContainer(b) {
		t.Fatal("equal containers hash differently")
	}
	b.Args = []string{"--v"}
	if HashContainer(a) == HashContainer(b) {
		t.Fatal("changed container hashes the same")
	}
	// nil and empty slices encode the same in JSON (omitempty), as in the
	// kubelet's hash.
	c := a.DeepCopy()
	c.Env = []v1.EnvVar{}
	if HashContainer(a) != HashContainer(c) {
		t.Fatal("empty env changes the hash")
	}
}

// TestSandboxWithoutIP: a ready sandbox without an IP is replaced, as the
// kubelet replaces it, unless the runtime is still setting up its network.
func TestSandboxWithoutIP(t *testing.T) {
	pod := &v1.Pod{}
	for _, tc := range []struct {
		sb      SandboxStatus
		changed bool
	}{
		{SandboxStatus{ID: "a", State: SandboxReady, IPs: []string{"10.0.0.2"}}, false},
		{SandboxStatus{ID: "a", State: SandboxReady}, true},
		{SandboxStatus{ID: "a", State: SandboxReady, NetworkPending: true}, false},
		{SandboxStatus{ID: "a", State: SandboxNotReady, NetworkPending: true}, true},
	} {
		rt := newPodRuntime("uid", []*SandboxStatus{&tc.sb}, nil, nil)
		if changed, _, _ := podSandboxChanged(pod, rt); changed != tc.changed {
			t.Errorf("sandbox %+v: changed = %v, want %v", tc.sb, changed, tc.changed)
		}
	}
}
