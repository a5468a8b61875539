package stats

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

// summaryCollector registers the v1 fixture's pods: a burstable pod with its
// pod-level cgroup and one container, and a guaranteed pod with only a
// container (so its pod figures are summed), then takes two samples 1 s
// apart so rates exist.
func summaryCollector(t *testing.T) (*Collector, *liveFixture) {
	t.Helper()
	f := newLiveFixture(t)
	c := f.collector(Options{Mask: MaskDefault | MaskProcesses})
	targets := []Target{
		testTarget(),
		{ID: v1PodPath, Pod: types.NamespacedName{Namespace: "default", Name: "web-0"}, PodUID: fixturePodUID, PID: 4242},
		{ID: "/kubepods/pod" + fixturePodUID2 + "/" + fixtureCID2, Pod: types.NamespacedName{Namespace: "kube-system", Name: "coredns-0"},
			PodUID: fixturePodUID2, Container: "coredns", Name: fixtureCID2, Image: "registry.k8s.io/coredns/coredns:v1.12.0", PID: 4242},
	}
	for _, tg := range targets {
		if err := c.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	f.setCPU("/", 180833019688)
	f.refresh(c)
	f.clock.Step(time.Second)
	f.setCPU(v1ContainerPath, 849038869+250_000_000)
	f.setCPU(v1PodPath, 849038869+14250731+260_000_000)
	f.setCPU("/", 180833019688+1_500_000_000)
	f.setNet(4242, 1873461+4096, 982311+1024)
	f.refresh(c)
	return c, f
}

func TestSummaryGoldenV1(t *testing.T) {
	c, _ := summaryCollector(t)
	s := c.Summary("node-a")
	golden(t, "summary-v1.json", s)

	if len(s.Pods) != 2 {
		t.Fatalf("got %d pods, want 2", len(s.Pods))
	}
	web := s.Pods[0]
	if web.PodRef.Name != "web-0" || len(web.Containers) != 1 {
		t.Fatalf("pods[0] = %+v", web.PodRef)
	}
	ctr := web.Containers[0]
	if ctr.CPU.UsageNanoCores == nil || *ctr.CPU.UsageNanoCores != 250_000_000 {
		t.Errorf("container nanocores = %v, want 250000000", ctr.CPU.UsageNanoCores)
	}
	// 256 MiB limit minus the working set.
	if ctr.Memory.AvailableBytes == nil || *ctr.Memory.AvailableBytes != 268435456-*ctr.Memory.WorkingSetBytes {
		t.Errorf("AvailableBytes = %v", ctr.Memory.AvailableBytes)
	}
	// The pod cgroup is unlimited: AvailableBytes omitted.
	if web.Memory.AvailableBytes != nil {
		t.Errorf("pod AvailableBytes = %d, want nil for an unlimited cgroup", *web.Memory.AvailableBytes)
	}
	if web.Network == nil || *web.Network.RxBytes != 1873461+4096 || web.Network.Name != "eth0" {
		t.Errorf("pod network = %+v", web.Network)
	}
	if n := s.Node; n.CPU == nil || *n.CPU.UsageNanoCores != 1_500_000_000 || n.Memory.AvailableBytes == nil {
		t.Errorf("node = %+v", n)
	}
}

func TestSummaryOmitsVanishedAndUnknown(t *testing.T) {
	c, f := summaryCollector(t)
	f.removeCgroup(v1ContainerPath)
	f.clock.Step(time.Second)
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := c.Summary("node-a")
	for _, p := range s.Pods {
		if p.PodRef.Name == "web-0" && len(p.Containers) != 0 {
			t.Errorf("vanished container still reported: %+v", p.Containers)
		}
	}
	// A target never sampled yields no pod at all.
	if err := c.Add(Target{ID: "/kubepods/besteffort/podx", Pod: types.NamespacedName{Namespace: "a", Name: "b"}, PodUID: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range c.Summary("node-a").Pods {
		if p.PodRef.UID == "x" {
			t.Errorf("unsampled pod reported: %+v", p)
		}
	}
}

func TestSummaryGoldenV2(t *testing.T) {
	fsys := fixtureFS(t, "v2")
	clk := clocktesting.NewFakeClock(fixtureStart)
	c, err := NewCollector(fsys, Options{Clock: clk, Mask: MaskDefault | MaskPSI})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range []Target{
		{ID: v2CtrPath, Pod: types.NamespacedName{Namespace: "default", Name: "batch-1"}, PodUID: fixturePodUID2, Container: "worker", Name: fixtureCID2, Image: "busybox:1.37", PID: 4242},
		{ID: v2PodPath, Pod: types.NamespacedName{Namespace: "default", Name: "batch-1"}, PodUID: fixturePodUID2, PID: 4242},
		{ID: v2GuaranteedPod, Pod: types.NamespacedName{Namespace: "default", Name: "db-0"}, PodUID: fixturePodUID},
	} {
		if err := c.Add(tg); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := c.Summary("node-b")
	golden(t, "summary-v2.json", s)
	db := s.Pods[1]
	if s.Pods[0].PodRef.Name != "batch-1" || db.PodRef.Name != "db-0" || db.Memory.AvailableBytes == nil || *db.Memory.AvailableBytes != 134217728-(70000000-6000000) {
		t.Errorf("db-0 memory = %+v", db.Memory)
	}
	if db.CPU.UsageNanoCores != nil {
		t.Error("nanocores reported after a single sample")
	}
	if db.CPU.PSI == nil || db.CPU.PSI.Some.Total != 1234567000 {
		t.Errorf("PSI = %+v, want total in ns", db.CPU.PSI)
	}
}

func TestSummarySystemContainers(t *testing.T) {
	f := newLiveFixture(t)
	c := f.collector(Options{SystemContainers: map[string]string{"pods": "/kubepods/burstable", "misc": "/kubepods/gone"}})
	// /kubepods/burstable has only cgroup.procs in the fixture: give it the
	// pod's files.
	for _, pair := range [][2]string{{"cpuacct", "cpuacct.usage"}, {"cpuacct", "cpuacct.stat"}, {"cpu", "cpu.stat"}, {"cpu", "cpu.cfs_quota_us"},
		{"cpu", "cpu.cfs_period_us"}, {"cpu", "cpu.shares"}, {"memory", "memory.usage_in_bytes"}, {"memory", "memory.max_usage_in_bytes"},
		{"memory", "memory.failcnt"}, {"memory", "memory.stat"}, {"memory", "memory.limit_in_bytes"},
		{"blkio", "blkio.throttle.io_service_bytes_recursive"}, {"blkio", "blkio.throttle.io_serviced_recursive"}, {"pids", "pids.current"}, {"pids", "pids.max"}} {
		b, err := os.ReadFile(filepath.Join(f.root, "cgroup", pair[0], v1PodPath, pair[1]))
		if err != nil {
			t.Fatal(err)
		}
		f.write(filepath.Join("cgroup", pair[0], "kubepods/burstable", pair[1]), string(b))
	}
	f.refresh(c)
	s := c.Summary("n")
	if len(s.Node.SystemContainers) != 1 || s.Node.SystemContainers[0].Name != "pods" || s.Node.SystemContainers[0].Memory == nil {
		t.Errorf("system containers: %+v", s.Node.SystemContainers)
	}
	if st, err := c.Status("/kubepods/gone"); err != nil || !errors.Is(st.LastError, ErrNotFound) {
		t.Errorf("missing system container: %+v %v", st, err)
	}
	if _, err := NewCollector(f.fs, Options{SystemContainers: map[string]string{"pods": "kubepods"}}); !errors.Is(err, ErrInvalidTarget) {
		t.Errorf("relative system container path: %v", err)
	}
}
