package stats

import (
	"errors"
	"math"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseUint(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"18446744073709551615", math.MaxUint64, true},
		{"18446744073709551616", 0, false},
		{"99999999999999999999", 0, false},
		{"", 0, false},
		{"-1", 0, false},
		{"1 ", 0, false},
		{"12a", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseUint([]byte(tc.in))
			if got != tc.want || ok != tc.ok {
				t.Errorf("parseUint(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestParseInt(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"-1", -1, true},
		{"100000", 100000, true},
		{"-9223372036854775808", math.MinInt64, true},
		{"9223372036854775808", 0, false},
		{"-", 0, false},
		{"--1", 0, false},
	}
	for _, tc := range tests {
		got, ok := parseInt([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseInt(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// wantErr checks err against a table's expectation: "" means success,
// otherwise err must be a *ParseError naming the file.
func wantErr(t *testing.T, err error, file string, wantFail bool) {
	t.Helper()
	if !wantFail {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var pe *ParseError
	if !errors.As(err, &pe) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v, want *ParseError", err)
	}
	if pe.File != file {
		t.Errorf("ParseError.File = %q, want %q", pe.File, file)
	}
}

func TestParseCPUAcctStat(t *testing.T) {
	tests := []struct {
		name, in string
		want     CPUStats
		fail     bool
	}{
		{"real", "user 25\nsystem 59\n", CPUStats{UserNanos: 250_000_000, SystemNanos: 590_000_000}, false},
		{"missing system", "user 25\n", CPUStats{}, true},
		{"bad value", "user x\nsystem 1\n", CPUStats{}, true},
		{"three fields", "user 1 2\nsystem 1\n", CPUStats{}, true},
		{"empty", "", CPUStats{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got CPUStats
			err := parseCPUAcctStat([]byte(tc.in), &got)
			wantErr(t, err, "cpuacct.stat", tc.fail)
			if !tc.fail && !cmp.Equal(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParsePerCPU(t *testing.T) {
	tests := []struct {
		name, in string
		want     []uint64
		fail     bool
	}{
		{"real with trailing blank", "497888817 351150052 \n", []uint64{497888817, 351150052}, false},
		{"one cpu", "5\n", []uint64{5}, false},
		{"empty", "\n", nil, true},
		{"garbage", "1 x 3\n", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parsePerCPU([]byte(tc.in), nil)
			wantErr(t, err, "cpuacct.usage_percpu", tc.fail)
			if !tc.fail && !cmp.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseCPUStat(t *testing.T) {
	v1 := "nr_periods 19\nnr_throttled 16\nthrottled_time 790850333\nnr_bursts 2\nburst_time 5000\n"
	var got CPUStats
	if err := parseCPUStatV1([]byte(v1), &got); err != nil {
		t.Fatal(err)
	}
	if want := (CPUStats{Periods: 19, ThrottledPeriods: 16, ThrottledNanos: 790850333, Bursts: 2, BurstNanos: 5000}); !cmp.Equal(got, want) {
		t.Errorf("v1: got %+v, want %+v", got, want)
	}
	wantErr(t, parseCPUStatV1([]byte("nr_periods 1\n"), &got), "cpu.stat", true)

	v2 := "usage_usec 849038\nuser_usec 240000\nsystem_usec 609038\nnice_usec 0\ncore_sched.force_idle_usec 0\nnr_periods 19\nnr_throttled 16\nthrottled_usec 790850\nnr_bursts 0\nburst_usec 0\n"
	got = CPUStats{}
	if err := parseCPUStatV2([]byte(v2), &got); err != nil {
		t.Fatal(err)
	}
	if want := (CPUStats{UsageNanos: 849038000, UserNanos: 240000000, SystemNanos: 609038000, Periods: 19, ThrottledPeriods: 16, ThrottledNanos: 790850000}); !cmp.Equal(got, want) {
		t.Errorf("v2: got %+v, want %+v", got, want)
	}
	// Without the cpu controller only the three usage keys exist.
	got = CPUStats{}
	if err := parseCPUStatV2([]byte("usage_usec 1\nuser_usec 1\nsystem_usec 0\n"), &got); err != nil || got.UsageNanos != 1000 {
		t.Errorf("core-only cpu.stat: %+v, %v", got, err)
	}
	wantErr(t, parseCPUStatV2([]byte("usage_usec 1\n"), &got), "cpu.stat", true)
	wantErr(t, parseCPUStatV2([]byte("usage_usec -1\nuser_usec 1\nsystem_usec 1\n"), &got), "cpu.stat", true)
}

func TestParseCPULimits(t *testing.T) {
	tests := []struct {
		name, in string
		want     CPULimits
		fail     bool
	}{
		{"unlimited", "max 100000\n", CPULimits{QuotaMicros: -1, PeriodMicros: 100000}, false},
		{"half core", "50000 100000\n", CPULimits{QuotaMicros: 50000, PeriodMicros: 100000}, false},
		{"one field", "max\n", CPULimits{}, true},
		{"bad period", "max x\n", CPULimits{}, true},
		{"negative", "-5 100000\n", CPULimits{}, true},
		{"extra", "1 2 3\n", CPULimits{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got CPULimits
			err := parseCPUMax([]byte(tc.in), &got)
			wantErr(t, err, "cpu.max", tc.fail)
			if !tc.fail && got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	for in, want := range map[string]int64{"-1\n": -1, "50000\n": 50000} {
		if got, err := parseCPUQuotaV1([]byte(in)); err != nil || got != want {
			t.Errorf("parseCPUQuotaV1(%q) = %d, %v", in, got, err)
		}
	}
	if _, err := parseCPUQuotaV1([]byte("-2\n")); err == nil {
		t.Error("parseCPUQuotaV1(-2) succeeded")
	}
	// The kubelet maps shares 2 -> weight 1, 1024 -> 39, 262144 -> 10000.
	for w, s := range map[uint64]uint64{1: 2, 39: 1024, 10000: 262144} {
		if got := int64(weightToShares(w)); got < int64(s)-30 || got > int64(s)+30 {
			t.Errorf("weightToShares(%d) = %d, want about %d", w, got, s)
		}
	}
}

func TestParseMemoryStat(t *testing.T) {
	v1 := "cache 8491008\nrss 131072\nmapped_file 0\nswap 0\npgfault 94007\npgmajfault 2\ninactive_file 20480\nactive_file 81920\n" +
		"total_cache 8491008\ntotal_rss 131072\ntotal_shmem 8388608\ntotal_mapped_file 4096\ntotal_swap 0\ntotal_pgfault 94010\ntotal_pgmajfault 3\ntotal_inactive_file 20480\ntotal_active_file 81920\n"
	var m MemoryStats
	if err := parseMemoryStatV1([]byte(v1), &m); err != nil {
		t.Fatal(err)
	}
	want := MemoryStats{CacheBytes: 8491008, RSSBytes: 131072, ShmemBytes: 8388608, MappedFileBytes: 4096, HasSwap: true, HasPageFaults: true,
		PageFaults: 94007, MajorPageFaults: 2, HierarchicalPageFaults: 94010, HierarchicalMajorPageFaults: 3,
		InactiveFileBytes: 20480, ActiveFileBytes: 81920}
	if m != want {
		t.Errorf("v1:\n got %+v\nwant %+v", m, want)
	}
	wantErr(t, parseMemoryStatV1([]byte("anon 1\n"), &m), "memory.stat", true)

	v2 := "anon 131072\nfile 8491008\nfile_mapped 4096\nshmem 0\ninactive_file 20480\nactive_file 8470528\npgfault 94007\npgmajfault 2\n"
	m = MemoryStats{}
	if err := parseMemoryStatV2([]byte(v2), &m); err != nil {
		t.Fatal(err)
	}
	want = MemoryStats{RSSBytes: 131072, CacheBytes: 8491008, MappedFileBytes: 4096, InactiveFileBytes: 20480, ActiveFileBytes: 8470528, HasPageFaults: true,
		PageFaults: 94007, MajorPageFaults: 2, HierarchicalPageFaults: 94007, HierarchicalMajorPageFaults: 2}
	if m != want {
		t.Errorf("v2:\n got %+v\nwant %+v", m, want)
	}
	wantErr(t, parseMemoryStatV2([]byte("total_rss 1\n"), &m), "memory.stat", true)
	wantErr(t, parseMemoryStatV2([]byte("anon\n"), &m), "memory.stat", true)
}

func TestWorkingSet(t *testing.T) {
	tests := []struct {
		name                  string
		usage, inactive, want uint64
	}{
		{"usage minus inactive_file", 8962048, 20480, 8941568},
		{"floored at zero", 4096, 8192, 0},
		{"equal", 4096, 4096, 0},
		{"no inactive", 100, 0, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := MemoryStats{UsageBytes: tc.usage, InactiveFileBytes: tc.inactive}
			m.computeWorkingSet()
			if m.WorkingSetBytes != tc.want {
				t.Errorf("got %d, want %d", m.WorkingSetBytes, tc.want)
			}
		})
	}
}

func TestMemoryLimited(t *testing.T) {
	for limit, want := range map[uint64]bool{9223372036854771712: false, math.MaxUint64: false, 268435456: true, 0: false, 1 << 62: true} {
		m := MemoryStats{LimitBytes: limit}
		if m.Limited() != want {
			t.Errorf("Limited(%d) = %v, want %v", limit, !want, want)
		}
	}
}

func TestParseLimitAndPids(t *testing.T) {
	if v, unl, err := parseLimit("memory.max", []byte("max\n")); err != nil || !unl || v != math.MaxUint64 {
		t.Errorf("max: %d %v %v", v, unl, err)
	}
	if v, unl, err := parseLimit("memory.max", []byte("134217728\n")); err != nil || unl || v != 134217728 {
		t.Errorf("number: %d %v %v", v, unl, err)
	}
	wantErr(t, func() error { _, _, err := parseLimit("memory.max", []byte("maximum\n")); return err }(), "memory.max", true)
	if v, err := parsePidsMax([]byte("max\n")); err != nil || v != 0 {
		t.Errorf("pids.max max: %d %v", v, err)
	}
	if v, err := parsePidsMax([]byte("1024\n")); err != nil || v != 1024 {
		t.Errorf("pids.max 1024: %d %v", v, err)
	}
	wantErr(t, func() error { _, err := parseSingleUint("pids.current", []byte("")); return err }(), "pids.current", true)
}

func TestParseMemoryEvents(t *testing.T) {
	var e MemoryEvents
	if err := parseMemoryEvents([]byte("low 1\nhigh 2\nmax 3\noom 4\noom_kill 5\noom_group_kill 6\n"), &e); err != nil {
		t.Fatal(err)
	}
	if e != (MemoryEvents{1, 2, 3, 4, 5, 6}) {
		t.Errorf("got %+v", e)
	}
	wantErr(t, parseMemoryEvents([]byte("low 1\n"), &e), "memory.events", true)
}

func TestParseBlkioV1(t *testing.T) {
	const bytesFile = "blkio.throttle.io_service_bytes_recursive"
	const real = "254:0 Read 4194304\n254:0 Write 4194304\n254:0 Sync 12582912\n254:0 Async 0\n254:0 Discard 4194304\n254:0 Total 12582912\nTotal 12582912\n"
	var s IOStats
	if err := parseBlkioV1(bytesFile, []byte(real), true, &s); err != nil {
		t.Fatal(err)
	}
	if err := parseBlkioV1("blkio.throttle.io_serviced_recursive", []byte("254:0 Read 8\n254:0 Write 8\n254:0 Discard 2\n8:0 Read 1\nTotal 19\n"), false, &s); err != nil {
		t.Fatal(err)
	}
	s.sum()
	want := IOStats{Devices: []IODevice{
		{Major: 254, Minor: 0, ReadBytes: 4194304, WriteBytes: 4194304, ReadOps: 8, WriteOps: 8, DiscardBytes: 4194304, DiscardOps: 2},
		{Major: 8, Minor: 0, ReadOps: 1},
	}, ReadBytes: 4194304, WriteBytes: 4194304, ReadOps: 9, WriteOps: 8}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for name, in := range map[string]string{
		"empty cgroup": "Total 0\n",
	} {
		var s IOStats
		if err := parseBlkioV1(bytesFile, []byte(in), true, &s); err != nil || len(s.Devices) != 0 {
			t.Errorf("%s: %v %+v", name, err, s)
		}
	}
	for name, in := range map[string]string{
		"bad device":  "254 Read 1\n",
		"bad op":      "254:0 Peek 1\n",
		"bad value":   "254:0 Read x\n",
		"short":       "254:0 Read\n",
		"bad total":   "Total x\n",
		"extra field": "254:0 Read 1 2\n",
	} {
		t.Run(name, func(t *testing.T) {
			var s IOStats
			wantErr(t, parseBlkioV1(bytesFile, []byte(in), true, &s), bytesFile, true)
		})
	}
}

func TestParseIOStatV2(t *testing.T) {
	in := "254:0 rbytes=1459200 wbytes=314773504 rios=192 wios=353 dbytes=0 dios=0\n8:16 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0 cost.vrate=100.00 cost.usage=1\n"
	var s IOStats
	if err := parseIOStatV2([]byte(in), &s); err != nil {
		t.Fatal(err)
	}
	want := IOStats{Devices: []IODevice{
		{Major: 254, ReadBytes: 1459200, WriteBytes: 314773504, ReadOps: 192, WriteOps: 353},
		{Major: 8, Minor: 16, ReadBytes: 10, WriteBytes: 20, ReadOps: 1, WriteOps: 2},
	}, ReadBytes: 1459210, WriteBytes: 314773524, ReadOps: 193, WriteOps: 355}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err := parseIOStatV2(nil, &s); err != nil || len(s.Devices) != 0 || s.ReadBytes != 0 {
		t.Errorf("empty io.stat: %v %+v", err, s)
	}
	for name, in := range map[string]string{
		"no device":  "rbytes=1\n",
		"no equals":  "8:0 rbytes\n",
		"bad number": "8:0 rbytes=-1\n",
		"empty key":  "8:0 =1\n",
	} {
		t.Run(name, func(t *testing.T) {
			wantErr(t, parseIOStatV2([]byte(in), &s), "io.stat", true)
		})
	}
}

func TestParsePressure(t *testing.T) {
	var p Pressure
	in := "some avg10=7.17 avg60=22.01 avg300=12.88 total=52214788\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
	if err := parsePressure("cpu.pressure", []byte(in), &p); err != nil {
		t.Fatal(err)
	}
	want := Pressure{Some: PressureLine{Avg10: 7.17, Avg60: 22.01, Avg300: 12.88, TotalMicros: 52214788}}
	if p != want {
		t.Errorf("got %+v, want %+v", p, want)
	}
	p = Pressure{}
	if err := parsePressure("cpu.pressure", []byte("some avg10=0.50 avg60=0.00 avg300=0.00 total=9\n"), &p); err != nil || p.Some.TotalMicros != 9 {
		t.Errorf("some-only (kernel < 5.13): %+v %v", p, err)
	}
	for name, in := range map[string]string{
		"no some":     "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
		"bad kind":    "half avg10=0.00 avg60=0.00 avg300=0.00 total=0\n",
		"missing key": "some avg10=0.00 avg60=0.00 total=0\n",
		"bad float":   "some avg10=x avg60=0.00 avg300=0.00 total=0\n",
		"no equals":   "some avg10 avg60=0.00 avg300=0.00 total=0\n",
	} {
		t.Run(name, func(t *testing.T) {
			wantErr(t, parsePressure("io.pressure", []byte(in), &p), "io.pressure", true)
		})
	}
}

func TestParseDecimal(t *testing.T) {
	for in, want := range map[string]float64{"0.00": 0, "7.17": 7.17, "100.00": 100, "12": 12, "0.5": 0.5} {
		if got, ok := parseDecimal([]byte(in)); !ok || math.Abs(got-want) > 1e-9 {
			t.Errorf("parseDecimal(%q) = %v, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", ".", "1.", ".5", "1.2.3", "1.x"} {
		if _, ok := parseDecimal([]byte(in)); ok {
			t.Errorf("parseDecimal(%q) succeeded", in)
		}
	}
}

const netDevReal = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0
  eth0: 65458119    3490    0    0    0     0          0         0   307783    2923    0    0    0     0       0          0
`

func TestParseNetDev(t *testing.T) {
	var n NetworkStats
	if err := parseNetDev([]byte(netDevReal), &n); err != nil {
		t.Fatal(err)
	}
	want := []InterfaceStats{{Name: "eth0", RxBytes: 65458119, RxPackets: 3490, TxBytes: 307783, TxPackets: 2923}}
	if diff := cmp.Diff(want, n.Interfaces); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	header := "Inter-|\n face |\n"
	for name, in := range map[string]string{
		"no header":     "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
		"short":         header + "eth0: 1 2 3\n",
		"long":          header + "eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n",
		"no colon":      header + "eth0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
		"bad counter":   header + "eth0: x 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
		"empty name":    header + ": 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
		"negative":      header + "eth0: -1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
		"overflow":      header + "eth0: 18446744073709551616 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n",
		"header only 1": "garbage\n",
	} {
		t.Run(name, func(t *testing.T) {
			wantErr(t, parseNetDev([]byte(in), &n), "net/dev", true)
		})
	}
}

func TestParseNetDevReusesNames(t *testing.T) {
	var n NetworkStats
	if err := parseNetDev([]byte(netDevReal), &n); err != nil {
		t.Fatal(err)
	}
	in := []byte(netDevReal)
	allocs := testing.AllocsPerRun(100, func() {
		if err := parseNetDev(in, &n); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("steady-state parseNetDev allocates %v times, want 0", allocs)
	}
}

func TestParseMeminfo(t *testing.T) {
	in := "MemTotal:       24684092 kB\nMemFree:        23290220 kB\nMemAvailable:   24278976 kB\nCached:          1121080 kB\nActive(file):     124896 kB\nInactive(file):   149932 kB\nHugePages_Total:       0\nSwapTotal: 0 kB\n"
	var mi Meminfo
	if err := parseMeminfo([]byte(in), &mi); err != nil {
		t.Fatal(err)
	}
	want := Meminfo{MemTotalBytes: 24684092 * 1024, MemFreeBytes: 23290220 * 1024, MemAvailableBytes: 24278976 * 1024, CachedBytes: 1121080 * 1024,
		ActiveFileBytes: 124896 * 1024, InactiveFileBytes: 149932 * 1024}
	if mi != want {
		t.Errorf("got %+v, want %+v", mi, want)
	}
	var m MemoryStats
	memoryFromMeminfo(&mi, &m)
	if m.UsageBytes != (24684092-23290220)*1024 || m.WorkingSetBytes != m.UsageBytes-149932*1024 || m.Limited() {
		t.Errorf("memoryFromMeminfo: %+v", m)
	}
	for name, in := range map[string]string{
		"no total":     "MemFree: 1 kB\n",
		"no colon":     "MemTotal 1 kB\n",
		"bad unit":     "MemTotal: 1 MB\n",
		"bad value":    "MemTotal: x kB\n",
		"overflow":     "MemTotal: 18446744073709551615 kB\n",
		"trailing":     "MemTotal: 1 kB x\n",
		"bare colon":   ": 1 kB\n",
		"empty number": "MemTotal:\n",
	} {
		t.Run(name, func(t *testing.T) {
			wantErr(t, parseMeminfo([]byte(in), &mi), "meminfo", true)
		})
	}
}

func TestParsePartitions(t *testing.T) {
	got, err := parsePartitions([]byte("major minor  #blocks  name\n\n 254        0  268435456 vda\n   8        1     524288 sda1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(DeviceNames{{254, 0}: "/dev/vda", {8, 1}: "/dev/sda1"}, got); diff != "" {
		t.Error(diff)
	}
	for name, in := range map[string]string{
		"no header": "254 0 1 vda\n",
		"short":     "major minor\n254 0 1\n",
		"bad major": "major minor\nx 0 1 vda\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parsePartitions([]byte(in))
			wantErr(t, err, "partitions", true)
		})
	}
}

func TestParseMisc(t *testing.T) {
	if got := parseControllers([]byte("cpuset cpu io memory pids\n")); !cmp.Equal(got, []string{"cpuset", "cpu", "io", "memory", "pids"}) {
		t.Errorf("parseControllers = %v", got)
	}
	if got := parseControllers([]byte("\n")); got != nil {
		t.Errorf("parseControllers(empty) = %v", got)
	}
	if got, err := parsePidList("cgroup.procs", []byte("1\n4242\n\n")); err != nil || !cmp.Equal(got, []int{1, 4242}) {
		t.Errorf("parsePidList = %v, %v", got, err)
	}
	_, err := parsePidList("cgroup.procs", []byte("1\nabc\n"))
	wantErr(t, err, "cgroup.procs", true)
	_, err = parsePidList("cgroup.procs", []byte("0\n"))
	wantErr(t, err, "cgroup.procs", true)
	if n, bt, err := parseProcStat([]byte("cpu  1 2 3\ncpu0 1 2 3\ncpu1 1 2 3\nintr 5\nbtime 1764000000\n")); err != nil || n != 2 || bt != 1764000000 {
		t.Errorf("parseProcStat = %d, %d, %v", n, bt, err)
	}
	_, _, err = parseProcStat([]byte("intr 5\n"))
	wantErr(t, err, "stat", true)
	_, _, err = parseProcStat([]byte("cpu 1\ncpu0 1\nbtime x\n"))
	wantErr(t, err, "stat", true)
}

func TestMaskString(t *testing.T) {
	if got := (MaskCPU | MaskMemory).String(); got != "cpu|memory" {
		t.Errorf("got %q", got)
	}
	if got := Mask(0).String(); got != "none" {
		t.Errorf("got %q", got)
	}
	if !MaskDefault.Has(MaskCPU|MaskMemory) || MaskDefault.Has(MaskPSI) {
		t.Error("MaskDefault.Has wrong")
	}
}

func TestParseCPUModel(t *testing.T) {
	tests := map[string]string{
		"processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\nprocessor\t: 1\nmodel name\t: other\n": "AMD EPYC",
		"processor\t: 0\nBogoMIPS\t: 50.00\n": "",
		"model name":                          "",
		"model name\t:  \n":                   "",
	}
	for in, want := range tests {
		if got := parseCPUModel([]byte(in)); got != want {
			t.Errorf("parseCPUModel(%q) = %q, want %q", in, got, want)
		}
	}
}
