package stats

// CgroupStats is one sample of a cgroup: the groups selected by Mask are
// filled, the others are zero.
type CgroupStats struct {
	// Mask records what was read.
	Mask Mask `json:"mask"`
	// CPU is filled with MaskCPU (PerCPUNanos with MaskCPUPerCPU).
	CPU CPUStats `json:"cpu"`
	// CPULimits is filled with MaskLimits (as are Memory.LimitBytes and
	// Pids.Limit).
	CPULimits CPULimits `json:"cpuLimits"`
	// Memory is filled with MaskMemory.
	Memory MemoryStats `json:"memory"`
	// IO is filled with MaskIO.
	IO IOStats `json:"io"`
	// Pids is filled with MaskPids.
	Pids PidsStats `json:"pids"`
	// PSI is filled with MaskPSI.
	PSI PSIStats `json:"psi"`
	// Processes is filled with MaskProcesses.
	Processes ProcessStats `json:"processes"`
}

// ProcessStats counts the processes of a cgroup and their open files.
type ProcessStats struct {
	// Processes is the number of lines of cgroup.procs.
	Processes uint64 `json:"processes"`
	// FileDescriptors is the number of entries of /proc/<pid>/fd summed over
	// the processes (processes that exit meanwhile are skipped).
	FileDescriptors uint64 `json:"fileDescriptors"`
	// Sockets is the number of those descriptors that are sockets.
	Sockets uint64 `json:"sockets"`
}

// reset zeroes s, keeping slice capacity for reuse.
func (s *CgroupStats) reset() {
	perCPU := s.CPU.PerCPUNanos[:0]
	devices := s.IO.Devices[:0]
	*s = CgroupStats{}
	s.CPU.PerCPUNanos = perCPU
	s.IO.Devices = devices
}

// CopyFrom makes s a deep copy of o, reusing s's slices.
func (s *CgroupStats) CopyFrom(o *CgroupStats) {
	perCPU := append(s.CPU.PerCPUNanos[:0], o.CPU.PerCPUNanos...)
	devices := append(s.IO.Devices[:0], o.IO.Devices...)
	*s = *o
	s.CPU.PerCPUNanos = perCPU
	s.IO.Devices = devices
}
