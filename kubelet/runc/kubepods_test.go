package runc

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func kubepodsResources() v1.ResourceList {
	return v1.ResourceList{
		v1.ResourceCPU:    resource.MustParse("1500m"),
		v1.ResourceMemory: resource.MustParse("1Gi"),
		ResourcePID:       resource.MustParse("4096"),
	}
}

func TestCheckKubepodsResources(t *testing.T) {
	if err := checkKubepodsResources(kubepodsResources()); err != nil {
		t.Errorf("cpu, memory and pid: %v", err)
	}
	if err := checkKubepodsResources(nil); err != nil {
		t.Errorf("none: %v", err)
	}
	for name, rl := range map[string]v1.ResourceList{
		"hugepages":         {"hugepages-2Mi": resource.MustParse("2Mi")},
		"ephemeral storage": {v1.ResourceEphemeralStorage: resource.MustParse("1Gi")},
		"zero cpu":          {v1.ResourceCPU: resource.MustParse("0")},
		"negative memory":   {v1.ResourceMemory: resource.MustParse("-1Mi")},
	} {
		err := checkKubepodsResources(rl)
		if !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: %v, want ErrInvalidOptions", name, err)
			continue
		}
		for n := range rl {
			if !strings.Contains(err.Error(), string(n)) {
				t.Errorf("%s: error %q does not name %s", name, err, n)
			}
		}
	}
}

// TestWriteKubepodsCgroup writes the node's allocatable resources into
// fixture trees of both cgroup versions.
func TestWriteKubepodsCgroup(t *testing.T) {
	read := func(p string) string { return readTrimmed(t, p) }
	v1root := cgroupV1Fixture(t, "cpu", "memory", "pids")
	if err := writeKubepodsCgroup(v1root, "/node", kubepodsResources()); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"cpu/node/kubepods/cpu.shares":               "1536",
		"memory/node/kubepods/memory.limit_in_bytes": "1073741824",
		"pids/node/kubepods/pids.max":                "4096",
	} {
		if got := read(filepath.Join(v1root, file)); got != want {
			t.Errorf("v1 %s = %q, want %q", file, got, want)
		}
	}
	// Only what is named is written.
	if err := writeKubepodsCgroup(v1root, "/other", v1.ResourceList{v1.ResourceCPU: resource.MustParse("2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(v1root, "memory/other")); !os.IsNotExist(err) {
		t.Errorf("a memory cgroup was made without a memory resource: %v", err)
	}

	v2 := t.TempDir()
	if err := os.WriteFile(filepath.Join(v2, "cgroup.controllers"), []byte("cpu memory pids"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeKubepodsCgroup(v2, "/", kubepodsResources()); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"cgroup.subtree_control": "+cpu +memory +pids",
		"kubepods/cpu.weight":    "138", // CPUSharesToWeight(1536)
		"kubepods/memory.max":    "1073741824",
		"kubepods/pids.max":      "4096",
	} {
		if got := read(filepath.Join(v2, file)); got != want {
			t.Errorf("v2 %s = %q, want %q", file, got, want)
		}
	}
}

// TestKubepodsCgroup starts a Runtime that enforces the node's allocatable
// resources and reads the kubepods cgroup on the machine's hierarchies.
func TestKubepodsCgroup(t *testing.T) {
	e := newTestEnv(t, false)
	e.opts.KubepodsResources = kubepodsResources()
	e.newRuntime(t)
	dir := filepath.Join(e.cgroupRoot, "kubepods")
	read := func(h, file string) string { return readTrimmed(t, filepath.Join(DefaultCgroupFSRoot, h, dir, file)) }
	if _, err := os.Stat(filepath.Join(DefaultCgroupFSRoot, "cgroup.controllers")); err == nil {
		for file, want := range map[string]string{"cpu.weight": "138", "memory.max": "1073741824", "pids.max": "4096"} {
			if got := read("", file); got != want {
				t.Errorf("%s = %q, want %q", file, got, want)
			}
		}
		return
	}
	for _, f := range []struct{ h, file, want string }{
		{"cpu", "cpu.shares", "1536"},
		{"memory", "memory.limit_in_bytes", "1073741824"},
		{"pids", "pids.max", "4096"},
	} {
		if got := read(f.h, f.file); got != f.want {
			t.Errorf("%s %s = %q, want %q", f.h, f.file, got, f.want)
		}
	}
}
