package stats

// unlimitedMemoryThreshold is the value above which a memory limit means "no
// limit": cgroup v1 reports PAGE_COUNTER_MAX pages (9223372036854771712 on 4
// KiB pages) and this package maps v2 "max" to math.MaxUint64. The kubelet
// uses the same threshold (1<<62) in its Summary provider.
const unlimitedMemoryThreshold = 1 << 62

// MemoryStats holds the memory figures of a cgroup.
//
// WorkingSetBytes is computed exactly as cAdvisor does
// (container/libcontainer/handler.go, setMemoryStats):
//
//	WorkingSetBytes = UsageBytes - InactiveFileBytes, floored at 0
//
// where InactiveFileBytes is total_inactive_file of memory.stat on cgroup v1
// and inactive_file on cgroup v2. Both inputs are exposed as fields too.
type MemoryStats struct {
	// UsageBytes is current usage (v1 memory.usage_in_bytes; v2
	// memory.current). It includes page cache.
	UsageBytes uint64 `json:"usageBytes"`
	// LimitBytes is the hard limit (v1 memory.limit_in_bytes; v2 memory.max
	// with "max" mapped to math.MaxUint64), read with MaskLimits; 0 when not
	// read. See Limited.
	LimitBytes uint64 `json:"limitBytes"`
	// MaxUsageBytes is the peak usage (v1 memory.max_usage_in_bytes; v2
	// memory.peak, kernel 5.19+). Valid only when HasMaxUsage.
	MaxUsageBytes uint64 `json:"maxUsageBytes"`
	// HasMaxUsage reports whether MaxUsageBytes was read.
	HasMaxUsage bool `json:"hasMaxUsage"`
	// WorkingSetBytes is UsageBytes - InactiveFileBytes floored at 0.
	WorkingSetBytes uint64 `json:"workingSetBytes"`
	// InactiveFileBytes is v1 total_inactive_file or v2 inactive_file.
	InactiveFileBytes uint64 `json:"inactiveFileBytes"`
	// ActiveFileBytes is v1 total_active_file or v2 active_file.
	ActiveFileBytes uint64 `json:"activeFileBytes"`
	// RSSBytes is anonymous memory (v1 total_rss; v2 anon).
	RSSBytes uint64 `json:"rssBytes"`
	// CacheBytes is page cache (v1 total_cache; v2 file).
	CacheBytes uint64 `json:"cacheBytes"`
	// MappedFileBytes is memory-mapped file pages (v1 total_mapped_file; v2
	// file_mapped).
	MappedFileBytes uint64 `json:"mappedFileBytes"`
	// ShmemBytes is shared memory and tmpfs (v1 total_shmem; v2 shmem).
	ShmemBytes uint64 `json:"shmemBytes"`
	// SwapBytes is swap in use (v1 total_swap of memory.stat, as cAdvisor;
	// v2 memory.swap.current). Valid only when HasSwap.
	SwapBytes uint64 `json:"swapBytes"`
	// HasSwap reports whether the kernel accounts swap for this cgroup.
	HasSwap bool `json:"hasSwap"`
	// PageFaults is the pgfault counter of this cgroup (v1 pgfault; v2
	// pgfault, which is hierarchical).
	PageFaults uint64 `json:"pageFaults"`
	// MajorPageFaults is the pgmajfault counter of this cgroup.
	MajorPageFaults uint64 `json:"majorPageFaults"`
	// HasPageFaults is false when the fault counters are unknown (the v2
	// root cgroup, whose figures come from /proc/meminfo).
	HasPageFaults bool `json:"hasPageFaults"`
	// HierarchicalPageFaults counts this cgroup and its descendants (v1
	// total_pgfault; v2 pgfault).
	HierarchicalPageFaults uint64 `json:"hierarchicalPageFaults"`
	// HierarchicalMajorPageFaults is v1 total_pgmajfault or v2 pgmajfault.
	HierarchicalMajorPageFaults uint64 `json:"hierarchicalMajorPageFaults"`
	// Failcnt is the number of times usage hit the limit (v1 memory.failcnt;
	// on v2 the "max" count of memory.events, the closest equivalent).
	Failcnt uint64 `json:"failcnt"`
	// Events holds v2 memory.events (valid when HasEvents); v1 has no
	// equivalent file.
	Events MemoryEvents `json:"events"`
	// HasEvents reports whether Events was read (cgroup v2, not the root).
	HasEvents bool `json:"hasEvents"`
}

// MemoryEvents is cgroup v2 memory.events.
type MemoryEvents struct {
	Low          uint64 `json:"low"`
	High         uint64 `json:"high"`
	Max          uint64 `json:"max"`
	OOM          uint64 `json:"oom"`
	OOMKill      uint64 `json:"oomKill"`
	OOMGroupKill uint64 `json:"oomGroupKill"`
}

// Limited reports whether the cgroup has a known memory limit (LimitBytes
// is set and below the 1<<62 threshold the kubelet uses).
func (m *MemoryStats) Limited() bool {
	return m.LimitBytes != 0 && m.LimitBytes <= unlimitedMemoryThreshold
}

// computeWorkingSet applies cAdvisor's formula.
func (m *MemoryStats) computeWorkingSet() {
	if m.UsageBytes < m.InactiveFileBytes {
		m.WorkingSetBytes = 0
	} else {
		m.WorkingSetBytes = m.UsageBytes - m.InactiveFileBytes
	}
}

// parseMemoryStatV1 parses v1 memory.stat, using the hierarchical total_*
// keys as cAdvisor does when use_hierarchy is on (always, since kernel 5.x).
func parseMemoryStatV1(b []byte, out *MemoryStats) error {
	found := false
	err := keyValueLines("memory.stat", b, func(key []byte, v uint64) {
		switch string(key) {
		case "total_rss":
			out.RSSBytes = v
			found = true
		case "total_cache":
			out.CacheBytes = v
		case "total_mapped_file":
			out.MappedFileBytes = v
		case "total_shmem":
			out.ShmemBytes = v
		case "total_swap":
			out.SwapBytes = v
			out.HasSwap = true
		case "total_inactive_file":
			out.InactiveFileBytes = v
		case "total_active_file":
			out.ActiveFileBytes = v
		case "pgfault":
			out.PageFaults = v
			out.HasPageFaults = true
		case "pgmajfault":
			out.MajorPageFaults = v
		case "total_pgfault":
			out.HierarchicalPageFaults = v
		case "total_pgmajfault":
			out.HierarchicalMajorPageFaults = v
		}
	})
	if err != nil {
		return err
	}
	if !found {
		return parseErr("memory.stat", 0, "no total_rss key: not a cgroup v1 memory.stat")
	}
	return nil
}

// parseMemoryStatV2 parses v2 memory.stat.
func parseMemoryStatV2(b []byte, out *MemoryStats) error {
	found := false
	err := keyValueLines("memory.stat", b, func(key []byte, v uint64) {
		switch string(key) {
		case "anon":
			out.RSSBytes = v
			found = true
		case "file":
			out.CacheBytes = v
		case "file_mapped":
			out.MappedFileBytes = v
		case "shmem":
			out.ShmemBytes = v
		case "inactive_file":
			out.InactiveFileBytes = v
		case "active_file":
			out.ActiveFileBytes = v
		case "pgfault":
			out.PageFaults = v
			out.HierarchicalPageFaults = v
			out.HasPageFaults = true
		case "pgmajfault":
			out.MajorPageFaults = v
			out.HierarchicalMajorPageFaults = v
		}
	})
	if err != nil {
		return err
	}
	if !found {
		return parseErr("memory.stat", 0, "no anon key: not a cgroup v2 memory.stat")
	}
	return nil
}

// parseMemoryEvents parses v2 memory.events.
func parseMemoryEvents(b []byte, out *MemoryEvents) error {
	found := false
	err := keyValueLines("memory.events", b, func(key []byte, v uint64) {
		switch string(key) {
		case "low":
			out.Low = v
		case "high":
			out.High = v
		case "max":
			out.Max = v
			found = true
		case "oom":
			out.OOM = v
		case "oom_kill":
			out.OOMKill = v
		case "oom_group_kill":
			out.OOMGroupKill = v
		}
	})
	if err != nil {
		return err
	}
	if !found {
		return parseErr("memory.events", 0, "no max key")
	}
	return nil
}
