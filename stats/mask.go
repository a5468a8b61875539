package stats

import "strings"

// Mask selects which groups of figures a read collects. Only the kernel files
// needed by the bits set are opened, like containerd/cgroups' StatFiltered.
type Mask uint32

const (
	// MaskCPU reads total, user and system CPU time and CFS throttling
	// counters (v1 cpuacct.usage, cpuacct.stat, cpu.stat; v2 cpu.stat).
	MaskCPU Mask = 1 << iota
	// MaskCPUPerCPU reads per-CPU usage (v1 cpuacct.usage_percpu only;
	// cgroup v2 has no per-CPU figure).
	MaskCPUPerCPU
	// MaskLimits reads the configured limits: CFS quota, period and
	// shares/weight (CPULimits), the memory limit (Memory.LimitBytes) and
	// pids.max (Pids.Limit). Limits change rarely; the Collector re-reads
	// them every Options.LimitsInterval rather than every pass.
	MaskLimits
	// MaskMemory reads usage, limit, peak, failcnt, memory.stat and, on v2,
	// memory.events and memory.swap.current.
	MaskMemory
	// MaskIO reads block IO bytes and operations per device.
	MaskIO
	// MaskPids reads pids.current and pids.max.
	MaskPids
	// MaskPSI reads cpu.pressure, memory.pressure and io.pressure from the
	// cgroup v2 hierarchy when the cgroup exists there.
	MaskPSI
	// MaskProcesses counts processes, open file descriptors and sockets by
	// reading cgroup.procs and walking /proc/<pid>/fd. It costs one
	// directory walk per process: ask for it only when needed.
	MaskProcesses

	// MaskDefault is what the Collector reads unless told otherwise.
	MaskDefault = MaskCPU | MaskLimits | MaskMemory | MaskIO | MaskPids
	// MaskAll sets every bit.
	MaskAll = MaskCPU | MaskCPUPerCPU | MaskLimits | MaskMemory | MaskIO | MaskPids | MaskPSI | MaskProcesses
)

var maskNames = [...]string{"cpu", "cpu-percpu", "limits", "memory", "io", "pids", "psi", "processes"}

// Has reports whether every bit of o is set in m.
func (m Mask) Has(o Mask) bool { return m&o == o }

// String lists the set bits, for example "cpu|memory".
func (m Mask) String() string {
	if m == 0 {
		return "none"
	}
	var parts []string
	for i, n := range maskNames {
		if m&(1<<i) != 0 {
			parts = append(parts, n)
		}
	}
	return strings.Join(parts, "|")
}
