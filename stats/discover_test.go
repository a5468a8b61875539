package stats

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
)

func TestDiscover(t *testing.T) {
	tests := []struct {
		fixture string
		want    []DiscoveredCgroup
	}{
		{"v1", []DiscoveredCgroup{
			{Path: v1PodPath, QOS: v1.PodQOSBurstable, PodUID: fixturePodUID},
			{Path: v1ContainerPath, QOS: v1.PodQOSBurstable, PodUID: fixturePodUID, ContainerID: fixtureCID, PID: 4242},
			{Path: "/kubepods/pod" + fixturePodUID2, QOS: v1.PodQOSGuaranteed, PodUID: fixturePodUID2},
			{Path: "/kubepods/pod" + fixturePodUID2 + "/" + fixtureCID2, QOS: v1.PodQOSGuaranteed, PodUID: fixturePodUID2, ContainerID: fixtureCID2, PID: 4242},
		}},
		{"hybrid", []DiscoveredCgroup{
			{Path: hybridPodPath, QOS: v1.PodQOSBurstable, PodUID: fixturePodUID},
			{Path: hybridCtrPath, QOS: v1.PodQOSBurstable, PodUID: fixturePodUID, ContainerID: fixtureCID, PID: 4242},
		}},
		{"v2", []DiscoveredCgroup{
			{Path: v2PodPath, QOS: v1.PodQOSBestEffort, PodUID: fixturePodUID2},
			{Path: v2CtrPath, QOS: v1.PodQOSBestEffort, PodUID: fixturePodUID2, ContainerID: fixtureCID2, PID: 4242},
			{Path: v2GuaranteedPod, QOS: v1.PodQOSGuaranteed, PodUID: fixturePodUID},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			got, err := fixtureFS(t, tc.fixture).Discover()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Discover (-want +got):\n%s", diff)
			}
		})
	}
}

func TestContainerIDFromCgroup(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{fixtureCID, fixtureCID, true},
		{"cri-containerd-" + fixtureCID + ".scope", fixtureCID, true},
		{"crio-" + fixtureCID + ".scope", fixtureCID, true},
		{"docker-abc123.scope", "abc123", true},
		{"crio-conmon-" + fixtureCID + ".scope", "", false},
		{"nodash.scope", "", false},
		{"", "", false},
		{"a/b", "", false},
		{"bad..id", "", false},
	}
	for _, tc := range tests {
		got, ok := containerIDFromCgroup(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("containerIDFromCgroup(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSnapshotJSONGolden(t *testing.T) {
	c, _ := summaryCollector(t)
	var b []byte
	w := &byteWriter{&b}
	if err := c.WriteJSON(w); err != nil {
		t.Fatal(err)
	}
	compareGolden(t, "snapshot-v1.json", b)
}

type byteWriter struct{ b *[]byte }

func (w *byteWriter) Write(p []byte) (int, error) { *w.b = append(*w.b, p...); return len(p), nil }

func TestSyncDiscovered(t *testing.T) {
	f := newLiveFixture(t)
	c := f.collector(Options{})
	// Registered by hand: discovery must neither replace nor remove it.
	if err := c.Add(testTarget()); err != nil {
		t.Fatal(err)
	}
	added, removed, err := c.SyncDiscovered(func(d DiscoveredCgroup) Target {
		tg := DefaultTarget(d)
		if d.PodUID == fixturePodUID {
			tg.Pod.Namespace, tg.Pod.Name = "default", "web-0"
		}
		return tg
	})
	if err != nil || added != 3 || removed != 0 {
		t.Fatalf("first sync: added %d removed %d err %v", added, removed, err)
	}
	ids := func() []string {
		var out []string
		for _, tg := range c.Targets() {
			out = append(out, tg.ID)
		}
		return out
	}
	ctr2 := "/kubepods/pod" + fixturePodUID2 + "/" + fixtureCID2
	want := []string{v1PodPath, v1ContainerPath, "/kubepods/pod" + fixturePodUID2, ctr2}
	if diff := cmp.Diff(want, ids()); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	f.refresh(c)
	s := c.Summary("n")
	if len(s.Pods) != 2 || s.Pods[0].PodRef.Name != "" || s.Pods[1].PodRef.Name != "web-0" || s.Pods[1].Containers[0].Name != "nginx" {
		t.Errorf("pods: %+v", s.Pods)
	}
	if s.Pods[0].Containers[0].Name != fixtureCID2 {
		t.Errorf("discovered container named %q, want its ID", s.Pods[0].Containers[0].Name)
	}

	// Both containers go away: the discovered target is removed, the one
	// added by hand stays.
	f.removeCgroup(ctr2)
	f.removeCgroup(v1ContainerPath)
	added, removed, err = c.SyncDiscovered(nil)
	if err != nil || added != 0 || removed != 1 {
		t.Fatalf("second sync: added %d removed %d err %v", added, removed, err)
	}
	if diff := cmp.Diff([]string{v1PodPath, v1ContainerPath, "/kubepods/pod" + fixturePodUID2}, ids()); diff != "" {
		t.Errorf("targets after removal (-want +got):\n%s", diff)
	}
}

// TestDiscoverUnder finds the pods of a kubelet started with --cgroup-root
// in a tree that also holds an unrelated kubepods hierarchy at the root.
func TestDiscoverUnder(t *testing.T) {
	root := t.TempDir()
	const uid = "0b5c1a3e-7d2f-4c1e-9a8b-3f6d2e1c0a9b"
	for _, dir := range []string{
		"memory/kubepods/besteffort/pod" + uid,
		"memory/nodekit/n1/kubepods/burstable/pod" + uid + "/abc123",
		"cpuacct",
	} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for file, content := range map[string]string{
		"memory/cgroup.procs":  "1\n",
		"cpuacct/cgroup.procs": "1\n",
		"memory/nodekit/n1/kubepods/burstable/pod" + uid + "/abc123/cgroup.procs": "77\n",
	} {
		if err := os.WriteFile(filepath.Join(root, file), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fsys, err := NewFS(filepath.Join("testdata", "v1", "proc"), root)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"/nodekit/n1", "nodekit/n1/"} {
		got, err := fsys.DiscoverUnder(prefix)
		if err != nil {
			t.Fatal(err)
		}
		want := []DiscoveredCgroup{
			{Path: "/nodekit/n1/kubepods/burstable/pod" + uid, QOS: v1.PodQOSBurstable, PodUID: uid},
			{Path: "/nodekit/n1/kubepods/burstable/pod" + uid + "/abc123", QOS: v1.PodQOSBurstable, PodUID: uid, ContainerID: "abc123", PID: 77},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("DiscoverUnder(%q) (-want +got):\n%s", prefix, diff)
		}
	}
	got, err := fsys.Discover()
	if err != nil || len(got) != 1 || got[0].QOS != v1.PodQOSBestEffort {
		t.Errorf("Discover = %+v, %v; want the root hierarchy's one pod", got, err)
	}
	c, err := NewCollector(fsys, Options{CgroupRoot: "/nodekit/n1"})
	if err != nil {
		t.Fatal(err)
	}
	if added, removed, err := c.SyncDiscovered(nil); err != nil || added != 2 || removed != 0 {
		t.Errorf("SyncDiscovered under the cgroup root = %d added, %d removed, %v; want 2, 0", added, removed, err)
	}
}
