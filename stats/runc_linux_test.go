//go:build linux

package stats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodekit/nodekit/internal/netnstest"
	"github.com/nodekit/nodekit/internal/privtest"
)

// Real containers: these tests run busybox under runc, driven directly
// (stats never imports the kubelet package), each with its own runc state
// directory, a bundle in t.TempDir() and a unique cgroup that runc creates
// and deletes. They need root, runc, busybox (statically linked, as
// Debian's busybox-static) and ip.

// runcContainer is a running runc container.
type runcContainer struct {
	id string
	// cgroup is the container's cgroupsPath, the Target ID.
	cgroup string
	// pid is the container's init process, seen from the host.
	pid int
	rc  *realCgroup
}

// runcOptions describes the container a test wants.
type runcOptions struct {
	// args is the container's command line.
	args []string
	// netns is a network namespace path to join; "" gives a new one.
	netns string
}

// startRunc builds a busybox bundle, starts it detached with runc and
// deletes the container (and its cgroups) at cleanup.
func startRunc(t *testing.T, fsys FS, o runcOptions) *runcContainer {
	t.Helper()
	privtest.Require(t, "runc", "busybox", "ip")
	dir := t.TempDir()
	bundle, state := filepath.Join(dir, "bundle"), filepath.Join(dir, "state")
	rootfs := filepath.Join(bundle, "rootfs")
	for _, d := range []string{filepath.Join(rootfs, "bin"), state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	applets, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	for _, a := range strings.Fields(string(applets)) {
		if a == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", a)); err != nil {
			t.Fatal(err)
		}
	}

	if out, err := exec.Command("runc", "spec", "--bundle", bundle).CombinedOutput(); err != nil {
		t.Fatalf("runc spec: %v: %s", err, out)
	}
	cfgPath := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatalf("runc spec wrote an unreadable config.json: %v", err)
	}
	c := &runcContainer{
		id:     fmt.Sprintf("nodekit-stats-%d-%08x", os.Getpid(), rand.Uint32()),
		cgroup: fmt.Sprintf("/nodekit-stats-test-%d-%08x", os.Getpid(), rand.Uint32()),
	}
	c.rc = cgroupAt(fsys, c.cgroup)
	spec.Process.Terminal = false
	spec.Process.Args = o.args
	spec.Hostname = "stats-test"
	spec.Linux.CgroupsPath = c.cgroup
	// The largest CPU weight, so that a busy container gets a whole core on
	// a machine shared with compilers (runc maps shares to a v2 weight).
	if spec.Linux.Resources == nil {
		spec.Linux.Resources = &specs.LinuxResources{}
	}
	shares := uint64(262144)
	spec.Linux.Resources.CPU = &specs.LinuxCPU{Shares: &shares}
	for i, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			spec.Linux.Namespaces[i].Path = o.netns
		}
	}
	// /dev/shm is a tmpfs (65536k in runc's template): room for 64 MiB.
	for i, m := range spec.Mounts {
		if m.Destination != "/dev/shm" {
			continue
		}
		var opts []string
		for _, opt := range m.Options {
			if !strings.HasPrefix(opt, "size=") {
				opts = append(opts, opt)
			}
		}
		spec.Mounts[i].Options = append(opts, "size=128m")
	}
	if b, err = json.MarshalIndent(&spec, "", "  "); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, b, 0o644); err != nil {
		t.Fatal(err)
	}

	// The detached container inherits runc's stdio: give it a file, not a
	// pipe that would keep the command's output open.
	logf, err := os.Create(filepath.Join(dir, "container.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	runc := func(args ...string) *exec.Cmd {
		return exec.Command("runc", append([]string{"--root", state}, args...)...)
	}
	run := runc("run", "--detach", "--bundle", bundle, c.id)
	run.Stdout, run.Stderr = logf, logf
	err = run.Run()
	t.Cleanup(func() {
		if out, err := runc("delete", "--force", c.id).CombinedOutput(); err != nil {
			t.Errorf("runc delete %s: %v: %s", c.id, err, out)
		}
		// runc removes the cgroups; make sure no test cgroup is left behind.
		for _, d := range c.rc.dirs {
			if err := os.Remove(d); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Errorf("remove %s: %v", d, err)
			}
		}
	})
	if err != nil {
		log, _ := os.ReadFile(logf.Name())
		t.Fatalf("runc run: %v: %s", err, log)
	}
	out, err := runc("state", c.id).Output()
	if err != nil {
		t.Fatalf("runc state: %v", err)
	}
	var st specs.State
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("runc state: %v: %s", err, out)
	}
	if st.Status != specs.StateRunning || st.Pid <= 0 {
		t.Fatalf("runc state: %s", out)
	}
	c.pid = st.Pid
	// The init process is in the cgroup runc was asked for.
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", c.pid)); err != nil || !strings.Contains(string(b), ":"+c.cgroup+"\n") {
		t.Fatalf("container init %d is not in %s: %s %v", c.pid, c.cgroup, b, err)
	}
	return c
}

// target is the Collector target of the container, as a one-container
// pod.
func (c *runcContainer) target(name string) Target {
	return Target{
		ID:        c.cgroup,
		Pod:       types.NamespacedName{Namespace: "stats-test", Name: name},
		PodUID:    types.UID("runc-" + c.id),
		Container: name,
		Name:      c.id,
		Image:     "busybox",
		PID:       c.pid,
	}
}

// runCollector runs c's housekeeping loop until the test ends.
func runCollector(t *testing.T, c *Collector) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// waitSamples waits until the target's history holds n samples.
func waitSamples(t *testing.T, c *Collector, id string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st, err := c.Status(id)
		if err != nil {
			t.Fatal(err)
		}
		if st.Samples >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d samples after %v, want %d (last error %v)", id, st.Samples, timeout, n, st.LastError)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRuncContainerCPU(t *testing.T) {
	fsys := realFS(t)
	ctr := startRunc(t, fsys, runcOptions{args: []string{"sh", "-c", "while :; do :; done"}})
	c, err := NewCollector(fsys, Options{Interval: 500 * time.Millisecond, MaxJitter: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Add(ctr.target("burner")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the loop start
	raw0, t0 := ctr.rc.rawCPUNanos(t), time.Now()
	stop := runCollector(t, c)
	waitSamples(t, c, ctr.cgroup, 7, 20*time.Second)
	stop()
	raw1, t1 := ctr.rc.rawCPUNanos(t), time.Now()

	r, ok, err := c.Rates(ctr.cgroup)
	if err != nil || !ok || !r.HasCPU {
		t.Fatalf("Rates: %+v %v %v", r, ok, err)
	}
	w, err := c.WindowSummary(ctr.cgroup, WindowMinute)
	if err != nil {
		t.Fatal(err)
	}
	rawRate := float64(raw1-raw0) / t1.Sub(t0).Seconds()
	t.Logf("busy busybox container: last rate %d nanocores over %v, mean %d over %v; raw cpuacct rate %.0f",
		r.CPUNanoCores, r.Interval, w.CPUNanoCores.Mean, w.Covered, rawRate)
	for name, v := range map[string]uint64{"last rate": r.CPUNanoCores, "window mean": w.CPUNanoCores.Mean} {
		if v < 900_000_000 || v > 1_100_000_000 {
			t.Errorf("%s = %d nanocores, want one core within 10%%", name, v)
		}
	}
	// The collector's figure and the raw counter over (about) the same
	// span agree within 5 % of a core.
	if d := float64(w.CPUNanoCores.Mean) - rawRate; d > 0.05e9 || d < -0.05e9 {
		t.Errorf("window mean %d vs raw cgroup rate %.0f", w.CPUNanoCores.Mean, rawRate)
	}
	// Summary shows it too.
	s := c.Summary("node")
	if len(s.Pods) != 1 || len(s.Pods[0].Containers) != 1 || s.Pods[0].Containers[0].CPU.UsageNanoCores == nil {
		t.Fatalf("summary pods: %+v", s.Pods)
	}
	if got := *s.Pods[0].Containers[0].CPU.UsageNanoCores; got != r.CPUNanoCores {
		t.Errorf("summary nanocores %d, Rates %d", got, r.CPUNanoCores)
	}
	// A fresh sample is behind the raw counter read right after it by the
	// few milliseconds between the reads.
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	raw := ctr.rc.rawCPUNanos(t)
	latest, _, _ := c.Latest(ctr.cgroup)
	if u := latest.Stats.CPU.UsageNanos; u > raw || raw-u > 100_000_000 {
		t.Errorf("sample usage %d vs raw usage %d read right after", u, raw)
	}
}

func TestRuncContainerMemory(t *testing.T) {
	fsys := realFS(t)
	// The container waits for /dev/shm/go, writes 64 MiB to its tmpfs
	// /dev/shm (tmpfs pages are charged to the writer's cgroup and stay
	// there), then says done and holds them.
	script := "while [ ! -e /dev/shm/go ]; do sleep 0.05; done; " +
		"dd if=/dev/zero of=/dev/shm/fill bs=1M count=64 2>/dev/null && touch /dev/shm/done; exec sleep 600"
	ctr := startRunc(t, fsys, runcOptions{args: []string{"sh", "-c", script}})
	c, err := NewCollector(fsys, Options{Interval: 500 * time.Millisecond, MaxJitter: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Add(ctr.target("filler")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	before, _, _ := c.Latest(ctr.cgroup)
	shm := fmt.Sprintf("/proc/%d/root/dev/shm/", ctr.pid)
	if err := os.WriteFile(shm+"go", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(shm + "done"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the container never wrote its 64 MiB")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop := runCollector(t, c)
	waitSamples(t, c, ctr.cgroup, 3, 20*time.Second)
	stop()
	after, _, _ := c.Latest(ctr.cgroup)
	rawUsage, rawShmem := ctr.rc.rawMemoryUsage(t), ctr.rc.rawMemoryStat(t, "total_shmem", "shmem")

	m, m0 := after.Stats.Memory, before.Stats.Memory
	t.Logf("64 MiB in tmpfs: working set %d -> %d, usage %d (raw %d), shmem %d (raw %d), rss %d, inactive_file %d",
		m0.WorkingSetBytes, m.WorkingSetBytes, m.UsageBytes, rawUsage, m.ShmemBytes, rawShmem, m.RSSBytes, m.InactiveFileBytes)
	const want = 64 << 20
	if d := int64(m.WorkingSetBytes) - int64(m0.WorkingSetBytes); d < want-1<<20 || d > want+4<<20 {
		t.Errorf("working set grew by %d, want 64 MiB within a few MiB", d)
	}
	if m.ShmemBytes < want || m.ShmemBytes > want+1<<20 {
		t.Errorf("shmem %d, want the 64 MiB written to tmpfs", m.ShmemBytes)
	}
	// Nothing changes in the container once it sleeps: the raw files read
	// after the last sample agree with it.
	if d := int64(rawUsage) - int64(m.UsageBytes); d < -1<<20 || d > 1<<20 {
		t.Errorf("usage %d vs raw usage file %d", m.UsageBytes, rawUsage)
	}
	if d := int64(rawShmem) - int64(m.ShmemBytes); d < -256<<10 || d > 256<<10 {
		t.Errorf("shmem %d vs raw memory.stat %d", m.ShmemBytes, rawShmem)
	}
	s := c.Summary("node")
	if len(s.Pods) != 1 || len(s.Pods[0].Containers) != 1 || s.Pods[0].Containers[0].Memory.WorkingSetBytes == nil {
		t.Fatalf("summary pods: %+v", s.Pods)
	}
	if got := *s.Pods[0].Containers[0].Memory.WorkingSetBytes; got != m.WorkingSetBytes {
		t.Errorf("summary working set %d, sample %d", got, m.WorkingSetBytes)
	}
}

func TestRuncContainerNetwork(t *testing.T) {
	fsys := realFS(t)
	sb := netnstest.New(t)
	ctrNS, peer := sb.Namespace("ctr"), sb.Namespace("peer")
	sb.Veth(ctrNS, "eth0", peer, "veth-peer")
	// No IPv6 neighbour discovery or router solicitations between a sample
	// and the raw read: only the test's datagrams and their ARP exchange.
	for _, ns := range []*netnstest.Namespace{ctrNS, peer} {
		if err := ns.Do(func() error {
			return os.WriteFile("/proc/sys/net/ipv6/conf/all/disable_ipv6", []byte("1"), 0o644)
		}); err != nil {
			t.Fatal(err)
		}
	}
	ctrNS.AddAddr(t, "eth0", "10.232.0.1/24")
	peer.AddAddr(t, "veth-peer", "10.232.0.2/24")
	ctr := startRunc(t, fsys, runcOptions{args: []string{"sleep", "600"}, netns: ctrNS.Path})

	c, err := NewCollector(fsys, Options{Interval: 500 * time.Millisecond, MaxJitter: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Add(ctr.target("net")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	before, _, _ := c.Latest(ctr.cgroup)
	if before.Network == nil || len(before.Network.Interfaces) != 1 || before.Network.Interfaces[0].Name != "eth0" {
		t.Fatalf("container network before traffic: %+v", before.Network)
	}

	// Datagrams in both directions over the veth: received by a socket in
	// the container's namespace, and sent from it.
	const inbound, outbound, payload = 400, 300, 1000
	listen := func(ns *netnstest.Namespace, addr string) net.PacketConn {
		var conn net.PacketConn
		if err := ns.Do(func() error {
			var err error
			conn, err = net.ListenPacket("udp4", addr)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	// send sends n datagrams from ns to the listener rcv, in batches that
	// rcv drains before the next, so that no socket buffer overflows and
	// every datagram is known to have crossed when send returns.
	send := func(ns *netnstest.Namespace, rcv net.PacketConn, n int) {
		to := rcv.LocalAddr().String()
		if err := rcv.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := ns.Do(func() error {
			s, err := net.Dial("udp4", to)
			if err != nil {
				return err
			}
			defer s.Close()
			buf, in := make([]byte, payload), make([]byte, 2*payload)
			for sent := 0; sent < n; {
				batch := min(50, n-sent)
				for range batch {
					if _, err := s.Write(buf); err != nil {
						return err
					}
				}
				for range batch {
					if _, _, err := rcv.ReadFrom(in); err != nil {
						return fmt.Errorf("datagram %d of %d to %s: %w", sent, n, to, err)
					}
					sent++
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	send(peer, listen(ctrNS, "10.232.0.1:9999"), inbound)
	send(ctrNS, listen(peer, "10.232.0.2:9999"), outbound)

	stop := runCollector(t, c)
	waitSamples(t, c, ctr.cgroup, 3, 20*time.Second)
	stop()
	after, _, _ := c.Latest(ctr.cgroup)
	raw := rawNetDev(t, ctr.pid, "eth0")
	if after.Network == nil || len(after.Network.Interfaces) != 1 {
		t.Fatalf("container network after traffic: %+v", after.Network)
	}
	a, b := after.Network.Interfaces[0], before.Network.Interfaces[0]
	rx, tx := a.RxBytes-b.RxBytes, a.TxBytes-b.TxBytes
	// Each datagram crosses the veth as a 1042-byte frame (14 Ethernet + 20
	// IP + 8 UDP + 1000); one ARP request and reply add 84 bytes.
	const frame = 14 + 20 + 8 + payload
	t.Logf("over the container's veth: rx +%d bytes (%d datagrams in), tx +%d bytes (%d out); raw net/dev rx %d tx %d",
		rx, inbound, tx, outbound, raw[0], raw[1])
	if rx < inbound*frame || rx > inbound*frame+1024 {
		t.Errorf("rx delta %d, want %d plus at most 1024 of ARP", rx, inbound*frame)
	}
	if tx < outbound*frame || tx > outbound*frame+1024 {
		t.Errorf("tx delta %d, want %d plus at most 1024 of ARP", tx, outbound*frame)
	}
	if a.RxPackets-b.RxPackets < inbound || a.TxPackets-b.TxPackets < outbound {
		t.Errorf("packets: rx +%d tx +%d, want at least %d and %d", a.RxPackets-b.RxPackets, a.TxPackets-b.TxPackets, inbound, outbound)
	}
	if a.RxBytes != raw[0] || a.TxBytes != raw[1] {
		t.Errorf("sample rx %d tx %d vs raw /proc/%d/net/dev rx %d tx %d", a.RxBytes, a.TxBytes, ctr.pid, raw[0], raw[1])
	}
	s := c.Summary("node")
	if len(s.Pods) != 1 || s.Pods[0].Network == nil || s.Pods[0].Network.RxBytes == nil {
		t.Fatalf("summary pods: %+v", s.Pods)
	}
	if got := s.Pods[0].Network.InterfaceStats; got.Name != "eth0" || *got.RxBytes != a.RxBytes || *got.TxBytes != a.TxBytes {
		t.Errorf("summary network %s rx %d tx %d, sample rx %d tx %d", got.Name, *got.RxBytes, *got.TxBytes, a.RxBytes, a.TxBytes)
	}
}

// rawNetDev reads the receive and transmit byte counters of iface from
// /proc/<pid>/net/dev with strings and strconv, not this package's parser.
func rawNetDev(t *testing.T, pid int, iface string) [2]uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/dev", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) != iface {
			continue
		}
		f := strings.Fields(rest)
		rx, err1 := strconv.ParseUint(f[0], 10, 64)
		tx, err2 := strconv.ParseUint(f[8], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("net/dev line %q", line)
		}
		return [2]uint64{rx, tx}
	}
	t.Fatalf("no %s in /proc/%d/net/dev:\n%s", iface, pid, b)
	return [2]uint64{}
}
