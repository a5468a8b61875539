package stats

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
)

// Reader reads cgroup samples with reusable buffers: a steady-state Stat of
// a cgroup whose files keep their size does not allocate. A Reader is NOT
// safe for concurrent use; give each goroutine its own (FS.NewReader).
type Reader struct {
	fs   FS
	buf  []byte
	path []byte
	mi   Meminfo
	// files, during a cached Stat, holds the open files of the cgroup;
	// cacheHits counts the reads served from it.
	files     *openFiles
	cacheHits int
	// budget bounds the descriptors kept open across all caches.
	budget *fdBudget
}

// fdBudget bounds the number of descriptors kept open by openFiles caches;
// files beyond it are opened and closed at each read.
type fdBudget struct {
	used atomic.Int64
	max  int64
}

func (b *fdBudget) take() bool {
	if b.used.Add(1) > b.max {
		b.used.Add(-1)
		return false
	}
	return true
}

// openFiles keeps the descriptors of one cgroup's files open between
// samples (see Reader.readFile). It is owned by whoever samples the cgroup
// and must be closed with closeAll when the cgroup is dropped or a read
// fails.
type openFiles struct {
	files  []openFile
	budget *fdBudget
}

type openFile struct {
	dir, name string
	fd        int
}

func (of *openFiles) lookup(dir, name string) int {
	for i := range of.files {
		if of.files[i].name == name && of.files[i].dir == dir {
			return of.files[i].fd
		}
	}
	return -1
}

// add caches fd if the budget allows and reports whether it did.
func (of *openFiles) add(dir, name string, fd int, budget *fdBudget) bool {
	if budget == nil || !budget.take() {
		return false
	}
	of.budget = budget
	of.files = append(of.files, openFile{dir: dir, name: name, fd: fd})
	return true
}

// closeAll closes every cached descriptor.
func (of *openFiles) closeAll() {
	for _, f := range of.files {
		_ = syscall.Close(f.fd)
	}
	if of.budget != nil {
		of.budget.used.Add(-int64(len(of.files)))
	}
	of.files = of.files[:0]
}

// statCached is Stat with the cgroup's files kept open in files between
// calls. Because an open file of a removed regular-file tree (a fixture)
// stays readable, a sample served from cached descriptors is only accepted
// when every directory it read from still exists; on the kernel a removed
// cgroup's open files fail with ENODEV anyway. On error the caller must
// close files.
func (r *Reader) statCached(cgroupPath string, mask Mask, files *openFiles, out *CgroupStats) error {
	r.files, r.cacheHits = files, 0
	defer func() { r.files = nil }()
	if err := r.Stat(cgroupPath, mask, out); err != nil {
		return err
	}
	if r.cacheHits == 0 {
		return nil
	}
	p := cgroupPath
	if p == "/" {
		p = ""
	}
	for i, f := range files.files {
		seen := false
		for _, g := range files.files[:i] {
			seen = seen || g.dir == f.dir
		}
		if !seen && !r.dirExists(f.dir, p) {
			out.reset()
			return fmt.Errorf("stats: cgroup %q: %w (%s%s removed)", displayPath(p), ErrNotFound, f.dir, p)
		}
	}
	return nil
}

// NewReader returns a Reader over fs.
func (fs FS) NewReader() *Reader {
	return &Reader{fs: fs, buf: make([]byte, 16<<10), path: make([]byte, 0, 512)}
}

// Stat fills out with the figures selected by mask for the cgroup at
// cgroupPath. On error out holds no valid sample. An error wrapping
// ErrNotFound means the cgroup does not exist (or vanished during the read);
// ErrNoController means a controller needed by mask is not mounted;
// ErrMissingFile means the kernel lacks a needed file; a *ParseError means a
// file had an unexpected format.
func (r *Reader) Stat(cgroupPath string, mask Mask, out *CgroupStats) error {
	out.reset()
	if err := validateCgroupPath(cgroupPath); err != nil {
		return err
	}
	if cgroupPath == "/" {
		cgroupPath = ""
	}
	out.Mask = mask
	var err error
	if mask&(MaskCPU|MaskCPUPerCPU) != 0 {
		err = r.readCPU(cgroupPath, mask, out)
	}
	if err == nil && mask.Has(MaskLimits) {
		err = r.readLimits(cgroupPath, out)
	}
	if err == nil && mask.Has(MaskMemory) {
		err = r.readMemory(cgroupPath, &out.Memory)
	}
	if err == nil && mask.Has(MaskIO) {
		err = r.readIO(cgroupPath, &out.IO)
	}
	if err == nil && mask.Has(MaskPids) {
		err = r.readPids(cgroupPath, &out.Pids)
	}
	if err == nil && mask.Has(MaskPSI) {
		err = r.readPSI(cgroupPath, &out.PSI)
	}
	if err == nil && mask.Has(MaskProcesses) {
		err = r.readProcesses(cgroupPath, &out.Processes)
	}
	if err != nil {
		out.reset()
		return err
	}
	return nil
}

// root returns the hierarchy directory of c or ErrNoController.
func (r *Reader) root(c Controller) (string, CgroupVersion, error) {
	v := r.fs.layout.Versions[c]
	if v == VersionNone {
		return "", v, fmt.Errorf("stats: %s: %w", c, ErrNoController)
	}
	return r.fs.layout.Roots[c], v, nil
}

// read reads dir+cgroupPath+"/"+name. A missing file is ErrNotFound when the
// cgroup directory itself is gone and ErrMissingFile otherwise.
func (r *Reader) read(dir, cgroupPath, name string) ([]byte, error) {
	b, err := r.readFile(dir, cgroupPath, name)
	if err == nil {
		return b, nil
	}
	return nil, r.classify(dir, cgroupPath, name, err)
}

// readOptional is read for files some kernels or cgroups lack: a missing
// file in an existing cgroup yields (nil, nil).
func (r *Reader) readOptional(dir, cgroupPath, name string) ([]byte, error) {
	b, err := r.readFile(dir, cgroupPath, name)
	if err == nil {
		return b, nil
	}
	// Checked before classify so that a file that is routinely absent (the
	// root cgroup's pids.current) costs no error formatting.
	if errors.Is(err, syscall.ENOENT) && r.dirExists(dir, cgroupPath) {
		return nil, nil
	}
	return nil, r.classify(dir, cgroupPath, name, err)
}

func (r *Reader) classify(dir, cgroupPath, name string, err error) error {
	full := dir + cgroupPath + "/" + name
	if errors.Is(err, syscall.ENODEV) || (errors.Is(err, syscall.ENOENT) && !r.dirExists(dir, cgroupPath)) {
		// ENODEV: the file was opened but its cgroup was removed.
		return fmt.Errorf("stats: cgroup %q: %w (%s: %w)", displayPath(cgroupPath), ErrNotFound, full, err)
	}
	if errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("stats: cgroup %q: %s: %w", displayPath(cgroupPath), full, ErrMissingFile)
	}
	return fmt.Errorf("stats: cgroup %q: read %s: %w", displayPath(cgroupPath), full, err)
}

func displayPath(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

func (r *Reader) readUint(dir, cgroupPath, name string) (uint64, error) {
	b, err := r.read(dir, cgroupPath, name)
	if err != nil {
		return 0, err
	}
	return parseSingleUint(name, b)
}

func (r *Reader) readCPU(p string, mask Mask, out *CgroupStats) error {
	dir, v, err := r.root(ControllerCPUAcct)
	if err != nil {
		return err
	}
	if v == V2 {
		b, err := r.read(dir, p, "cpu.stat")
		if err != nil {
			return err
		}
		return parseCPUStatV2(b, &out.CPU)
	}
	if mask.Has(MaskCPU) {
		if out.CPU.UsageNanos, err = r.readUint(dir, p, "cpuacct.usage"); err != nil {
			return err
		}
		b, err := r.read(dir, p, "cpuacct.stat")
		if err != nil {
			return err
		}
		if err := parseCPUAcctStat(b, &out.CPU); err != nil {
			return err
		}
	}
	if mask.Has(MaskCPUPerCPU) {
		b, err := r.read(dir, p, "cpuacct.usage_percpu")
		if err != nil {
			return err
		}
		if out.CPU.PerCPUNanos, err = parsePerCPU(b, out.CPU.PerCPUNanos); err != nil {
			return err
		}
	}
	if !mask.Has(MaskCPU) {
		return nil
	}
	// Throttling counters live in the cpu controller's cpu.stat.
	cdir, cv, err := r.root(ControllerCPU)
	if err != nil || cv != V1 {
		return nil // no bandwidth controller: counters stay zero
	}
	b, err := r.read(cdir, p, "cpu.stat")
	if err != nil {
		return err
	}
	return parseCPUStatV1(b, &out.CPU)
}

// readLimits reads the CPU, memory and pids limits of whichever of those
// controllers are mounted.
func (r *Reader) readLimits(p string, out *CgroupStats) error {
	if r.fs.layout.Versions[ControllerCPU] != VersionNone {
		if err := r.readCPULimits(p, &out.CPULimits); err != nil {
			return err
		}
	}
	if dir, v := r.fs.layout.Roots[ControllerMemory], r.fs.layout.Versions[ControllerMemory]; v == V1 {
		var err error
		if out.Memory.LimitBytes, err = r.readUint(dir, p, "memory.limit_in_bytes"); err != nil {
			return err
		}
	} else if v == V2 {
		if p == "" {
			out.Memory.LimitBytes = 1<<64 - 1 // the v2 root has no memory.max
		} else {
			b, err := r.read(dir, p, "memory.max")
			if err != nil {
				return err
			}
			if out.Memory.LimitBytes, _, err = parseLimit("memory.max", b); err != nil {
				return err
			}
		}
	}
	if dir := r.fs.layout.Roots[ControllerPids]; dir != "" {
		// The root cgroup has no pids.max in either version.
		b, err := r.readOptional(dir, p, "pids.max")
		if err != nil {
			return err
		}
		if b != nil {
			if out.Pids.Limit, err = parsePidsMax(b); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Reader) readCPULimits(p string, out *CPULimits) error {
	dir, v, err := r.root(ControllerCPU)
	if err != nil {
		return err
	}
	if v == V2 {
		if p == "" { // the v2 root has no cpu.max or cpu.weight
			out.QuotaMicros = -1
			return nil
		}
		b, err := r.read(dir, p, "cpu.max")
		if err != nil {
			return err
		}
		if err := parseCPUMax(b, out); err != nil {
			return err
		}
		w, err := r.readUint(dir, p, "cpu.weight")
		if err != nil {
			return err
		}
		out.Shares = weightToShares(w)
		return nil
	}
	b, err := r.read(dir, p, "cpu.cfs_quota_us")
	if err != nil {
		return err
	}
	if out.QuotaMicros, err = parseCPUQuotaV1(b); err != nil {
		return err
	}
	if out.PeriodMicros, err = r.readUint(dir, p, "cpu.cfs_period_us"); err != nil {
		return err
	}
	out.Shares, err = r.readUint(dir, p, "cpu.shares")
	return err
}

func (r *Reader) readMemory(p string, out *MemoryStats) error {
	dir, v, err := r.root(ControllerMemory)
	if err != nil {
		return err
	}
	if v == V2 {
		return r.readMemoryV2(dir, p, out)
	}
	if out.UsageBytes, err = r.readUint(dir, p, "memory.usage_in_bytes"); err != nil {
		return err
	}
	if out.MaxUsageBytes, err = r.readUint(dir, p, "memory.max_usage_in_bytes"); err != nil {
		return err
	}
	out.HasMaxUsage = true
	if out.Failcnt, err = r.readUint(dir, p, "memory.failcnt"); err != nil {
		return err
	}
	b, err := r.read(dir, p, "memory.stat")
	if err != nil {
		return err
	}
	if err := parseMemoryStatV1(b, out); err != nil {
		return err
	}
	out.computeWorkingSet()
	return nil
}

func (r *Reader) readMemoryV2(dir, p string, out *MemoryStats) error {
	if p == "" {
		// The v2 root has no memory.current: use /proc/meminfo like runc.
		b, err := r.readFile(r.fs.procRoot, "", "meminfo")
		if err != nil {
			return fmt.Errorf("stats: root memory: %w", err)
		}
		r.mi = Meminfo{}
		if err := parseMeminfo(b, &r.mi); err != nil {
			return err
		}
		memoryFromMeminfo(&r.mi, out)
		return nil
	}
	var err error
	if out.UsageBytes, err = r.readUint(dir, p, "memory.current"); err != nil {
		return err
	}
	b, err := r.readOptional(dir, p, "memory.peak")
	if err != nil {
		return err
	} else if b != nil {
		if out.MaxUsageBytes, err = parseSingleUint("memory.peak", b); err != nil {
			return err
		}
		out.HasMaxUsage = true
	}
	if b, err = r.readOptional(dir, p, "memory.swap.current"); err != nil {
		return err
	} else if b != nil {
		if out.SwapBytes, err = parseSingleUint("memory.swap.current", b); err != nil {
			return err
		}
		out.HasSwap = true
	}
	if b, err = r.read(dir, p, "memory.events"); err != nil {
		return err
	}
	if err := parseMemoryEvents(b, &out.Events); err != nil {
		return err
	}
	out.HasEvents = true
	out.Failcnt = out.Events.Max
	if b, err = r.read(dir, p, "memory.stat"); err != nil {
		return err
	}
	if err := parseMemoryStatV2(b, out); err != nil {
		return err
	}
	out.computeWorkingSet()
	return nil
}

func (r *Reader) readIO(p string, out *IOStats) error {
	dir, v, err := r.root(ControllerIO)
	if err != nil {
		return err
	}
	if v == V2 {
		if p == "" {
			return nil // the v2 root has no io.stat
		}
		b, err := r.read(dir, p, "io.stat")
		if err != nil {
			return err
		}
		return parseIOStatV2(b, out)
	}
	out.Devices = out.Devices[:0]
	const bytesFile = "blkio.throttle.io_service_bytes_recursive"
	const opsFile = "blkio.throttle.io_serviced_recursive"
	b, err := r.read(dir, p, bytesFile)
	if err != nil {
		return err
	}
	if err := parseBlkioV1(bytesFile, b, true, out); err != nil {
		return err
	}
	if len(out.Devices) == 0 {
		// Both files print the same block groups of the cgroup (the
		// throttle policy adds to stat_bytes and stat_ios for the same
		// bios): no device in one means none in the other, so the second
		// read is skipped in this common case (the v1 throttle files stay
		// at "Total 0" unless a throttle rule is set).
		return nil
	}
	if b, err = r.read(dir, p, opsFile); err != nil {
		return err
	}
	if err := parseBlkioV1(opsFile, b, false, out); err != nil {
		return err
	}
	out.sum()
	return nil
}

func (r *Reader) readPids(p string, out *PidsStats) error {
	dir, _, err := r.root(ControllerPids)
	if err != nil {
		return err
	}
	// The root cgroup has no pids files in either version.
	b, err := r.readOptional(dir, p, "pids.current")
	if err != nil || b == nil {
		return err
	}
	if out.Current, err = parseSingleUint("pids.current", b); err != nil {
		return err
	}
	out.HasCurrent = true
	return nil
}

func (r *Reader) readPSI(p string, out *PSIStats) error {
	dir := r.fs.layout.UnifiedRoot
	if dir == "" || !r.dirExists(dir, p) {
		return nil // no v2 hierarchy or cgroup not present in it
	}
	files := [3]struct {
		name string
		dst  *Pressure
	}{{"cpu.pressure", &out.CPU}, {"memory.pressure", &out.Memory}, {"io.pressure", &out.IO}}
	for _, f := range files {
		b, err := r.readOptional(dir, p, f.name)
		if err != nil {
			return err
		}
		if b == nil {
			*out = PSIStats{}
			return nil // kernel without PSI
		}
		if err := parsePressure(f.name, b, f.dst); err != nil {
			return err
		}
	}
	out.Available = true
	return nil
}

func (r *Reader) readProcesses(p string, out *ProcessStats) error {
	c := ControllerPids
	if r.fs.layout.Versions[c] == VersionNone {
		c = ControllerCPUAcct
	}
	dir, _, err := r.root(c)
	if err != nil {
		return err
	}
	b, err := r.read(dir, p, "cgroup.procs")
	if err != nil {
		return err
	}
	pids, err := parsePidList("cgroup.procs", b)
	if err != nil {
		return err
	}
	out.Processes = uint64(len(pids))
	for _, pid := range pids {
		fdDir := filepath.Join(r.fs.procRoot, strconv.Itoa(pid), "fd")
		entries, err := os.ReadDir(fdDir)
		if err != nil {
			continue // the process exited meanwhile
		}
		out.FileDescriptors += uint64(len(entries))
		for _, e := range entries {
			if target, err := os.Readlink(filepath.Join(fdDir, e.Name())); err == nil && len(target) > 7 && target[:7] == "socket:" {
				out.Sockets++
			}
		}
	}
	return nil
}

// parsePidList parses cgroup.procs or tasks: one decimal pid per line.
func parsePidList(file string, b []byte) ([]int, error) {
	var out []int
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b = nextLine(b)
		line = trimSpace(line)
		if len(line) == 0 {
			continue
		}
		v, ok := parseUint(line)
		if !ok || v == 0 || v > 1<<22 {
			return nil, parseErr(file, n, "want a pid, got %q", clip(line))
		}
		out = append(out, int(v))
	}
	return out, nil
}

// NetDev fills out with the interface counters of the network namespace of
// pid (<proc>/<pid>/net/dev). An error wrapping ErrNotFound means the
// process does not exist.
func (r *Reader) NetDev(pid int, out *NetworkStats) error {
	if pid <= 0 {
		return fmt.Errorf("stats: net/dev: pid %d: must be positive: %w", pid, ErrInvalidTarget)
	}
	var num [20]byte
	b, err := r.readFile(r.fs.procRoot, "/"+string(strconv.AppendInt(num[:0], int64(pid), 10))+"/net", "dev")
	if err != nil {
		out.Interfaces = out.Interfaces[:0]
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("stats: net/dev of pid %d: %w (%w)", pid, ErrNotFound, err)
		}
		return fmt.Errorf("stats: net/dev of pid %d: %w", pid, err)
	}
	if err := parseNetDev(b, out); err != nil {
		out.Interfaces = out.Interfaces[:0]
		return fmt.Errorf("stats: pid %d: %w", pid, err)
	}
	return nil
}
