package runc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/nodekit/nodekit/kubelet"
)

// TestWritePodCgroupLayouts writes a pod's limits into fixture trees of
// both cgroup versions.
func TestWritePodCgroupLayouts(t *testing.T) {
	cfg := kubelet.PodResourceConfig{CPUShares: 768, CPUQuota: 75000, CPUPeriod: 100000, MemoryLimit: 48 << 20}
	read := func(p string) string { return readTrimmed(t, p) }

	v1root := cgroupV1Fixture(t, "cpu", "memory")
	if err := writePodCgroup(v1root, "/kubepods/burstable/podX", cfg); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"cpu/kubepods/burstable/podX/cpu.shares":               "768",
		"cpu/kubepods/burstable/podX/cpu.cfs_period_us":        "100000",
		"cpu/kubepods/burstable/podX/cpu.cfs_quota_us":         "75000",
		"memory/kubepods/burstable/podX/memory.limit_in_bytes": "50331648",
	} {
		if got := read(filepath.Join(v1root, file)); got != want {
			t.Errorf("v1 %s = %q, want %q", file, got, want)
		}
	}

	v2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(v2, "cgroup.controllers"), []byte("cpu memory pids"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writePodCgroup(v2, "/kubepods/burstable/podX", cfg); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"cgroup.subtree_control":                    "+cpu +memory",
		"kubepods/cgroup.subtree_control":           "+cpu +memory",
		"kubepods/burstable/cgroup.subtree_control": "+cpu +memory",
		"kubepods/burstable/podX/cpu.weight":        "80", // CPUSharesToWeight(768)
		"kubepods/burstable/podX/cpu.max":           "75000 100000",
		"kubepods/burstable/podX/memory.max":        "50331648",
	} {
		if got := read(filepath.Join(v2, file)); got != want {
			t.Errorf("v2 %s = %q, want %q", file, got, want)
		}
	}

	// Without limits only the CPU weight is written.
	v2b := t.TempDir()
	_ = os.WriteFile(filepath.Join(v2b, "cgroup.controllers"), []byte("cpu memory"), 0o644)
	if err := writePodCgroup(v2b, "/kubepods/besteffort/podY", kubelet.PodResourceConfig{CPUShares: 2}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cpu.max", "memory.max"} {
		if _, err := os.Stat(filepath.Join(v2b, "kubepods/besteffort/podY", f)); err == nil {
			t.Errorf("%s written for a pod without limits", f)
		}
	}
	if got := read(filepath.Join(v2b, "kubepods/besteffort/podY/cpu.weight")); got != "1" {
		t.Errorf("cpu.weight of a BestEffort pod = %q, want 1", got)
	}
}

// TestPodCgroupLimits runs a Burstable pod whose containers all limit CPU
// and memory and reads the pod's cgroup on the machine's hierarchies, and
// the burstable QoS cgroup's CPU share while the pod runs and once it is
// gone.
func TestPodCgroupLimits(t *testing.T) {
	e := newTestEnv(t, false)
	r := e.newRuntime(t)
	ctx := t.Context()
	pod := testPod("limits", []string{"sleep", "3600"}, []string{"sleep", "3600"})
	pod.Spec.HostNetwork = true
	pod.Spec.Containers[0].Resources = res("100m", "8Mi", "500m", "32Mi")
	pod.Spec.Containers[1].Resources = res("100m", "8Mi", "250m", "16Mi")
	cfg := sandboxConfig(pod)
	if !strings.Contains(cfg.CgroupParent, "burstable/pod") {
		t.Fatalf("cgroup parent %q", cfg.CgroupParent)
	}
	sbID, ids := startPod(t, r, pod, 1)
	id := ids[0]
	podDir := filepath.Join(e.cgroupRoot, cfg.CgroupParent)
	read := func(h, file string) string {
		return readTrimmed(t, filepath.Join(DefaultCgroupFSRoot, h, podDir, file))
	}
	// readQOS reads a file of the burstable QoS cgroup, "<hierarchy>/<file>"
	// on cgroup v1.
	readQOS := func(file string) string {
		h, name := filepath.Split(file)
		return readTrimmed(t, filepath.Join(DefaultCgroupFSRoot, h, e.cgroupRoot, "kubepods/burstable", name))
	}
	v2 := false
	if _, err := os.Stat(filepath.Join(DefaultCgroupFSRoot, "cgroup.controllers")); err == nil {
		v2 = true
		if got := read("", "cpu.max"); got != "75000 100000" {
			t.Errorf("cpu.max = %q", got)
		}
		if got := read("", "memory.max"); got != "50331648" {
			t.Errorf("memory.max = %q", got)
		}
		if got := readQOS("cpu.weight"); got != "29" { // CPUSharesToWeight(204)
			t.Errorf("burstable cpu.weight = %q, want 29", got)
		}
	} else {
		if got := readQOS("cpu/cpu.shares"); got != "204" {
			t.Errorf("burstable cpu.shares = %q, want 204 (the pod's 200m)", got)
		}
		for file, want := range map[string]string{"cpu.shares": "204", "cpu.cfs_quota_us": "75000", "cpu.cfs_period_us": "100000"} {
			if got := read("cpu", file); got != want {
				t.Errorf("cpu %s = %q, want %q", file, got, want)
			}
		}
		if got := read("memory", "memory.limit_in_bytes"); got != "50331648" {
			t.Errorf("memory.limit_in_bytes = %q, want 48 MiB", got)
		}
		// The container's cgroup is below the pod's.
		if _, err := os.Stat(filepath.Join(DefaultCgroupFSRoot, "memory", podDir, id)); err != nil {
			t.Errorf("container cgroup not below the pod's: %v", err)
		}
	}
	if err := r.RemovePodSandbox(ctx, sbID); err != nil {
		t.Fatal(err)
	}
	for _, h := range cgroupHierarchies(DefaultCgroupFSRoot) {
		if _, err := os.Stat(filepath.Join(h, podDir)); err == nil {
			t.Errorf("pod cgroup left in %s", h)
		}
	}
	want, file := "2", "cpu/cpu.shares"
	if v2 {
		want, file = "1", "cpu.weight"
	}
	if got := readQOS(file); got != want {
		t.Errorf("burstable %s with no pod left = %q, want %s", file, got, want)
	}
}

// readTrimmed returns the content of file p without surrounding space.
func readTrimmed(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// cgroupV1Fixture returns a directory with an empty directory for each of
// the v1 hierarchies named.
func cgroupV1Fixture(t *testing.T, hierarchies ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, h := range hierarchies {
		if err := os.Mkdir(filepath.Join(root, h), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func res(cpuReq, memReq, cpuLim, memLim string) v1.ResourceRequirements {
	return v1.ResourceRequirements{
		Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpuReq), v1.ResourceMemory: resource.MustParse(memReq)},
		Limits:   v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpuLim), v1.ResourceMemory: resource.MustParse(memLim)},
	}
}
