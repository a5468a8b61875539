package stats

// userHZ is the kernel's USER_HZ, the unit of cpuacct.stat. It is 100 on
// every Linux architecture Kubernetes runs on (runc assumes the same).
const userHZ = 100

// CPUStats holds cumulative CPU figures of a cgroup. All times are in
// nanoseconds whatever unit the kernel file used.
type CPUStats struct {
	// UsageNanos is total CPU time (v1 cpuacct.usage; v2 cpu.stat usage_usec).
	UsageNanos uint64 `json:"usageNanos"`
	// UserNanos is user-mode CPU time (v1 cpuacct.stat user, USER_HZ
	// precision; v2 cpu.stat user_usec).
	UserNanos uint64 `json:"userNanos"`
	// SystemNanos is kernel-mode CPU time (v1 cpuacct.stat system; v2
	// cpu.stat system_usec).
	SystemNanos uint64 `json:"systemNanos"`
	// PerCPUNanos is usage per possible CPU (v1 cpuacct.usage_percpu), read
	// only with MaskCPUPerCPU; nil on v2.
	PerCPUNanos []uint64 `json:"perCPUNanos,omitempty"`
	// Periods is the number of elapsed CFS enforcement periods (nr_periods).
	Periods uint64 `json:"periods"`
	// ThrottledPeriods is the number of periods throttled (nr_throttled).
	ThrottledPeriods uint64 `json:"throttledPeriods"`
	// ThrottledNanos is the total time throttled (v1 throttled_time; v2
	// throttled_usec).
	ThrottledNanos uint64 `json:"throttledNanos"`
	// Bursts is the number of periods in which burst was used (nr_bursts).
	Bursts uint64 `json:"bursts"`
	// BurstNanos is the total burst time (v1 burst_time; v2 burst_usec).
	BurstNanos uint64 `json:"burstNanos"`
}

// CPULimits holds the CPU bandwidth configuration of a cgroup, read with
// MaskLimits.
type CPULimits struct {
	// QuotaMicros is the CFS quota per period in microseconds, -1 when
	// unlimited (v1 cpu.cfs_quota_us; v2 first field of cpu.max).
	QuotaMicros int64 `json:"quotaMicros"`
	// PeriodMicros is the CFS period in microseconds.
	PeriodMicros uint64 `json:"periodMicros"`
	// Shares is the v1 cpu.shares value, or on v2 the weight converted back to
	// shares with the inverse of the formula runc and the kubelet use
	// (weight = 1 + (shares-2)*9999/262142).
	Shares uint64 `json:"shares"`
}

// parseCPUAcctStat parses v1 cpuacct.stat ("user N\nsystem N\n", USER_HZ).
func parseCPUAcctStat(b []byte, out *CPUStats) error {
	var seen int
	err := keyValueLines("cpuacct.stat", b, func(key []byte, v uint64) {
		switch string(key) {
		case "user":
			out.UserNanos = v * (1e9 / userHZ)
			seen |= 1
		case "system":
			out.SystemNanos = v * (1e9 / userHZ)
			seen |= 2
		}
	})
	if err != nil {
		return err
	}
	if seen != 3 {
		return parseErr("cpuacct.stat", 0, "missing user or system line")
	}
	return nil
}

// parsePerCPU parses v1 cpuacct.usage_percpu, a blank-separated list of
// nanosecond counters, appending to dst[:0].
func parsePerCPU(b []byte, dst []uint64) ([]uint64, error) {
	dst = dst[:0]
	rest := b
	for {
		var f []byte
		f, rest = nextField(rest)
		if len(f) == 0 {
			break
		}
		v, ok := parseUint(f)
		if !ok {
			return dst, parseErr("cpuacct.usage_percpu", 1, "field %d is not an unsigned integer: %q", len(dst)+1, clip(f))
		}
		dst = append(dst, v)
	}
	if len(dst) == 0 {
		return dst, parseErr("cpuacct.usage_percpu", 1, "no values")
	}
	return dst, nil
}

// parseCPUStatV1 parses v1 cpu.stat (nr_periods, nr_throttled,
// throttled_time and, since 5.14, nr_bursts and burst_time in nanoseconds).
func parseCPUStatV1(b []byte, out *CPUStats) error {
	seen := 0
	err := keyValueLines("cpu.stat", b, func(key []byte, v uint64) {
		switch string(key) {
		case "nr_periods":
			out.Periods = v
			seen++
		case "nr_throttled":
			out.ThrottledPeriods = v
			seen++
		case "throttled_time":
			out.ThrottledNanos = v
			seen++
		case "nr_bursts":
			out.Bursts = v
		case "burst_time":
			out.BurstNanos = v
		}
	})
	if err != nil {
		return err
	}
	if seen != 3 {
		return parseErr("cpu.stat", 0, "missing nr_periods, nr_throttled or throttled_time")
	}
	return nil
}

// parseCPUStatV2 parses v2 cpu.stat. usage_usec, user_usec and system_usec
// are always present; the throttling keys only when the cpu controller is
// enabled for the cgroup.
func parseCPUStatV2(b []byte, out *CPUStats) error {
	seen := 0
	err := keyValueLines("cpu.stat", b, func(key []byte, v uint64) {
		switch string(key) {
		case "usage_usec":
			out.UsageNanos = v * 1000
			seen++
		case "user_usec":
			out.UserNanos = v * 1000
			seen++
		case "system_usec":
			out.SystemNanos = v * 1000
			seen++
		case "nr_periods":
			out.Periods = v
		case "nr_throttled":
			out.ThrottledPeriods = v
		case "throttled_usec":
			out.ThrottledNanos = v * 1000
		case "nr_bursts":
			out.Bursts = v
		case "burst_usec":
			out.BurstNanos = v * 1000
		}
	})
	if err != nil {
		return err
	}
	if seen != 3 {
		return parseErr("cpu.stat", 0, "missing usage_usec, user_usec or system_usec")
	}
	return nil
}

// parseCPUMax parses v2 cpu.max ("max 100000" or "50000 100000").
func parseCPUMax(b []byte, out *CPULimits) error {
	q, rest := nextField(b)
	p, rest := nextField(rest)
	if len(q) == 0 || len(p) == 0 || len(trimSpace(rest)) != 0 {
		return parseErr("cpu.max", 1, "want \"$MAX $PERIOD\", got %q", clip(b))
	}
	if string(q) == "max" {
		out.QuotaMicros = -1
	} else {
		v, ok := parseUint(q)
		if !ok || v > 1<<63-1 {
			return parseErr("cpu.max", 1, "quota is neither \"max\" nor an integer: %q", clip(q))
		}
		out.QuotaMicros = int64(v)
	}
	v, ok := parseUint(p)
	if !ok {
		return parseErr("cpu.max", 1, "period is not an unsigned integer: %q", clip(p))
	}
	out.PeriodMicros = v
	return nil
}

// parseCPUQuotaV1 parses v1 cpu.cfs_quota_us (an integer, -1 for unlimited).
func parseCPUQuotaV1(b []byte) (int64, error) {
	v, ok := parseInt(trimSpace(b))
	if !ok || v < -1 {
		return 0, parseErr("cpu.cfs_quota_us", 1, "want an integer >= -1, got %q", clip(b))
	}
	return v, nil
}

// weightToShares inverts the kubelet's shares-to-weight conversion
// (weight = 1 + ((shares-2)*9999)/262142), rounding to the nearest share.
func weightToShares(weight uint64) uint64 {
	if weight == 0 {
		return 0
	}
	return 2 + ((weight-1)*262142+9999/2)/9999
}
