package stats

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Machine describes the node, read from /proc.
type Machine struct {
	// NumCores is the number of "cpuN" lines of /proc/stat (online CPUs).
	NumCores int `json:"numCores"`
	// BootTime is the btime line of /proc/stat.
	BootTime time.Time `json:"bootTime"`
	// CPUModel is the first "model name" of /proc/cpuinfo ("" on
	// architectures whose cpuinfo has none).
	CPUModel string `json:"cpuModel,omitempty"`
	// MemoryCapacityBytes is MemTotal of /proc/meminfo.
	MemoryCapacityBytes uint64 `json:"memoryCapacityBytes"`
	// KernelVersion is /proc/sys/kernel/osrelease.
	KernelVersion string `json:"kernelVersion"`
	// BootID is /proc/sys/kernel/random/boot_id.
	BootID string `json:"bootID"`
	// MachineID is the content of Options.MachineIDFile (/etc/machine-id),
	// "" when the file is missing (minimal images, some containers).
	MachineID string `json:"machineID,omitempty"`
	// SystemUUID is the content of Options.SystemUUIDFile
	// (/sys/class/dmi/id/product_uuid, readable by root only), "" when
	// unreadable.
	SystemUUID string `json:"systemUUID,omitempty"`
}

// readIdentity fills the identifiers that live outside /proc. A missing or
// unreadable file leaves the field empty, as cAdvisor does: the machine
// description stays usable on hosts and in containers without them.
func (m *Machine) readIdentity(machineIDFile, systemUUIDFile string) {
	if b, err := os.ReadFile(machineIDFile); err == nil {
		m.MachineID = string(trimSpace(b))
	}
	if b, err := os.ReadFile(systemUUIDFile); err == nil {
		m.SystemUUID = string(trimSpace(b))
	}
}

// Machine reads the node description from the FS's proc root.
func (fs FS) Machine() (Machine, error) {
	var m Machine
	b, err := os.ReadFile(filepath.Join(fs.procRoot, "stat"))
	if err != nil {
		return m, fmt.Errorf("read machine cores: %w", err)
	}
	var btime int64
	if m.NumCores, btime, err = parseProcStat(b); err != nil {
		return m, err
	}
	m.BootTime = time.Unix(btime, 0).UTC()
	b, err = os.ReadFile(filepath.Join(fs.procRoot, "meminfo"))
	if err != nil {
		return m, fmt.Errorf("read machine memory: %w", err)
	}
	var mi Meminfo
	if err := parseMeminfo(b, &mi); err != nil {
		return m, err
	}
	m.MemoryCapacityBytes = mi.MemTotalBytes
	if b, err := os.ReadFile(filepath.Join(fs.procRoot, "cpuinfo")); err == nil {
		m.CPUModel = parseCPUModel(b)
	}
	if b, err := os.ReadFile(filepath.Join(fs.procRoot, "sys/kernel/osrelease")); err == nil {
		m.KernelVersion = string(trimSpace(b))
	}
	if b, err := os.ReadFile(filepath.Join(fs.procRoot, "sys/kernel/random/boot_id")); err == nil {
		m.BootID = string(trimSpace(b))
	}
	return m, nil
}

// Meminfo reads /proc/meminfo.
func (fs FS) Meminfo() (Meminfo, error) {
	var mi Meminfo
	b, err := os.ReadFile(filepath.Join(fs.procRoot, "meminfo"))
	if err != nil {
		return mi, fmt.Errorf("read meminfo: %w", err)
	}
	return mi, parseMeminfo(b, &mi)
}

// parseProcStat counts the per-CPU "cpuN" lines of /proc/stat and returns
// the boot time (btime, seconds since the epoch; 0 if absent).
func parseProcStat(b []byte) (cores int, btime int64, err error) {
	n := 0
	sawTotal := false
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		f, rest := nextField(line)
		if string(f) == "btime" {
			v, _ := nextField(rest)
			bt, ok := parseUint(v)
			if !ok || bt > 1<<62 {
				return 0, 0, parseErr("stat", 0, "bad btime %q", clip(line))
			}
			btime = int64(bt)
			continue
		}
		if !hasPrefix(f, "cpu") {
			continue
		}
		if len(f) == 3 {
			sawTotal = true
			continue
		}
		if _, ok := parseUint(f[3:]); ok {
			n++
		}
	}
	if !sawTotal || n == 0 {
		return 0, 0, parseErr("stat", 0, "no cpu lines")
	}
	return n, btime, nil
}

// parseCPUModel returns the value of the first "model name" line of
// /proc/cpuinfo ("model name\t: AMD EPYC ...").
func parseCPUModel(b []byte) string {
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if !hasPrefix(line, "model name") {
			continue
		}
		for i, c := range line {
			if c == ':' {
				return string(trimSpace(line[i+1:]))
			}
		}
	}
	return ""
}
