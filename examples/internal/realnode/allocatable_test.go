package realnode

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/nodekit/nodekit/kubelet/runc"
	"github.com/nodekit/nodekit/stats"
)

func TestParseReserved(t *testing.T) {
	rl, err := parseReserved("kube-reserved", "cpu=100m, memory=256Mi,pid=1000")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[v1.ResourceName]string{v1.ResourceCPU: "100m", v1.ResourceMemory: "256Mi", runc.ResourcePID: "1k"} {
		q := rl[name]
		if w := resource.MustParse(want); q.Cmp(w) != 0 {
			t.Errorf("%s = %s, want %s", name, q.String(), want)
		}
	}
	if rl, err := parseReserved("kube-reserved", ""); err != nil || len(rl) != 0 {
		t.Errorf("empty: %v, %v", rl, err)
	}
	for in, want := range map[string]string{
		"cpu":                         `"cpu" is not name=quantity`,
		"ephemeral-storage=1Gi":       `resource "ephemeral-storage" is not cpu, memory or pid`,
		"memory=lots":                 `memory="lots" is not a quantity`,
		"memory=-1Mi":                 `memory="-1Mi" is not a quantity`,
		"cpu=100m,cpu=200m":           "cpu given twice",
		"hugepages-2Mi=2Mi,memory=1G": `resource "hugepages-2Mi"`,
	} {
		_, err := parseReserved("system-reserved", in)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--system-reserved") {
			t.Errorf("parseReserved(%q) = %v, want an error naming --system-reserved and containing %q", in, err, want)
		}
	}
}

// TestNodeResources derives capacity, the kubepods cgroup's resources and
// allocatable as the kubelet does.
func TestNodeResources(t *testing.T) {
	m := stats.Machine{NumCores: 2, MemoryCapacityBytes: 4 << 30}
	reserved := v1.ResourceList{
		v1.ResourceCPU:    resource.MustParse("500m"),
		v1.ResourceMemory: resource.MustParse("1Gi"),
		runc.ResourcePID:  resource.MustParse("1000"),
	}
	check := func(what string, rl v1.ResourceList, want map[v1.ResourceName]string) {
		t.Helper()
		if len(rl) != len(want) {
			t.Errorf("%s = %v, want %v", what, rl, want)
		}
		for name, w := range want {
			q, ok := rl[name]
			if !ok || q.Cmp(resource.MustParse(w)) != 0 {
				t.Errorf("%s[%s] = %s, want %s", what, name, q.String(), w)
			}
		}
	}
	nr, err := nodeResources(m, 32768, reserved, true)
	if err != nil {
		t.Fatal(err)
	}
	check("capacity", nr.Capacity, map[v1.ResourceName]string{v1.ResourceCPU: "2", v1.ResourceMemory: "4Gi", runc.ResourcePID: "32768"})
	check("kubepods", nr.Kubepods, map[v1.ResourceName]string{v1.ResourceCPU: "1500m", v1.ResourceMemory: "3Gi", runc.ResourcePID: "31768"})
	// Allocatable leaves out the hard eviction threshold, and pids.
	check("allocatable", nr.Allocatable, map[v1.ResourceName]string{v1.ResourceCPU: "1500m", v1.ResourceMemory: "2972Mi"})

	// Without enforcement the kubepods cgroup gets the capacity.
	nr, err = nodeResources(m, 0, reserved, false)
	if err != nil {
		t.Fatal(err)
	}
	check("kubepods unenforced", nr.Kubepods, map[v1.ResourceName]string{v1.ResourceCPU: "2", v1.ResourceMemory: "4Gi"})

	if _, err := nodeResources(m, 0, v1.ResourceList{v1.ResourceCPU: resource.MustParse("2")}, true); err == nil || !strings.Contains(err.Error(), "reserved cpu") {
		t.Errorf("all CPUs reserved: %v", err)
	}
	if _, err := nodeResources(stats.Machine{NumCores: 1, MemoryCapacityBytes: 64 << 20}, 0, nil, true); err == nil || !strings.Contains(err.Error(), "eviction threshold") {
		t.Errorf("memory below the eviction threshold: %v", err)
	}
}

// TestConfigReserved adds --kube-reserved and --system-reserved up.
func TestConfigReserved(t *testing.T) {
	c := Config{NodeName: "n", PodCIDR: "10.88.0.0/16", KubeReserved: "cpu=100m", SystemReserved: "cpu=200m,memory=1Gi"}
	if err := c.Complete(); err != nil {
		t.Fatal(err)
	}
	cpu, mem := c.Reserved[v1.ResourceCPU], c.Reserved[v1.ResourceMemory]
	if cpu.Cmp(resource.MustParse("300m")) != 0 || mem.Cmp(resource.MustParse("1Gi")) != 0 || len(c.Reserved) != 2 {
		t.Errorf("Reserved = %v, want cpu 300m and memory 1Gi", c.Reserved)
	}
}
