package runc

import (
	"os"
	"path/filepath"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestQOSCgroups keeps the QoS cgroups of a fixture v1 tree in step with
// pods coming and going, as the kubelet's qosContainerManager does.
func TestQOSCgroups(t *testing.T) {
	fsRoot := cgroupV1Fixture(t, "cpu")
	q := newQOSCgroups(fsRoot, "/node")
	shares := func(class string) string {
		t.Helper()
		return readTrimmed(t, filepath.Join(fsRoot, "cpu/node/kubepods", class, "cpu.shares"))
	}
	sandbox := func(uid types.UID, class v1.PodQOSClass, parent string, milli int64) *sandboxRecord {
		return &sandboxRecord{ID: string(uid) + "-sb", PodUID: uid, QOSClass: class, CgroupParent: parent, MilliCPURequest: milli}
	}
	add := func(sb *sandboxRecord) {
		t.Helper()
		p, ok := qosPodOf(sb)
		if !ok {
			t.Fatalf("sandbox %+v: not in a QoS cgroup", sb)
		}
		if err := q.add(sb.PodUID, p); err != nil {
			t.Fatal(err)
		}
	}
	a := sandbox("a", v1.PodQOSBurstable, "/kubepods/burstable/poda", 300)
	b := sandbox("b", v1.PodQOSBurstable, "/kubepods/burstable/podb", 1100)
	c := sandbox("c", v1.PodQOSBestEffort, "/kubepods/besteffort/podc", 0)
	add(a)
	if got := shares("burstable"); got != "307" {
		t.Errorf("burstable cpu.shares with 300m = %s, want 307", got)
	}
	add(b)
	add(a) // a second sandbox of a pod counts once
	if got := shares("burstable"); got != "1433" {
		t.Errorf("burstable cpu.shares with 300m + 1100m = %s, want 1433", got)
	}
	add(c)
	if got := shares("besteffort"); got != "2" {
		t.Errorf("besteffort cpu.shares = %s, want 2", got)
	}
	if err := q.remove("b"); err != nil {
		t.Fatal(err)
	}
	if got := shares("burstable"); got != "307" {
		t.Errorf("burstable cpu.shares once 1100m left = %s, want 307", got)
	}
	if err := q.remove("a"); err != nil {
		t.Fatal(err)
	}
	if got := shares("burstable"); got != "2" {
		t.Errorf("burstable cpu.shares with no pod = %s, want 2", got)
	}
	if err := q.remove("unknown"); err != nil {
		t.Errorf("remove of an unknown pod: %v", err)
	}

	// A new Runtime finds the pods in its sandbox records.
	if err := os.WriteFile(filepath.Join(fsRoot, "cpu/node/kubepods/burstable/cpu.shares"), []byte("1024"), 0o644); err != nil {
		t.Fatal(err)
	}
	q2 := newQOSCgroups(fsRoot, "/node")
	if err := q2.restore(map[string]*sandboxRecord{a.ID: a, b.ID: b, c.ID: c}); err != nil {
		t.Fatal(err)
	}
	if got := shares("burstable"); got != "1433" {
		t.Errorf("burstable cpu.shares after restore = %s, want 1433", got)
	}

	// cgroup v2: cpu.weight.
	v2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(v2, "cgroup.controllers"), []byte("cpu memory"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := newQOSCgroups(v2, "/").add("a", qosPod{class: v1.PodQOSBurstable, milliCPU: 300}); err != nil {
		t.Fatal(err)
	}
	if got := readTrimmed(t, filepath.Join(v2, "kubepods/burstable/cpu.weight")); got != "40" { // CPUSharesToWeight(307)
		t.Errorf("v2 burstable cpu.weight = %s, want 40", got)
	}
}

// TestQOSPodOf keeps pods out of the QoS cgroups where the kubelet's
// layout does not put them there.
func TestQOSPodOf(t *testing.T) {
	for _, sb := range []*sandboxRecord{
		{PodUID: "g", QOSClass: v1.PodQOSGuaranteed, CgroupParent: "/kubepods/podg"},
		{PodUID: "x", CgroupParent: "/kubepods/burstable/podx"},                                // class unknown (an older record)
		{PodUID: "m", QOSClass: v1.PodQOSBurstable, CgroupParent: "/kubepods/besteffort/podm"}, // class and parent disagree
		{PodUID: "o", QOSClass: v1.PodQOSBurstable, CgroupParent: "/mine/burstable"},           // the caller's own parent
		{PodUID: "s", QOSClass: v1.PodQOSBurstable, CgroupParent: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pods.slice"},
	} {
		if p, ok := qosPodOf(sb); ok {
			t.Errorf("sandbox of pod %s (%s in %s): in QoS cgroup as %+v", sb.PodUID, sb.QOSClass, sb.CgroupParent, p)
		}
	}
}
