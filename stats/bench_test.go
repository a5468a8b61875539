package stats

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

// BenchmarkCollect measures sampling one container (cgroup files selected
// by MaskDefault plus /proc/<pid>/net/dev), as a housekeeping pass does it.
func BenchmarkCollect(b *testing.B) {
	cases := []struct{ name, fixture, path string }{
		{"cgroup=v1", "v1", v1ContainerPath},
		{"cgroup=v2", "v2", v2CtrPath},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			benchSample(b, fixtureFS(b, tc.fixture), tc.path, 4242, Options{})
		})
	}
	b.Run("cgroup=live-root", func(b *testing.B) {
		fsys, err := NewFS("/proc", "/sys/fs/cgroup")
		if err != nil {
			b.Skipf("no live cgroup hierarchy: %v", err)
		}
		benchSample(b, fsys, "/", os.Getpid(), Options{})
	})
}

func benchSample(b *testing.B, fsys FS, path string, pid int, opts Options) {
	opts.Clock = clocktesting.NewFakeClock(fixtureStart)
	c, err := NewCollector(fsys, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	e := &entry{target: Target{ID: path, PID: pid}, history: newRing(120)}
	defer e.files.closeAll()
	r := c.readers[0]
	if err := c.sample(r, e); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu0 := processCPU()
	b.ResetTimer()
	for b.Loop() {
		if err := c.sample(r, e); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU returns the user+system CPU time of the process in ns. Next to
// wall time it shows the cost of a sample on a machine shared with other
// work, where ns/op includes waiting for a CPU.
func processCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// manyContainers builds a v1 tree with n container cgroups (symlinks to the
// fixture container in every controller) and a Collector watching them.
func manyContainers(b *testing.B, n int, opts Options) (*Collector, *clocktesting.FakeClock) {
	b.Helper()
	root := b.TempDir()
	src, err := filepath.Abs("testdata/v1")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(src, "proc"), filepath.Join(root, "proc")); err != nil {
		b.Fatal(err)
	}
	for _, ctrl := range []string{"cpu", "cpuacct", "memory", "blkio", "pids"} {
		dir := filepath.Join(root, "cgroup", ctrl)
		if err := os.MkdirAll(filepath.Join(dir, "bench"), 0o755); err != nil {
			b.Fatal(err)
		}
		for _, f := range []string{"cgroup.procs"} {
			if err := os.Symlink(filepath.Join(src, "cgroup", ctrl, f), filepath.Join(dir, f)); err != nil {
				b.Fatal(err)
			}
		}
		for _, f := range []string{"cpuacct.usage", "cpuacct.stat", "cpu.stat", "cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.shares",
			"memory.usage_in_bytes", "memory.limit_in_bytes", "memory.max_usage_in_bytes", "memory.failcnt", "memory.stat",
			"blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_serviced_recursive"} {
			if _, err := os.Stat(filepath.Join(src, "cgroup", ctrl, f)); err == nil {
				if err := os.Symlink(filepath.Join(src, "cgroup", ctrl, f), filepath.Join(dir, f)); err != nil {
					b.Fatal(err)
				}
			}
		}
		for i := range n {
			if err := os.Symlink(filepath.Join(src, "cgroup", ctrl, v1ContainerPath), filepath.Join(dir, "bench", fmt.Sprintf("c%04d", i))); err != nil {
				b.Fatal(err)
			}
		}
	}
	fsys, err := NewFS(filepath.Join(root, "proc"), filepath.Join(root, "cgroup"))
	if err != nil {
		b.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(fixtureStart)
	opts.Clock = clk
	c, err := NewCollector(fsys, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	for i := range n {
		uid := types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012d", i/2))
		err := c.Add(Target{
			ID:        fmt.Sprintf("/bench/c%04d", i),
			Pod:       types.NamespacedName{Namespace: "bench", Name: fmt.Sprintf("pod-%d", i/2)},
			PodUID:    uid,
			Container: fmt.Sprintf("ctr-%d", i%2),
			Name:      fmt.Sprintf("%064d", i),
			Image:     "registry.k8s.io/pause:3.10",
			PID:       4242,
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return c, clk
}

// BenchmarkHousekeeping measures one pass over 1000 containers.
func BenchmarkHousekeeping(b *testing.B) {
	b.Run("containers=1000", func(b *testing.B) {
		c, clk := manyContainers(b, 1000, Options{})
		ctx := context.Background()
		b.ReportAllocs()
		cpu0 := processCPU()
		b.ResetTimer()
		for b.Loop() {
			clk.Step(time.Second)
			if err := c.Refresh(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	})
}

// textFormat is the text exposition format without name escaping (every
// cAdvisor name is a legacy-valid name, so escaping never changes them).
var textFormat = expfmt.NewFormat(expfmt.TypeTextPlain).WithEscapingScheme(model.NoEscaping)

// BenchmarkScrape measures a Prometheus scrape (gather and text encoding)
// of 1000 containers with every family enabled: through the
// PrometheusCollector's own Gather (the fast path), and registered in a
// prometheus.Registry as a Collector.
func BenchmarkScrape(b *testing.B) {
	c, clk := manyContainers(b, 1000, Options{})
	for range 2 {
		if err := c.Refresh(context.Background()); err != nil {
			b.Fatal(err)
		}
		clk.Step(time.Second)
	}
	p, err := NewPrometheusCollector(c, PrometheusOptions{})
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(p)
	for _, tc := range []struct {
		name string
		g    prometheus.Gatherer
	}{
		{"containers=1000", p},
		{"containers=1000/registry", reg},
	} {
		b.Run(tc.name, func(b *testing.B) {
			series := 0
			b.ReportAllocs()
			cpu0 := processCPU()
			b.ResetTimer()
			for b.Loop() {
				mfs, err := tc.g.Gather()
				if err != nil {
					b.Fatal(err)
				}
				enc := expfmt.NewEncoder(io.Discard, textFormat)
				series = 0
				for _, mf := range mfs {
					series += len(mf.Metric)
					if err := enc.Encode(mf); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(series), "series")
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkMemoryPerContainer reports the heap held per tracked container
// once its history holds 2 minutes of 1 s samples (120 points).
func BenchmarkMemoryPerContainer(b *testing.B) {
	const n = 1000
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c, clk := manyContainers(b, n, Options{HistoryLength: 120})
		for range 120 {
			if err := c.Refresh(context.Background()); err != nil {
				b.Fatal(err)
			}
			clk.Step(time.Second)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "bytes/container")
		c.Close()
	}
}
