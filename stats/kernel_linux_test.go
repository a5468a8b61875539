//go:build linux

package stats

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodekit/nodekit/internal/netnstest"
	"github.com/nodekit/nodekit/internal/privtest"
)

// Real-kernel tests. They need root and either cgroup v1 controllers
// (memory, cpu, cpuacct, pids, blkio) at /sys/fs/cgroup, like the development
// machine (hybrid, kernel 6.18), or a unified cgroup2 hierarchy whose root
// delegates cpu, io, memory and pids to its children. They create uniquely
// named cgroups and remove them in t.Cleanup. Only the v1 path has run on
// the development machine; the v2 path follows the same steps with the v2
// file names.

var v1TestControllers = []string{"cpu", "cpuacct", "memory", "pids", "blkio"}

// realFS returns an FS on the live hierarchy, or skips (fails when
// privileged tests are required) when it cannot host the tests.
func realFS(t testing.TB) FS {
	t.Helper()
	privtest.Require(t, "sh")
	fsys, err := NewFS("/proc", "/sys/fs/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if msg := realLayoutProblem(fsys); msg != "" {
		if privtest.Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return fsys
}

func realLayoutProblem(fsys FS) string {
	l := fsys.Layout()
	needed := []Controller{ControllerCPU, ControllerCPUAcct, ControllerMemory, ControllerPids, ControllerIO}
	allV1, allV2 := true, l.Mode == ModeUnified
	for _, c := range needed {
		allV1 = allV1 && l.Version(c) == V1
		allV2 = allV2 && l.Version(c) == V2
	}
	switch {
	case allV1:
		return ""
	case allV2:
		b, err := os.ReadFile(filepath.Join(fsys.CgroupRoot(), "cgroup.subtree_control"))
		if err != nil {
			return err.Error()
		}
		for _, c := range []string{"cpu", "io", "memory", "pids"} {
			if !slices.Contains(strings.Fields(string(b)), c) {
				return fmt.Sprintf("the cgroup2 root does not delegate %s to its children (cgroup.subtree_control: %q)", c, strings.TrimSpace(string(b)))
			}
		}
		return ""
	}
	return fmt.Sprintf("needs cgroup v1 cpu, cpuacct, memory, pids and blkio, or a unified cgroup2 hierarchy (layout %v %v)", l.Mode, l.Versions)
}

// realCgroup is a uniquely named cgroup on the live hierarchy.
type realCgroup struct {
	fs   FS
	path string
	v2   bool
	// dirs maps v1 controller names (or "" for v2) to the cgroup's
	// directory.
	dirs map[string]string
}

// testCgroup creates a test cgroup and removes it at cleanup, after the
// processes in it are gone.
func testCgroup(t testing.TB, fsys FS) *realCgroup {
	t.Helper()
	rc := cgroupAt(fsys, fmt.Sprintf("/nodekit-stats-test-%d-%d", os.Getpid(), time.Now().UnixNano()))
	for _, dir := range rc.dirs {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			for i := 0; ; i++ {
				err := os.Remove(dir)
				if err == nil || errors.Is(err, os.ErrNotExist) {
					return
				}
				if i == 100 {
					t.Errorf("remove test cgroup %s: %v", dir, err)
					return
				}
				time.Sleep(20 * time.Millisecond) // exiting processes leave the cgroup asynchronously
			}
		})
	}
	return rc
}

// cgroupAt describes the cgroup at path on the live hierarchy, which may
// or may not exist yet.
func cgroupAt(fsys FS, path string) *realCgroup {
	rc := &realCgroup{fs: fsys, path: path, dirs: map[string]string{}}
	if fsys.Layout().Mode == ModeUnified {
		rc.v2 = true
		rc.dirs[""] = filepath.Join(fsys.CgroupRoot(), rc.path)
	} else {
		for _, ctrl := range v1TestControllers {
			rc.dirs[ctrl] = filepath.Join(fsys.CgroupRoot(), ctrl, rc.path)
		}
	}
	return rc
}

// join returns a shell prefix moving the shell into the cgroup (in every
// hierarchy), so that what it execs is accounted from its first
// instruction.
func (rc *realCgroup) join() string {
	var b strings.Builder
	for _, dir := range rc.dirs {
		fmt.Fprintf(&b, "echo $$ > %s && ", filepath.Join(dir, "cgroup.procs"))
	}
	return b.String()
}

// addPID moves pid into the cgroup.
func (rc *realCgroup) addPID(t testing.TB, pid int) {
	t.Helper()
	for _, dir := range rc.dirs {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// maxCPUWeight gives the cgroup the largest CPU weight, so that its one busy
// task gets a whole core on a machine shared with compilers (the group
// competes as one entity; the task's nice value does not help).
func (rc *realCgroup) maxCPUWeight(t testing.TB) {
	t.Helper()
	dir, file, value := rc.dirs["cpu"], "cpu.shares", "262144"
	if rc.v2 {
		dir, file, value = rc.dirs[""], "cpu.weight", "10000"
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rawCPUNanos reads the cgroup's CPU usage straight from the kernel file.
func (rc *realCgroup) rawCPUNanos(t testing.TB) uint64 {
	if rc.v2 {
		return readRawKey(t, filepath.Join(rc.dirs[""], "cpu.stat"), "usage_usec") * 1000
	}
	return readRawUint(t, filepath.Join(rc.dirs["cpuacct"], "cpuacct.usage"))
}

// rawMemoryUsage reads the cgroup's memory usage straight from the kernel.
func (rc *realCgroup) rawMemoryUsage(t testing.TB) uint64 {
	if rc.v2 {
		return readRawUint(t, filepath.Join(rc.dirs[""], "memory.current"))
	}
	return readRawUint(t, filepath.Join(rc.dirs["memory"], "memory.usage_in_bytes"))
}

// rawMemoryStat reads one key of memory.stat straight from the kernel: the
// v1 hierarchical name (total_<key>) or the v2 name.
func (rc *realCgroup) rawMemoryStat(t testing.TB, v1Key, v2Key string) uint64 {
	if rc.v2 {
		return readRawKey(t, filepath.Join(rc.dirs[""], "memory.stat"), v2Key)
	}
	return readRawKey(t, filepath.Join(rc.dirs["memory"], "memory.stat"), v1Key)
}

// remove deletes the cgroup now, as the runtime does when a container
// stops.
func (rc *realCgroup) remove(t testing.TB) {
	t.Helper()
	for _, dir := range rc.dirs {
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
	}
}

// startKilled starts cmd and kills it at cleanup.
func startKilled(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
}

func readRawUint(t testing.TB, path string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// readRawKey reads the value of key in a flat-keyed file with strconv, not
// with this package's parser.
func readRawKey(t testing.TB, path, key string) uint64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == key {
			v, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	t.Fatalf("%s has no %s", path, key)
	return 0
}

func TestRealCgroupCPU(t *testing.T) {
	fsys := realFS(t)
	rc := testCgroup(t, fsys)
	cg := rc.path
	rc.maxCPUWeight(t)
	burner := exec.Command("sh", "-c", rc.join()+"exec sh -c 'while :; do :; done'")
	startKilled(t, burner)

	c, err := NewCollector(fsys, Options{Mask: MaskDefault | MaskProcesses})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Add(Target{ID: cg}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	time.Sleep(200 * time.Millisecond) // let the loop start
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	// Independent witness: the task's own run time from the scheduler.
	run0, t0 := schedRunNanos(t, burner.Process.Pid), time.Now()
	time.Sleep(3 * time.Second)
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	run1, t1 := schedRunNanos(t, burner.Process.Pid), time.Now()
	raw := rc.rawCPUNanos(t)
	r, ok, err := c.Rates(cg)
	if err != nil || !ok || !r.HasCPU {
		t.Fatalf("Rates: %+v %v %v", r, ok, err)
	}
	witness := float64(run1-run0) / t1.Sub(t0).Seconds()
	t.Logf("busy loop: %d nanocores over %v; /proc/<pid>/schedstat says %.0f", r.CPUNanoCores, r.Interval, witness)
	if d := float64(r.CPUNanoCores) - witness; d > 0.05e9 || d < -0.05e9 {
		t.Errorf("CPUNanoCores = %d, scheduler witness %.0f: they must agree within 5%% of a core", r.CPUNanoCores, witness)
	}
	if r.CPUNanoCores < 900_000_000 || r.CPUNanoCores > 1_100_000_000 {
		t.Errorf("CPUNanoCores = %d, want one core within 10%%", r.CPUNanoCores)
	}
	s, _, _ := c.Latest(cg)
	// The raw counter read just after the sample is ahead by at most the
	// few milliseconds between the two reads.
	if s.Stats.CPU.UsageNanos > raw || raw-s.Stats.CPU.UsageNanos > 100_000_000 {
		t.Errorf("sample usage %d vs raw usage %d read right after", s.Stats.CPU.UsageNanos, raw)
	}
	if s.Stats.Processes.Processes != 1 || s.Stats.Pids.Current != 1 {
		t.Errorf("processes %d, pids.current %d, want 1 and 1", s.Stats.Processes.Processes, s.Stats.Pids.Current)
	}
}

// schedRunNanos returns the time pid has run on a CPU (first field of
// /proc/<pid>/schedstat, nanoseconds).
func schedRunNanos(t *testing.T, pid int) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseUint(strings.Fields(string(b))[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRealCgroupMemory(t *testing.T) {
	fsys := realFS(t)
	rc := testCgroup(t, fsys)
	cg := rc.path
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", rc.join()+"exec "+self)
	cmd.Env = append(os.Environ(), helperEnv+"=alloc64")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	startKilled(t, cmd)
	t.Cleanup(func() { stdin.Close() })
	out := bufio.NewReader(stdout)
	expect := func(want string) {
		t.Helper()
		if line, err := out.ReadString('\n'); err != nil || line != want+"\n" {
			t.Fatalf("helper said %q (%v), want %q", line, err, want)
		}
	}
	expect("waiting")
	r := fsys.NewReader()
	var base, s CgroupStats
	if err := r.Stat(cg, MaskMemory, &base); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	expect("ready")
	if err := r.Stat(cg, MaskMemory, &s); err != nil {
		t.Fatal(err)
	}
	rawUsage := rc.rawMemoryUsage(t)
	m := s.Memory
	t.Logf("64 MiB helper: before %d, after: usage %d, working set %d, rss %d, cache %d, inactive_file %d",
		base.Memory.WorkingSetBytes, m.UsageBytes, m.WorkingSetBytes, m.RSSBytes, m.CacheBytes, m.InactiveFileBytes)
	const want = 64 << 20
	// The helper's own runtime is in the baseline; the 64 MiB mapping plus
	// page tables and stray runtime allocations must come within 4 MiB.
	if d := int64(m.WorkingSetBytes) - int64(base.Memory.WorkingSetBytes); d < want-1<<20 || d > want+4<<20 {
		t.Errorf("working set grew by %d, want 64 MiB within a few MiB", d)
	}
	if m.RSSBytes < want {
		t.Errorf("rss %d below the 64 MiB touched", m.RSSBytes)
	}
	if d := int64(rawUsage) - int64(m.UsageBytes); d < -1<<20 || d > 1<<20 {
		t.Errorf("usage %d vs raw usage file %d", m.UsageBytes, rawUsage)
	}
	if m.WorkingSetBytes != m.UsageBytes-min(m.UsageBytes, m.InactiveFileBytes) {
		t.Errorf("working set %d != usage %d - inactive_file %d", m.WorkingSetBytes, m.UsageBytes, m.InactiveFileBytes)
	}
}

func TestRealCgroupVanishes(t *testing.T) {
	fsys := realFS(t)
	rc := testCgroup(t, fsys)
	cg := rc.path
	c, err := NewCollector(fsys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Add(Target{ID: cg}); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	rc.remove(t)
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatalf("a vanished cgroup is not a pass error: %v", err)
	}
	st, _ := c.Status(cg)
	if !errors.Is(st.LastError, ErrNotFound) {
		t.Errorf("LastError = %v, want ErrNotFound", st.LastError)
	}
	if _, ok, _ := c.Rates(cg); ok {
		t.Error("rate reported for a vanished cgroup")
	}
}

func TestRealNetworkNamespace(t *testing.T) {
	fsys := realFS(t)
	privtest.Require(t, "ip", "sleep")
	sb := netnstest.New(t)
	a, b := sb.Namespace("stats-a"), sb.Namespace("stats-b")
	sb.Veth(a, "veth-a", b, "veth-b")
	a.AddAddr(t, "veth-a", "10.231.0.1/24")
	b.AddAddr(t, "veth-b", "10.231.0.2/24")

	rc := testCgroup(t, fsys)
	cg := rc.path
	ctx := context.Background()
	// ip netns exec mounts a fresh /sys, hiding the cgroup mounts: move the
	// process into the test cgroup from here instead.
	sleeper := a.Command(ctx, "sleep", "600")
	startKilled(t, sleeper)
	pid := sleeper.Process.Pid
	rc.addPID(t, pid)
	// Wait until the process runs inside namespace a.
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := fsys.NetDev(pid)
		if err == nil && len(n.Interfaces) == 1 && n.Interfaces[0].Name == "veth-a" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sleeper never appeared in namespace a: %+v %v", n, err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	c, err := NewCollector(fsys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Add(Target{ID: cg, PID: pid}); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	before, _, _ := c.Latest(cg)

	var conn net.PacketConn
	if err := b.Do(func() error {
		var err error
		conn, err = net.ListenPacket("udp4", "10.231.0.2:9999")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const datagrams, payload = 500, 1000
	if err := a.Do(func() error {
		s, err := net.Dial("udp4", "10.231.0.2:9999")
		if err != nil {
			return err
		}
		defer s.Close()
		buf := make([]byte, payload)
		for range datagrams {
			if _, err := s.Write(buf); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	after, _, _ := c.Latest(cg)
	raw, err := fsys.NetDev(pid)
	if err != nil {
		t.Fatal(err)
	}
	if before.Network == nil || after.Network == nil {
		t.Fatal("no network figures in the samples")
	}
	tx := after.Network.Interfaces[0].TxBytes - before.Network.Interfaces[0].TxBytes
	// Each datagram leaves veth-a as a 1042-byte frame (14 Ethernet + 20 IP
	// + 8 UDP + 1000); ARP and IPv6 neighbour discovery add a little.
	const frame = 14 + 20 + 8 + payload
	t.Logf("%d datagrams: tx delta %d bytes, rate %v", datagrams, tx, func() any { r, _, _ := c.Rates(cg); return r.NetworkTxBytesPerSecond }())
	if tx < datagrams*frame || tx > datagrams*frame+4096 {
		t.Errorf("tx delta %d, want %d plus at most 4096 of ARP/ND", tx, datagrams*frame)
	}
	if after.Network.Interfaces[0].TxBytes != raw.Interfaces[0].TxBytes {
		t.Errorf("sample tx %d vs raw net/dev %d", after.Network.Interfaces[0].TxBytes, raw.Interfaces[0].TxBytes)
	}
	r, ok, _ := c.Rates(cg)
	if !ok || !r.HasNetwork || r.NetworkTxBytesPerSecond <= 0 {
		t.Errorf("rates: %+v", r)
	}
}

// TestRealUnifiedCPUAndPressure uses the cgroup2 hierarchy. On a hybrid
// machine it is the one mounted at <root>/unified, which carries no
// controllers but still accounts CPU (cpu.stat) and pressure (PSI) for each
// cgroup: an FS rooted there sees a unified layout.
func TestRealUnifiedCPUAndPressure(t *testing.T) {
	privtest.Require(t, "sh")
	root := "/sys/fs/cgroup"
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err != nil {
		root = filepath.Join(root, "unified")
	}
	if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err != nil {
		msg := "needs a cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified"
		if privtest.Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	fsys, err := NewFS("/proc", root)
	if err != nil {
		t.Fatal(err)
	}
	if l := fsys.Layout(); l.Mode != ModeUnified || l.Version(ControllerCPUAcct) != V2 {
		t.Fatalf("layout of %s: %+v", root, l)
	}
	cg := fmt.Sprintf("/nodekit-stats-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	dir := filepath.Join(root, cg)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; i < 100; i++ {
			if err := os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Errorf("remove test cgroup %s", dir)
	})
	// On a hybrid machine the v1 cpu hierarchy does the scheduling: give the
	// burner its own v1 group with the largest weight so that load from other
	// work does not starve it (see TestRealCgroupCPU).
	join := fmt.Sprintf("echo $$ > %s && ", filepath.Join(dir, "cgroup.procs"))
	if root != "/sys/fs/cgroup" {
		v1 := testCgroup(t, realFS(t))
		v1.maxCPUWeight(t)
		join += v1.join()
	}
	burner := exec.Command("sh", "-c", join+"exec sh -c 'while :; do :; done'")
	startKilled(t, burner)
	time.Sleep(200 * time.Millisecond)

	r := fsys.NewReader()
	var s0, s1 CgroupStats
	// Each cgroup read is bracketed by two reads of the burner's own run
	// time: on a loaded machine this goroutine can be descheduled between
	// a cgroup read and a schedstat read for longer than the tolerance.
	stat := func(s *CgroupStats) (before, after uint64, at time.Time) {
		before = schedRunNanos(t, burner.Process.Pid)
		if err := r.Stat(cg, MaskCPU|MaskPSI, s); err != nil {
			t.Fatal(err)
		}
		return before, schedRunNanos(t, burner.Process.Pid), time.Now()
	}
	run0a, run0b, t0 := stat(&s0)
	time.Sleep(2 * time.Second)
	run1a, run1b, t1 := stat(&s1)
	secs := t1.Sub(t0).Seconds()
	got := float64(s1.CPU.UsageNanos - s0.CPU.UsageNanos)
	lo, hi := float64(run1a)-float64(run0b), float64(run1b)-float64(run0a)
	t.Logf("unified cpu.stat: %.0f nanocores, schedstat witness %.0f to %.0f; cpu.pressure some total %d us", got/secs, lo/secs, hi/secs, s1.PSI.CPU.Some.TotalMicros)
	// cpu.stat has microsecond resolution and is flushed lazily: it must
	// fall between the witness's bounds, within 5 % of a core.
	if tol := 0.05e9 * secs; got < lo-tol || got > hi+tol {
		t.Errorf("cpu.stat rate %.0f outside the schedstat witness %.0f to %.0f", got/secs, lo/secs, hi/secs)
	}
	if s1.CPU.UserNanos+s1.CPU.SystemNanos < s1.CPU.UsageNanos*9/10 {
		t.Errorf("user %d + system %d far below usage %d", s1.CPU.UserNanos, s1.CPU.SystemNanos, s1.CPU.UsageNanos)
	}
	if !s1.PSI.Available {
		t.Error("no pressure figures for a cgroup2 cgroup")
	}
	if s1.PSI.CPU.Some.TotalMicros < s0.PSI.CPU.Some.TotalMicros {
		t.Error("cpu.pressure total went backwards")
	}
}
