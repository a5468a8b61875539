package runc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodekit/nodekit/kubelet"
)

// BenchmarkPodStart measures the time from SetPods to every pod Running
// (sandbox with network namespace and CNI, overlay, spec, conmon, runc
// create and start, engine sync), one container per pod, for 1 pod and for 10
// pods at once. In the same run it measures the raw cost of runc create +
// runc start of copies of the same bundles (same config.json, same sandbox
// namespaces, an overlay of their own, prepared beforehand) started just as
// concurrently, and reports the ratio of the two as overhead-ratio.
//
// The runc-hostnetwork variant runs the same pods on the host network, so
// that the cost of the pod network (CNI) can be told from the rest.
//
// Besides wall time it reports the CPU time the whole machine spent
// (cpu-ms/start, raw-cpu-ms/start, from /proc/stat): with 10 pods at once on
// a small machine, start time is CPU time. It also times two more
// baselines on copies of the same bundles, with none of the runtime's code
// in between:
//   - cni (pods off the host network): raw runc create + start, where each
//     runc create runs while new network, IPC and UTS namespaces are made
//     and attached by libcni to the same CNI networks (loopback and the
//     bridge list) from the node's namespace, and runc start waits for
//     that, as in the runtime. cni-ratio is its time over raw's: what the
//     CNI plugins alone add to runc.
//   - floor: the same, with runc create run by conmon with the runtime's
//     arguments. floor-ratio is its time over raw's: the least a runtime
//     made of the components this package prescribes (conmon, runc and,
//     off the host network, the CNI plugins) can reach; runtime-ratio is
//     ours over the floor, the cost of this package's own code.
//
// Every start, ours and each baseline's, is timed once the machine has been
// idle for 100 ms (quiesce), so that none pays for the kernel's
// asynchronous teardown of the one before it.
//
// The state root (bundles, runc's root, exit files, logs) is on a tmpfs of
// its own, as a node's volatile runtime state is (/run/runc,
// /run/containerd, /run/containers); NODEKIT_BENCH_STATE_ON_DISK=1 keeps it
// in the temporary directory instead.
func BenchmarkPodStart(b *testing.B) {
	for _, variant := range []struct {
		name        string
		hostNetwork bool
	}{{"runc", false}, {"runc-hostnetwork", true}} {
		for _, n := range []int{1, 10} {
			b.Run(fmt.Sprintf("%s/pods=%d", variant.name, n), func(b *testing.B) {
				benchmarkPodStart(b, n, variant.hostNetwork)
			})
		}
	}
}

// baseline is a way of starting copies of the runtime's bundles without the
// runtime.
type baseline int

const (
	// baselineRaw is runc create + runc start alone.
	baselineRaw baseline = iota
	// baselineCNI adds the pod network attached while runc create runs.
	baselineCNI
	// baselineFloor is baselineCNI (off the host network; baselineRaw on
	// it) with runc create run by conmon.
	baselineFloor
)

func (bl baseline) String() string {
	return [...]string{"raw", "cni", "floor"}[bl]
}

// timing sums the wall and machine CPU times of a benchmark's iterations.
type timing struct{ wall, cpu time.Duration }

func (t *timing) add(wall, cpu time.Duration) { t.wall += wall; t.cpu += cpu }

func benchmarkPodStart(b *testing.B, pods int, hostNetwork bool) {
	env := newTestEnv(b, true)
	if os.Getenv("NODEKIT_BENCH_STATE_ON_DISK") != "1" {
		env.stateOnTmpfs(b)
	}
	r := env.newRuntime(b)
	e := startEngine(b, r, kubelet.Options{})
	img, err := env.images.Resolve(context.Background(), testImage)
	if err != nil {
		b.Fatal(err)
	}
	baselines := []baseline{baselineRaw, baselineFloor}
	if !hostNetwork {
		baselines = []baseline{baselineRaw, baselineCNI, baselineFloor}
	}
	ctx := context.Background()
	var ours timing
	base := make([]timing, len(baselines))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		var set []*v1.Pod
		for p := range pods {
			pod := testPod(fmt.Sprintf("bench-%d-%d", i, p), []string{"sleep", "3600"})
			pod.UID = types.UID(fmt.Sprintf("bench-uid-%d-%d", i, p))
			zero := int64(0)
			pod.Spec.TerminationGracePeriodSeconds = &zero
			pod.Spec.HostNetwork = hostNetwork
			set = append(set, pod)
		}
		subCtx, cancel := context.WithCancel(ctx)
		updates := e.Subscribe(subCtx)
		quiesce(b)
		b.StartTimer()
		cpu0 := machineCPU(b)
		start := time.Now()
		if err := e.SetPods(set); err != nil {
			b.Fatal(err)
		}
		running := map[types.UID]bool{}
		for u := range updates {
			if u.Status != nil && allRunning(u.Status) {
				running[u.UID] = true
			}
			if len(running) == pods {
				break
			}
		}
		ours.add(time.Since(start), machineCPU(b)-cpu0)
		if testing.Verbose() {
			b.Logf("iteration %d: %s", i, time.Since(start))
		}
		b.StopTimer()
		cancel()

		// The baselines take turns at running first, so that none always
		// runs right after the runtime's start.
		for k := range baselines {
			n := (i + k) % len(baselines)
			wall, cpu, err := baselineStartCost(ctx, b, env, r, img.RootfsPath, i, hostNetwork, baselines[n])
			if err != nil {
				b.Fatal(err)
			}
			base[n].add(wall, cpu)
		}

		if err := e.SetPods(nil); err != nil {
			b.Fatal(err)
		}
		waitFor(b, 2*time.Minute, "pods removed", func() bool {
			sbs, _ := r.ListPodSandboxes(ctx, kubelet.SandboxFilter{})
			return len(sbs) == 0
		})
		b.StartTimer()
	}
	b.StopTimer()
	perStart := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(perStart(ours.wall), "ms/start")
	b.ReportMetric(perStart(ours.cpu), "cpu-ms/start")
	raw := base[0]
	for n, bl := range baselines {
		b.ReportMetric(perStart(base[n].wall), bl.String()+"-ms/start")
		b.ReportMetric(perStart(base[n].cpu), bl.String()+"-cpu-ms/start")
		if bl != baselineRaw && raw.wall > 0 {
			b.ReportMetric(float64(base[n].wall)/float64(raw.wall), bl.String()+"-ratio")
		}
		if bl == baselineFloor && base[n].wall > 0 {
			b.ReportMetric(float64(ours.wall)/float64(base[n].wall), "runtime-ratio")
		}
	}
	if raw.wall > 0 {
		b.ReportMetric(float64(ours.wall)/float64(raw.wall), "overhead-ratio")
	}
}

// stateOnTmpfs mounts a tmpfs over the directory of the env's state root
// and images (made anew), which the env's cleanup unmounts.
func (e *testEnv) stateOnTmpfs(b *testing.B) {
	dir := filepath.Dir(e.root)
	if err := mountTmpfs(dir, 0, 0o700, 0); err != nil {
		b.Fatal(err)
	}
	if err := WriteBusyboxImage(context.Background(), e.images, testImage, ""); err != nil {
		b.Fatal(err)
	}
}

// quiesce waits (at most two seconds) until the machine has been all but
// idle for 100 ms, so that no start is timed while the kernel still tears
// down what the previous one left (cgroups, namespaces, processes).
func quiesce(b *testing.B) {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		cpu0 := machineCPU(b)
		time.Sleep(100 * time.Millisecond)
		if machineCPU(b)-cpu0 <= 10*time.Millisecond {
			return
		}
	}
}

// machineCPU returns the CPU time all of the machine's CPUs have spent
// running anything (user, nice, system, irq and softirq time in
// /proc/stat), which counts the runtime, conmon, runc, the CNI plugins and
// the kernel's own threads alike.
func machineCPU(b *testing.B) time.Duration {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		b.Fatalf("/proc/stat: unexpected first line %q", line)
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7} { // user nice system irq softirq
		n, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			b.Fatalf("/proc/stat: %v", err)
		}
		ticks += n
	}
	// USER_HZ is 100 on every Linux architecture Go supports.
	return time.Duration(ticks) * 10 * time.Millisecond
}

// baselineStartCost copies the bundles of the running containers of r (root
// filesystem on an overlay of its own, a cgroup of its own), then starts
// all of them at once as bl says (for pods on the host network when
// hostNetwork), and removes them again. It returns the
// wall time and the machine's CPU time of the start.
func baselineStartCost(ctx context.Context, b *testing.B, env *testEnv, r *Runtime, lower string, iter int, hostNetwork bool, bl baseline) (time.Duration, time.Duration, error) {
	cs, err := r.ListContainers(ctx, kubelet.ContainerFilter{State: kubelet.ContainerRunning})
	if err != nil {
		return 0, 0, err
	}
	withCNI := !hostNetwork && bl != baselineRaw
	dir := filepath.Join(filepath.Dir(env.root), bl.String())
	runcRoot := filepath.Join(dir, "runc")
	dirs := conmonDirs{exits: filepath.Join(dir, "exits"), sockets: filepath.Join(dir, "attach"), runcRoot: runcRoot}
	for _, d := range []string{dirs.exits, dirs.sockets} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return 0, 0, err
		}
	}
	var ids, bundles []string
	conmons := make([]int, len(cs))
	nets := make([]rawNetwork, len(cs))
	defer func() {
		for _, id := range ids {
			_ = exec.Command(r.runcPath, "--root", runcRoot, "delete", "--force", id).Run()
		}
		for _, pid := range conmons {
			waitPID(ctx, pid, 10*time.Second)
		}
		for _, n := range nets {
			n.release(ctx, r)
		}
		for _, b := range bundles {
			_ = removeAllUnmounted(b)
		}
		_ = os.RemoveAll(dir)
	}()
	for n, c := range cs {
		var spec specs.Spec
		data, err := os.ReadFile(filepath.Join(r.bundleDir(c.ID), fileSpec))
		if err != nil {
			return 0, 0, err
		}
		if err := json.Unmarshal(data, &spec); err != nil {
			return 0, 0, err
		}
		id := bl.String() + "-" + strconv.Itoa(iter) + "-" + strconv.Itoa(n)
		bundle := filepath.Join(dir, id)
		bundles = append(bundles, bundle)
		if _, err := mountRootfs(lower, bundle, filepath.Join(bundle, "rootfs")); err != nil {
			return 0, 0, err
		}
		spec.Root.Path = filepath.Join(bundle, "rootfs")
		spec.Linux.CgroupsPath = path.Join(env.cgroupRoot, bl.String(), id)
		data, err = json.Marshal(&spec)
		if err != nil {
			return 0, 0, err
		}
		if err := os.WriteFile(filepath.Join(bundle, fileSpec), data, 0o600); err != nil {
			return 0, 0, err
		}
		ids = append(ids, id)
		if withCNI {
			if err := os.Mkdir(filepath.Join(bundle, "ns"), 0o700); err != nil {
				return 0, 0, err
			}
			nets[n] = rawNetwork{dir: filepath.Join(bundle, "ns"), rt: r.net.runtimeConf(&sandboxRecord{ID: id, PodName: id, PodNamespace: "bench", PodUID: types.UID(id)}, "")}
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	quiesce(b)
	cpu0 := machineCPU(b)
	start := time.Now()
	for n, id := range ids {
		wg.Go(func() {
			attached := make(chan error, 1)
			if withCNI {
				go func() { attached <- nets[n].attach(ctx, r) }()
			} else {
				attached <- nil
			}
			// The container inherits runc create's standard streams: a
			// file, which exec does not wait on as it would on a pipe.
			logPath := filepath.Join(bundles[n], "runc.log")
			out, err := os.Create(logPath)
			if err != nil {
				errs[n] = err
				return
			}
			defer out.Close()
			runc := func(args ...string) error {
				cmd := exec.CommandContext(ctx, r.runcPath, append([]string{"--root", runcRoot}, args...)...)
				cmd.Stdout, cmd.Stderr = out, out
				if err := cmd.Run(); err != nil {
					msg, _ := os.ReadFile(logPath)
					return fmt.Errorf("runc %v: %w: %s", args, err, msg)
				}
				return nil
			}
			if bl == baselineFloor {
				c := &containerRecord{ID: id, Name: "c", LogPath: filepath.Join(bundles[n], "container.log")}
				conmons[n], _, errs[n] = startConmon(ctx, r.conmonPath, conmonArgs(c, bundles[n], r.runcPath, dirs), bundles[n])
			} else {
				errs[n] = runc("create", "--bundle", bundles[n], id)
			}
			if err := errors.Join(errs[n], <-attached); err != nil {
				errs[n] = err
				return
			}
			errs[n] = runc("start", id)
		})
	}
	wg.Wait()
	wall, cpu := time.Since(start), machineCPU(b)-cpu0
	if err := errors.Join(errs...); err != nil {
		return 0, 0, err
	}
	return wall, cpu, nil
}

// rawNetwork is a baseline's pod network: namespaces in dir, attached to
// the runtime's CNI networks as rt.
type rawNetwork struct {
	dir string
	rt  *libcni.RuntimeConf
}

// attach makes the namespaces and adds them to the loopback and the pod
// network lists at once, each from a thread in the node's namespace.
func (n *rawNetwork) attach(ctx context.Context, r *Runtime) error {
	ns, err := createPodNamespaces(n.dir, true, true, true, n.rt.ContainerID)
	if err != nil {
		return err
	}
	n.rt.NetNS = ns.Net
	lo := *n.rt
	lo.IfName = "lo"
	loErr := make(chan error, 1)
	go func() {
		loErr <- inNetNS(r.net.nodeNS, func() error {
			_, err := r.net.cni.AddNetworkList(ctx, r.net.loopback, &lo)
			return err
		})
	}()
	err = inNetNS(r.net.nodeNS, func() error {
		_, err := r.net.cni.AddNetworkList(ctx, r.net.pod, n.rt)
		return err
	})
	return errors.Join(err, <-loErr)
}

// release detaches and removes what attach made.
func (n *rawNetwork) release(ctx context.Context, r *Runtime) {
	if n.rt == nil || n.rt.NetNS == "" {
		return
	}
	_ = inNetNS(r.net.nodeNS, func() error {
		lo := *n.rt
		lo.IfName = "lo"
		return errors.Join(r.net.cni.DelNetworkList(ctx, r.net.pod, n.rt), r.net.cni.DelNetworkList(ctx, r.net.loopback, &lo))
	})
	_ = unmountUnder(n.dir)
}
