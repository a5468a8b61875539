package stats

// Meminfo holds the /proc/meminfo fields this package uses, in bytes.
type Meminfo struct {
	MemTotalBytes     uint64 `json:"memTotalBytes"`
	MemFreeBytes      uint64 `json:"memFreeBytes"`
	MemAvailableBytes uint64 `json:"memAvailableBytes"`
	CachedBytes       uint64 `json:"cachedBytes"`
	ActiveAnonBytes   uint64 `json:"activeAnonBytes"`
	InactiveAnonBytes uint64 `json:"inactiveAnonBytes"`
	ActiveFileBytes   uint64 `json:"activeFileBytes"`
	InactiveFileBytes uint64 `json:"inactiveFileBytes"`
	MappedBytes       uint64 `json:"mappedBytes"`
	ShmemBytes        uint64 `json:"shmemBytes"`
	SwapTotalBytes    uint64 `json:"swapTotalBytes"`
	SwapFreeBytes     uint64 `json:"swapFreeBytes"`
}

// parseMeminfo parses /proc/meminfo ("Key:   123 kB" lines; a few keys such
// as HugePages_Total have no unit).
func parseMeminfo(b []byte, out *Meminfo) error {
	const file = "meminfo"
	found := false
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b = nextLine(b)
		line = trimSpace(line)
		if len(line) == 0 {
			continue
		}
		key, rest := nextField(line)
		if len(key) < 2 || key[len(key)-1] != ':' {
			return parseErr(file, n, "want \"Key: value [kB]\", got %q", clip(line))
		}
		key = key[:len(key)-1]
		val, rest := nextField(rest)
		unit, rest := nextField(rest)
		if len(trimSpace(rest)) != 0 {
			return parseErr(file, n, "trailing data in %q", clip(line))
		}
		v, ok := parseUint(val)
		if !ok {
			return parseErr(file, n, "value of %s is not an unsigned integer: %q", key, clip(val))
		}
		switch string(unit) {
		case "kB":
			if v > (1<<64-1)/1024 {
				return parseErr(file, n, "value of %s overflows", key)
			}
			v *= 1024
		case "":
		default:
			return parseErr(file, n, "unknown unit %q", clip(unit))
		}
		switch string(key) {
		case "MemTotal":
			out.MemTotalBytes = v
			found = true
		case "MemFree":
			out.MemFreeBytes = v
		case "MemAvailable":
			out.MemAvailableBytes = v
		case "Cached":
			out.CachedBytes = v
		case "Active(anon)":
			out.ActiveAnonBytes = v
		case "Inactive(anon)":
			out.InactiveAnonBytes = v
		case "Active(file)":
			out.ActiveFileBytes = v
		case "Inactive(file)":
			out.InactiveFileBytes = v
		case "Mapped":
			out.MappedBytes = v
		case "Shmem":
			out.ShmemBytes = v
		case "SwapTotal":
			out.SwapTotalBytes = v
		case "SwapFree":
			out.SwapFreeBytes = v
		}
	}
	if !found {
		return parseErr(file, 0, "no MemTotal")
	}
	return nil
}

// memoryFromMeminfo fills the memory figures of a cgroup v2 root, which has
// no memory.current, the way runc does (libcontainer/cgroups/fs2,
// statsFromMeminfo): usage = MemTotal - MemFree, no limit.
func memoryFromMeminfo(mi *Meminfo, out *MemoryStats) {
	out.UsageBytes = mi.MemTotalBytes - min(mi.MemFreeBytes, mi.MemTotalBytes)
	out.RSSBytes = mi.ActiveAnonBytes + mi.InactiveAnonBytes
	out.CacheBytes = mi.ActiveFileBytes + mi.InactiveFileBytes
	out.InactiveFileBytes = mi.InactiveFileBytes
	out.ActiveFileBytes = mi.ActiveFileBytes
	out.MappedFileBytes = mi.MappedBytes
	out.ShmemBytes = mi.ShmemBytes
	if mi.SwapTotalBytes > 0 {
		out.HasSwap = true
		out.SwapBytes = mi.SwapTotalBytes - min(mi.SwapFreeBytes, mi.SwapTotalBytes)
	}
	out.computeWorkingSet()
}
