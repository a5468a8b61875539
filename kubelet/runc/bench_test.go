package runc

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

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

func benchmarkPodStart(b *testing.B, pods int, hostNetwork bool) {
	env := newTestEnv(b, true)
	r := env.newRuntime(b)
	e := startEngine(b, r, kubelet.Options{})
	img, err := env.images.Resolve(context.Background(), testImage)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var engineTotal, rawTotal time.Duration
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
		b.StartTimer()
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
		engineTotal += time.Since(start)
		if testing.Verbose() {
			b.Logf("iteration %d: %s", i, time.Since(start))
		}
		b.StopTimer()
		cancel()

		raw, err := rawStartCost(ctx, env, r, img.RootfsPath, i)
		if err != nil {
			b.Fatal(err)
		}
		rawTotal += raw

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
	b.ReportMetric(float64(engineTotal.Milliseconds())/float64(b.N), "ms/start")
	b.ReportMetric(float64(rawTotal.Milliseconds())/float64(b.N), "raw-ms/start")
	if rawTotal > 0 {
		b.ReportMetric(float64(engineTotal)/float64(rawTotal), "overhead-ratio")
	}
}

// rawStartCost copies the bundles of the running containers of r (root
// filesystem on an overlay of its own, a cgroup of its own), then times runc
// create + runc start of all of them at once, and removes them again.
func rawStartCost(ctx context.Context, env *testEnv, r *Runtime, lower string, iter int) (time.Duration, error) {
	cs, err := r.ListContainers(ctx, kubelet.ContainerFilter{State: kubelet.ContainerRunning})
	if err != nil {
		return 0, err
	}
	runcRoot := filepath.Join(filepath.Dir(env.root), "raw-runc")
	var ids, bundles []string
	defer func() {
		for _, id := range ids {
			_ = exec.Command(r.runcPath, "--root", runcRoot, "delete", "--force", id).Run()
		}
		for _, b := range bundles {
			_ = removeAllUnmounted(b)
		}
	}()
	for n, c := range cs {
		var spec specs.Spec
		data, err := os.ReadFile(filepath.Join(r.bundleDir(c.ID), fileSpec))
		if err != nil {
			return 0, err
		}
		if err := json.Unmarshal(data, &spec); err != nil {
			return 0, err
		}
		id := "raw-" + strconv.Itoa(iter) + "-" + strconv.Itoa(n)
		bundle := filepath.Join(filepath.Dir(env.root), "raw", id)
		bundles = append(bundles, bundle)
		if _, err := mountRootfs(lower, bundle, filepath.Join(bundle, "rootfs")); err != nil {
			return 0, err
		}
		spec.Root.Path = filepath.Join(bundle, "rootfs")
		spec.Linux.CgroupsPath = path.Join(env.cgroupRoot, "raw", id)
		data, err = json.Marshal(&spec)
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(bundle, fileSpec), data, 0o600); err != nil {
			return 0, err
		}
		ids = append(ids, id)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	start := time.Now()
	for n, id := range ids {
		wg.Go(func() {
			// The container inherits runc create's standard streams: a
			// file, which exec does not wait on as it would on a pipe.
			logPath := filepath.Join(bundles[n], "runc.log")
			out, err := os.Create(logPath)
			if err != nil {
				errs[n] = err
				return
			}
			defer out.Close()
			for _, args := range [][]string{{"create", "--bundle", bundles[n], id}, {"start", id}} {
				cmd := exec.CommandContext(ctx, r.runcPath, append([]string{"--root", runcRoot}, args...)...)
				cmd.Stdout, cmd.Stderr = out, out
				if err := cmd.Run(); err != nil {
					msg, _ := os.ReadFile(logPath)
					errs[n] = fmt.Errorf("runc %v: %w: %s", args, err, msg)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return elapsed, nil
}
