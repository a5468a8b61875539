package stats

import (
	"math"
	"slices"
	"time"
)

// point is the compact per-sample record kept in a target's history ring:
// 72 bytes, so 2 minutes at 1 s cost 8.6 KB per target.
type point struct {
	unixNano   int64
	cpuNanos   uint64
	usage      uint64
	workingSet uint64
	ioRead     uint64
	ioWrite    uint64
	netRx      uint64
	netTx      uint64
	flags      uint8
}

const (
	pointHasNet uint8 = 1 << iota
	pointHasIO
	// pointAfterGap marks the first sample after the cgroup was missing:
	// no rate is computed across the gap, because the counters may belong
	// to a different incarnation of the cgroup.
	pointAfterGap
)

// ring is a fixed-size circular buffer of points.
type ring struct {
	buf  []point
	head int // index of the next write
	n    int
}

func newRing(size int) ring { return ring{buf: make([]point, size)} }

func (r *ring) push(p point) {
	r.buf[r.head] = p
	r.head = (r.head + 1) % len(r.buf)
	if r.n < len(r.buf) {
		r.n++
	}
}

// at returns the i-th oldest point (0 <= i < r.n).
func (r *ring) at(i int) *point {
	return &r.buf[(r.head-r.n+i+len(r.buf))%len(r.buf)]
}

func (r *ring) last() (*point, bool) {
	if r.n == 0 {
		return nil, false
	}
	return r.at(r.n - 1), true
}

// Rates are figures derived from two consecutive samples of a target.
type Rates struct {
	// Time is the time of the newer sample.
	Time time.Time `json:"time"`
	// Interval separates the two samples.
	Interval time.Duration `json:"interval"`
	// CPUNanoCores is CPU usage in billionths of a core.
	CPUNanoCores uint64 `json:"cpuNanoCores"`
	// HasCPU is false when the counter went backwards (reset) or there is
	// no pair of samples.
	HasCPU bool `json:"hasCPU"`
	// NetworkRxBytesPerSecond and NetworkTxBytesPerSecond sum all
	// interfaces but loopback.
	NetworkRxBytesPerSecond float64 `json:"networkRxBytesPerSecond"`
	NetworkTxBytesPerSecond float64 `json:"networkTxBytesPerSecond"`
	// HasNetwork is false without a PID, after a reset, or without a pair.
	HasNetwork bool `json:"hasNetwork"`
	// IOReadBytesPerSecond and IOWriteBytesPerSecond sum all devices.
	IOReadBytesPerSecond  float64 `json:"ioReadBytesPerSecond"`
	IOWriteBytesPerSecond float64 `json:"ioWriteBytesPerSecond"`
	// HasIO is false when IO was not read, after a reset, or without a pair.
	HasIO bool `json:"hasIO"`
}

// rates derives Rates from two points a (older) and b (newer). A counter
// that decreased means the cgroup or interface was recreated: that figure is
// reported as unknown rather than as a negative or huge rate.
func rates(a, b *point) Rates {
	r := Rates{Time: time.Unix(0, b.unixNano)}
	dt := b.unixNano - a.unixNano
	if dt <= 0 || b.flags&pointAfterGap != 0 {
		return r
	}
	r.Interval = time.Duration(dt)
	secs := float64(dt) / 1e9
	if b.cpuNanos >= a.cpuNanos {
		r.CPUNanoCores = uint64(math.Round(float64(b.cpuNanos-a.cpuNanos) / secs))
		r.HasCPU = true
	}
	if a.flags&b.flags&pointHasNet != 0 && b.netRx >= a.netRx && b.netTx >= a.netTx {
		r.NetworkRxBytesPerSecond = float64(b.netRx-a.netRx) / secs
		r.NetworkTxBytesPerSecond = float64(b.netTx-a.netTx) / secs
		r.HasNetwork = true
	}
	if a.flags&b.flags&pointHasIO != 0 && b.ioRead >= a.ioRead && b.ioWrite >= a.ioWrite {
		r.IOReadBytesPerSecond = float64(b.ioRead-a.ioRead) / secs
		r.IOWriteBytesPerSecond = float64(b.ioWrite-a.ioWrite) / secs
		r.HasIO = true
	}
	return r
}

// Standard summary windows, as in cAdvisor's derived stats.
const (
	// WindowMinute is a one-minute summary window.
	WindowMinute = time.Minute
	// WindowTenMinutes is a ten-minute summary window.
	WindowTenMinutes = 10 * time.Minute
	// WindowHour is a one-hour summary window.
	WindowHour = time.Hour
)

// Percentiles summarises a set of values exactly: every value of the window
// is kept and sorted, nearest-rank percentiles are taken on the raw values
// (never percentiles of percentiles).
type Percentiles struct {
	Count int    `json:"count"`
	Mean  uint64 `json:"mean"`
	Max   uint64 `json:"max"`
	P50   uint64 `json:"p50"`
	P90   uint64 `json:"p90"`
	P95   uint64 `json:"p95"`
	P99   uint64 `json:"p99"`
}

// computePercentiles sorts vals in place.
func computePercentiles(vals []uint64) Percentiles {
	p := Percentiles{Count: len(vals)}
	if len(vals) == 0 {
		return p
	}
	slices.Sort(vals)
	var sum float64
	for _, v := range vals {
		sum += float64(v)
	}
	p.Mean = uint64(math.Round(sum / float64(len(vals))))
	p.Max = vals[len(vals)-1]
	rank := func(q float64) uint64 {
		i := int(math.Ceil(q/100*float64(len(vals)))) - 1
		return vals[max(i, 0)]
	}
	p.P50, p.P90, p.P95, p.P99 = rank(50), rank(90), rank(95), rank(99)
	return p
}

// WindowSummary summarises a target's history over a window ending at its
// newest sample.
type WindowSummary struct {
	// Window is the requested window.
	Window time.Duration `json:"window"`
	// Covered is the span between the oldest and newest sample used; less
	// than Window when the history is shorter (see Options.HistoryLength).
	Covered time.Duration `json:"covered"`
	// CPUNanoCores summarises the CPU rate of each sample interval in the
	// window (intervals across a reset or gap are left out).
	CPUNanoCores Percentiles `json:"cpuNanoCores"`
	// WorkingSetBytes summarises the working set of each sample.
	WorkingSetBytes Percentiles `json:"workingSetBytes"`
	// MemoryUsageBytes summarises memory usage of each sample.
	MemoryUsageBytes Percentiles `json:"memoryUsageBytes"`
}

// summarize computes a WindowSummary over the points of r newer than
// newest-window.
func (r *ring) summarize(window time.Duration) WindowSummary {
	s := WindowSummary{Window: window}
	newest, ok := r.last()
	if !ok {
		return s
	}
	start := newest.unixNano - int64(window)
	first := r.n
	for i := r.n - 1; i >= 0 && r.at(i).unixNano >= start; i-- {
		first = i
	}
	if first == r.n {
		return s
	}
	s.Covered = time.Duration(newest.unixNano - r.at(first).unixNano)
	ws := make([]uint64, 0, r.n-first)
	usage := make([]uint64, 0, r.n-first)
	cpu := make([]uint64, 0, r.n-first)
	for i := first; i < r.n; i++ {
		p := r.at(i)
		ws = append(ws, p.workingSet)
		usage = append(usage, p.usage)
		if i > first {
			if rt := rates(r.at(i-1), p); rt.HasCPU {
				cpu = append(cpu, rt.CPUNanoCores)
			}
		}
	}
	s.WorkingSetBytes = computePercentiles(ws)
	s.MemoryUsageBytes = computePercentiles(usage)
	s.CPUNanoCores = computePercentiles(cpu)
	return s
}
