package stats

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unsafe"

	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

// liveFixture is a writable copy of the v1 fixture whose files tests change
// between passes, driven by a fake clock.
type liveFixture struct {
	t     *testing.T
	root  string
	fs    FS
	clock *clocktesting.FakeClock
}

var fixtureStart = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newLiveFixture(t *testing.T) *liveFixture {
	t.Helper()
	root := copyTree(t, "testdata/v1")
	fsys, err := NewFS(filepath.Join(root, "proc"), filepath.Join(root, "cgroup"))
	if err != nil {
		t.Fatal(err)
	}
	return &liveFixture{t: t, root: root, fs: fsys, clock: clocktesting.NewFakeClock(fixtureStart)}
}

func (f *liveFixture) write(rel, content string) {
	f.t.Helper()
	writeFile(f.t, filepath.Join(f.root, rel), content)
}

func (f *liveFixture) setCPU(cg string, nanos uint64) {
	f.write(filepath.Join("cgroup/cpuacct", cg, "cpuacct.usage"), fmt.Sprintf("%d\n", nanos))
}

func (f *liveFixture) setMemory(cg string, usage uint64) {
	f.write(filepath.Join("cgroup/memory", cg, "memory.usage_in_bytes"), fmt.Sprintf("%d\n", usage))
}

func (f *liveFixture) setNet(pid int, rx, tx uint64) {
	f.write(fmt.Sprintf("proc/%d/net/dev", pid), fmt.Sprintf("Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n"+
		"    lo: 840 12 0 0 0 0 0 0 840 12 0 0 0 0 0 0\n  eth0: %d 10 0 0 0 0 0 0 %d 10 0 0 0 0 0 0\n", rx, tx))
}

// removeCgroup deletes a cgroup from every controller, as the kernel does
// when the container stops. It returns a function recreating it.
func (f *liveFixture) removeCgroup(cg string) (recreate func()) {
	f.t.Helper()
	saved := map[string]string{}
	for _, ctrl := range []string{"cpu", "cpuacct", "memory", "blkio", "pids"} {
		dir := filepath.Join(f.root, "cgroup", ctrl, cg)
		entries, err := os.ReadDir(dir)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				f.t.Fatal(err)
			}
			saved[filepath.Join(dir, e.Name())] = string(b)
		}
		if err := os.RemoveAll(dir); err != nil {
			f.t.Fatal(err)
		}
	}
	return func() {
		for p, c := range saved {
			writeFile(f.t, p, c)
		}
	}
}

func (f *liveFixture) collector(opts Options) *Collector {
	f.t.Helper()
	opts.Clock = f.clock
	if opts.MachineIDFile == "" {
		opts.MachineIDFile, opts.SystemUUIDFile = filepath.Join(f.root, "etc/machine-id"), filepath.Join(f.root, "sys/product_uuid")
	}
	c, err := NewCollector(f.fs, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *liveFixture) refresh(c *Collector) {
	f.t.Helper()
	if err := c.Refresh(context.Background()); err != nil {
		f.t.Fatalf("Refresh: %v", err)
	}
}

func testTarget() Target {
	return Target{
		ID:        v1ContainerPath,
		Pod:       types.NamespacedName{Namespace: "default", Name: "web-0"},
		PodUID:    fixturePodUID,
		Container: "nginx",
		Name:      fixtureCID,
		Image:     "registry.k8s.io/nginx:1.27",
		PID:       4242,
	}
}

func TestCollectorRates(t *testing.T) {
	f := newLiveFixture(t)
	c := f.collector(Options{})
	if err := c.Add(testTarget()); err != nil {
		t.Fatal(err)
	}
	f.setCPU(v1ContainerPath, 1_000_000_000)
	f.setNet(4242, 10_000, 5_000)
	f.refresh(c)
	if _, ok, _ := c.Rates(v1ContainerPath); ok {
		t.Fatal("rates available after one sample")
	}
	f.clock.Step(2 * time.Second)
	f.setCPU(v1ContainerPath, 1_500_000_000) // 0.5 s of CPU in 2 s
	f.setNet(4242, 30_000, 6_000)
	f.refresh(c)
	r, ok, err := c.Rates(v1ContainerPath)
	if err != nil || !ok {
		t.Fatalf("Rates: %v %v", ok, err)
	}
	if !r.HasCPU || r.CPUNanoCores != 250_000_000 {
		t.Errorf("CPUNanoCores = %d (has %v), want 250000000", r.CPUNanoCores, r.HasCPU)
	}
	if !r.HasNetwork || r.NetworkRxBytesPerSecond != 10_000 || r.NetworkTxBytesPerSecond != 500 {
		t.Errorf("network rates = %v/%v (has %v), want 10000/500", r.NetworkRxBytesPerSecond, r.NetworkTxBytesPerSecond, r.HasNetwork)
	}
	if !r.HasIO || r.IOReadBytesPerSecond != 0 || r.Interval != 2*time.Second {
		t.Errorf("io = %+v", r)
	}
}

func TestCollectorCounterReset(t *testing.T) {
	f := newLiveFixture(t)
	c := f.collector(Options{})
	if err := c.Add(testTarget()); err != nil {
		t.Fatal(err)
	}
	f.setCPU(v1ContainerPath, 5_000_000_000)
	f.setNet(4242, 1_000_000, 1_000_000)
	f.refresh(c)
	f.clock.Step(time.Second)
	// The counters restart (container restarted in place, interface
	// recreated): no negative or huge rate.
	f.setCPU(v1ContainerPath, 100)
	f.setNet(4242, 10, 10)
	f.refresh(c)
	r, ok, _ := c.Rates(v1ContainerPath)
	if !ok || r.HasCPU || r.HasNetwork {
		t.Fatalf("after reset: ok=%v HasCPU=%v (%d) HasNetwork=%v (%v)", ok, r.HasCPU, r.CPUNanoCores, r.HasNetwork, r.NetworkRxBytesPerSecond)
	}
	f.clock.Step(time.Second)
	f.setCPU(v1ContainerPath, 100+300_000_000)
	f.setNet(4242, 1010, 10)
	f.refresh(c)
	r, ok, _ = c.Rates(v1ContainerPath)
	if !ok || !r.HasCPU || r.CPUNanoCores != 300_000_000 || r.NetworkRxBytesPerSecond != 1000 {
		t.Errorf("after recovery: %+v", r)
	}
	sum, err := c.WindowSummary(v1ContainerPath, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if sum.CPUNanoCores.Count != 1 || sum.CPUNanoCores.Max != 300_000_000 {
		t.Errorf("summary includes the reset interval: %+v", sum.CPUNanoCores)
	}
}

func TestCollectorVanishedCgroup(t *testing.T) {
	f := newLiveFixture(t)
	c := f.collector(Options{})
	if err := c.Add(testTarget()); err != nil {
		t.Fatal(err)
	}
	f.setCPU(v1ContainerPath, 1_000_000_000)
	f.refresh(c)
	f.clock.Step(time.Second)
	f.setCPU(v1ContainerPath, 1_200_000_000)
	f.refresh(c)
	if _, ok, _ := c.Rates(v1ContainerPath); !ok {
		t.Fatal("no rates before removal")
	}

	recreate := f.removeCgroup(v1ContainerPath)
	f.clock.Step(time.Second)
	// Vanished targets are not errors of the pass: they are expected.
	f.refresh(c)
	st, err := c.Status(v1ContainerPath)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(st.LastError, ErrNotFound) {
		t.Errorf("Status.LastError = %v, want ErrNotFound", st.LastError)
	}
	if _, ok, _ := c.Rates(v1ContainerPath); ok {
		t.Error("rates reported for a vanished cgroup")
	}
	if st.Samples != 2 {
		t.Errorf("history has %d samples, want 2 (no sample for the failed read)", st.Samples)
	}

	// The cgroup comes back (a new container incarnation) with a higher
	// counter: no rate may be computed across the gap.
	recreate()
	f.setCPU(v1ContainerPath, 9_000_000_000)
	f.clock.Step(time.Second)
	f.refresh(c)
	r, ok, _ := c.Rates(v1ContainerPath)
	if !ok || r.HasCPU {
		t.Errorf("rate across the gap: ok=%v %+v", ok, r)
	}
	f.clock.Step(time.Second)
	f.setCPU(v1ContainerPath, 9_100_000_000)
	f.refresh(c)
	r, _, _ = c.Rates(v1ContainerPath)
	if !r.HasCPU || r.CPUNanoCores != 100_000_000 {
		t.Errorf("after the gap: %+v", r)
	}
}

func TestCollectorRingWraparound(t *testing.T) {
	f := newLiveFixture(t)
	c := f.collector(Options{HistoryLength: 5})
	if err := c.Add(testTarget()); err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		f.setCPU(v1ContainerPath, uint64(i)*1_000_000)
		f.refresh(c)
		f.clock.Step(time.Second)
	}
	h, err := c.History(v1ContainerPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 5 {
		t.Fatalf("history length %d, want 5", len(h))
	}
	for i, p := range h {
		wantCPU := uint64(7+i) * 1_000_000
		wantTime := fixtureStart.Add(time.Duration(7+i) * time.Second)
		if p.CPUUsageNanos != wantCPU || !p.Time.Equal(wantTime) {
			t.Errorf("history[%d] = %d at %v, want %d at %v", i, p.CPUUsageNanos, p.Time, wantCPU, wantTime)
		}
	}
}

func TestCollectorWindowPercentiles(t *testing.T) {
	f := newLiveFixture(t)
	c := f.collector(Options{HistoryLength: 200})
	if err := c.Add(testTarget()); err != nil {
		t.Fatal(err)
	}
	// 101 samples 1 s apart; interval k (1..100) burns k ms of CPU, so the
	// rates are exactly 1..100 millicores. Memory usage is k MiB.
	var cpu uint64
	for k := 0; k <= 100; k++ {
		cpu += uint64(k) * 1_000_000
		f.setCPU(v1ContainerPath, cpu)
		f.setMemory(v1ContainerPath, uint64(k)<<20)
		f.refresh(c)
		f.clock.Step(time.Second)
	}
	s, err := c.WindowSummary(v1ContainerPath, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := Percentiles{Count: 100, Mean: 50_500_000, Max: 100_000_000, P50: 50_000_000, P90: 90_000_000, P95: 95_000_000, P99: 99_000_000}
	if s.CPUNanoCores != want {
		t.Errorf("CPU percentiles = %+v, want %+v", s.CPUNanoCores, want)
	}
	if s.Covered != 100*time.Second {
		t.Errorf("Covered = %v, want 100s", s.Covered)
	}
	// The last minute holds samples 40..100 (61 samples, 60 intervals).
	m, _ := c.WindowSummary(v1ContainerPath, time.Minute)
	if m.CPUNanoCores.Count != 60 || m.CPUNanoCores.P50 != 70_000_000 || m.MemoryUsageBytes.Count != 61 || m.MemoryUsageBytes.Max != 100<<20 {
		t.Errorf("minute summary = %+v", m)
	}
	// Working set is usage minus the fixture's 20480 inactive bytes, floored.
	if m.WorkingSetBytes.Max != 100<<20-20480 || m.WorkingSetBytes.P50 != 70<<20-20480 {
		t.Errorf("working set summary = %+v", m.WorkingSetBytes)
	}
	if _, err := c.WindowSummary(v1ContainerPath, 0); err == nil {
		t.Error("zero window accepted")
	}
	// The standard windows: the history covers 100 s, so the 10 minute and
	// 1 hour windows both hold all of it and say so through Covered.
	all, err := c.WindowSummaries(v1ContainerPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0] != m || all[1] != s || all[2].CPUNanoCores != s.CPUNanoCores || all[2].Window != WindowHour || all[2].Covered != 100*time.Second {
		t.Errorf("WindowSummaries = %+v", all)
	}
}

func TestComputePercentilesSmall(t *testing.T) {
	tests := []struct {
		vals []uint64
		want Percentiles
	}{
		{nil, Percentiles{}},
		{[]uint64{7}, Percentiles{Count: 1, Mean: 7, Max: 7, P50: 7, P90: 7, P95: 7, P99: 7}},
		{[]uint64{4, 1, 3, 2}, Percentiles{Count: 4, Mean: 3, Max: 4, P50: 2, P90: 4, P95: 4, P99: 4}},
	}
	for _, tc := range tests {
		if got := computePercentiles(tc.vals); got != tc.want {
			t.Errorf("computePercentiles(%v) = %+v, want %+v", tc.vals, got, tc.want)
		}
	}
}

func TestCollectorRun(t *testing.T) {
	f := newLiveFixture(t)
	c := f.collector(Options{Interval: time.Second, MaxJitter: 100 * time.Millisecond})
	if err := c.Add(testTarget()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	waitSamples := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			st, _ := c.Status(v1ContainerPath)
			if st.Samples >= n && f.clock.HasWaiters() {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %d samples (have %d)", n, st.Samples)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitSamples(1)
	if err := c.Run(ctx); err == nil {
		t.Error("second concurrent Run succeeded")
	}
	// Less than the interval: no new pass.
	f.clock.Step(900 * time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	if st, _ := c.Status(v1ContainerPath); st.Samples != 1 {
		t.Errorf("pass ran before the interval elapsed: %d samples", st.Samples)
	}
	// Interval plus the maximum jitter: exactly one more pass.
	f.clock.Step(200 * time.Millisecond)
	waitSamples(2)
	f.clock.Step(1100 * time.Millisecond)
	waitSamples(3)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
}

func TestCollectorAddValidation(t *testing.T) {
	f := newLiveFixture(t)
	c := f.collector(Options{})
	tests := []struct {
		name  string
		mod   func(*Target)
		field string
	}{
		{"relative id", func(t *Target) { t.ID = "kubepods" }, "ID"},
		{"root id", func(t *Target) { t.ID = "/" }, "ID"},
		{"negative pid", func(t *Target) { t.PID = -1 }, "PID"},
		{"container without pod", func(t *Target) { t.PodUID = ""; t.Pod = types.NamespacedName{} }, "PodUID"},
		{"pod name without uid", func(t *Target) { t.PodUID = ""; t.Container = "" }, "PodUID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := testTarget()
			tc.mod(&tg)
			err := c.Add(tg)
			if !errors.Is(err, ErrInvalidTarget) || !containsStr(err.Error(), "field "+tc.field) {
				t.Errorf("got %v, want ErrInvalidTarget naming field %s", err, tc.field)
			}
		})
	}
	if err := c.Add(testTarget()); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(testTarget()); !errors.Is(err, ErrAlreadyRegistered) {
		t.Errorf("duplicate Add: %v", err)
	}
	if _, _, err := c.Latest("/nope"); !errors.Is(err, ErrUnknownTarget) {
		t.Errorf("Latest(unknown): %v", err)
	}
	c.Remove(v1ContainerPath)
	if len(c.Targets()) != 0 {
		t.Error("Remove left the target")
	}
}

func containsStr(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestCollectorMalformedIsReported(t *testing.T) {
	f := newLiveFixture(t)
	c := f.collector(Options{})
	if err := c.Add(testTarget()); err != nil {
		t.Fatal(err)
	}
	f.write(filepath.Join("cgroup/memory", v1ContainerPath, "memory.stat"), "garbage\n")
	err := c.Refresh(context.Background())
	var pe *ParseError
	if !errors.As(err, &pe) || pe.File != "memory.stat" {
		t.Errorf("Refresh = %v, want a ParseError for memory.stat", err)
	}
	if _, ok, _ := c.Latest(v1ContainerPath); ok {
		t.Error("a sample was recorded despite the parse error")
	}
}

func TestCollectorLimitsInterval(t *testing.T) {
	f := newLiveFixture(t)
	c := f.collector(Options{LimitsInterval: 10 * time.Second})
	if err := c.Add(testTarget()); err != nil {
		t.Fatal(err)
	}
	limit := func() uint64 {
		t.Helper()
		s, ok, err := c.Latest(v1ContainerPath)
		if err != nil || !ok || !s.Stats.Mask.Has(MaskLimits) {
			t.Fatalf("Latest: %v %v mask %v", ok, err, s.Stats.Mask)
		}
		return s.Stats.Memory.LimitBytes
	}
	f.refresh(c)
	if got := limit(); got != 268435456 {
		t.Fatalf("limit %d, want 268435456", got)
	}
	// The limit is raised (an in-place resize): cached until the interval
	// has passed, then re-read.
	f.write(filepath.Join("cgroup/memory", v1ContainerPath, "memory.limit_in_bytes"), "536870912\n")
	f.clock.Step(5 * time.Second)
	f.refresh(c)
	if got := limit(); got != 268435456 {
		t.Errorf("limit re-read before LimitsInterval: %d", got)
	}
	f.clock.Step(5 * time.Second)
	f.refresh(c)
	if got := limit(); got != 536870912 {
		t.Errorf("limit %d after LimitsInterval, want 536870912", got)
	}
}

func TestCollectorRefreshRestartsRunInterval(t *testing.T) {
	f := newLiveFixture(t)
	c := f.collector(Options{Interval: time.Second, MaxJitter: -1})
	if err := c.Add(testTarget()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	samples := func() int { st, _ := c.Status(v1ContainerPath); return st.Samples }
	waitFor := func(cond func() bool, what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitFor(func() bool { return samples() == 1 && f.clock.HasWaiters() }, "the first pass")
	f.clock.Step(600 * time.Millisecond)
	f.refresh(c) // on-demand pass at 0.6 s
	if n := samples(); n != 2 {
		t.Fatalf("%d samples after Refresh, want 2", n)
	}
	// The loop must not add a pass of its own for the nudge, and its next
	// pass is one interval after the Refresh (1.6 s), not at 1 s.
	waitFor(func() bool { return len(c.refresh) == 0 && f.clock.HasWaiters() }, "the loop to take the nudge")
	time.Sleep(20 * time.Millisecond)    // from taking the nudge to the new timer is a few instructions
	f.clock.Step(500 * time.Millisecond) // 1.1 s
	time.Sleep(20 * time.Millisecond)
	if n := samples(); n != 2 {
		t.Errorf("%d samples at 1.1 s, want 2 (interval restarted by Refresh)", n)
	}
	f.clock.Step(500 * time.Millisecond) // 1.6 s
	waitFor(func() bool { return samples() == 3 }, "the pass one interval after Refresh")
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
}

// TestPointSize pins the size of a history point, which doc.go and the
// bytes/container budget rely on.
func TestPointSize(t *testing.T) {
	if got := unsafe.Sizeof(point{}); got != 72 {
		t.Errorf("history point is %d bytes, doc.go says 72", got)
	}
}
