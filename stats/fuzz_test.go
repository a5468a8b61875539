package stats

import (
	"errors"
	"strconv"
	"testing"
)

// Fuzz tests: every parser of kernel files must return either a value or a
// *ParseError, never panic. With plain `go test` they run over the seeds.

func checkParseErr(t *testing.T, err error) {
	t.Helper()
	var pe *ParseError
	if err != nil && (!errors.As(err, &pe) || !errors.Is(err, ErrMalformed)) {
		t.Fatalf("error is not a *ParseError: %v", err)
	}
}

func FuzzParseUint(f *testing.F) {
	for _, s := range []string{"0", "18446744073709551615", "18446744073709551616", "-1", "", "007"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := parseUint([]byte(s))
		want, err := strconv.ParseUint(s, 10, 64)
		if ok != (err == nil) || (ok && v != want) {
			t.Fatalf("parseUint(%q) = %d, %v; strconv says %d, %v", s, v, ok, want, err)
		}
	})
}

func FuzzParseCPU(f *testing.F) {
	f.Add([]byte("user 25\nsystem 59\n"))
	f.Add([]byte("497888817 351150052 \n"))
	f.Add([]byte("nr_periods 19\nnr_throttled 16\nthrottled_time 790850333\nnr_bursts 0\nburst_time 0\n"))
	f.Add([]byte("usage_usec 1\nuser_usec 1\nsystem_usec 0\nnr_periods 1\n"))
	f.Add([]byte("max 100000\n"))
	f.Add([]byte("-1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c CPUStats
		checkParseErr(t, parseCPUAcctStat(b, &c))
		_, err := parsePerCPU(b, nil)
		checkParseErr(t, err)
		checkParseErr(t, parseCPUStatV1(b, &c))
		checkParseErr(t, parseCPUStatV2(b, &c))
		var l CPULimits
		checkParseErr(t, parseCPUMax(b, &l))
		q, err := parseCPUQuotaV1(b)
		checkParseErr(t, err)
		if err == nil && q < -1 {
			t.Fatalf("quota %d < -1 accepted", q)
		}
	})
}

func FuzzParseMemory(f *testing.F) {
	f.Add([]byte("cache 1\nrss 2\ntotal_rss 2\ntotal_inactive_file 5\n"))
	f.Add([]byte("anon 131072\nfile 8491008\ninactive_file 20480\n"))
	f.Add([]byte("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n"))
	f.Add([]byte("max\n"))
	f.Add([]byte("9223372036854771712\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var m MemoryStats
		checkParseErr(t, parseMemoryStatV1(b, &m))
		checkParseErr(t, parseMemoryStatV2(b, &m))
		m.UsageBytes = 1 << 20
		m.computeWorkingSet()
		if m.WorkingSetBytes > m.UsageBytes {
			t.Fatalf("working set %d above usage %d", m.WorkingSetBytes, m.UsageBytes)
		}
		checkParseErr(t, parseMemoryEvents(b, &m.Events))
		_, _, err := parseLimit("memory.max", b)
		checkParseErr(t, err)
		_, err = parseSingleUint("memory.current", b)
		checkParseErr(t, err)
		_, err = parsePidsMax(b)
		checkParseErr(t, err)
	})
}

func FuzzParseIO(f *testing.F) {
	f.Add([]byte("254:0 Read 4194304\n254:0 Write 4194304\n254:0 Total 8\nTotal 8\n"))
	f.Add([]byte("254:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n"))
	f.Add([]byte("Total 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s IOStats
		checkParseErr(t, parseBlkioV1("blkio.throttle.io_service_bytes_recursive", b, true, &s))
		s = IOStats{}
		err := parseIOStatV2(b, &s)
		checkParseErr(t, err)
		if err == nil {
			var sum uint64
			for _, d := range s.Devices {
				sum += d.ReadBytes
			}
			if sum != s.ReadBytes {
				t.Fatalf("ReadBytes %d != sum of devices %d", s.ReadBytes, sum)
			}
		}
	})
}

func FuzzParsePressure(f *testing.F) {
	f.Add([]byte("some avg10=7.17 avg60=22.01 avg300=12.88 total=52214788\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"))
	f.Add([]byte("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Pressure
		checkParseErr(t, parsePressure("cpu.pressure", b, &p))
		if v, ok := parseDecimal(b); ok && v < 0 {
			t.Fatalf("negative decimal %v", v)
		}
	})
}

func FuzzParseNetDev(f *testing.F) {
	f.Add([]byte(netDevReal))
	f.Add([]byte("Inter-|\n face |\n  eth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var n NetworkStats
		err := parseNetDev(b, &n)
		checkParseErr(t, err)
		for _, i := range n.Interfaces {
			if i.Name == "" || i.Name == "lo" {
				t.Fatalf("bad interface name %q", i.Name)
			}
		}
	})
}

func FuzzParseProcFiles(f *testing.F) {
	f.Add([]byte("MemTotal:       24684092 kB\nMemFree:        23290220 kB\nHugePages_Total:       0\n"))
	f.Add([]byte("major minor  #blocks  name\n\n 254        0  268435456 vda\n"))
	f.Add([]byte("cpu  1 2 3\ncpu0 1 2 3\n"))
	f.Add([]byte("1\n4242\n"))
	f.Add([]byte("cpuset cpu io memory pids\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var mi Meminfo
		if err := parseMeminfo(b, &mi); err == nil {
			var m MemoryStats
			memoryFromMeminfo(&mi, &m)
			if m.UsageBytes > mi.MemTotalBytes {
				t.Fatalf("usage %d above MemTotal %d", m.UsageBytes, mi.MemTotalBytes)
			}
		} else {
			checkParseErr(t, err)
		}
		_, err := parsePartitions(b)
		checkParseErr(t, err)
		_, _, err = parseProcStat(b)
		checkParseErr(t, err)
		_, err = parsePidList("cgroup.procs", b)
		checkParseErr(t, err)
		if m := parseCPUModel(b); len(m) > len(b) {
			t.Fatalf("model %q longer than input", m)
		}
		for _, c := range parseControllers(b) {
			if c == "" {
				t.Fatal("empty controller name")
			}
		}
	})
}
