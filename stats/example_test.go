package stats_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodekit/nodekit/stats"
)

const exampleContainer = "/kubepods/burstable/pod8f2c6d3e-3b7a-4d5e-9f10-2a6b7c8d9e01/3f9a1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8"

// ExampleNewFS reads one container's figures from a cgroup v1 fixture tree
// (files copied from a real container on kernel 6.18).
func ExampleNewFS() {
	fsys, err := stats.NewFS("testdata/v1/proc", "testdata/v1/cgroup")
	if err != nil {
		panic(err)
	}
	fmt.Println("mode:", fsys.Layout().Mode)
	s, err := fsys.Stat(exampleContainer, stats.MaskCPU|stats.MaskMemory)
	if err != nil {
		panic(err)
	}
	fmt.Println("cpu ns:", s.CPU.UsageNanos)
	fmt.Println("usage:", s.Memory.UsageBytes, "inactive_file:", s.Memory.InactiveFileBytes, "working set:", s.Memory.WorkingSetBytes)
	// Output:
	// mode: legacy
	// cpu ns: 849038869
	// usage: 8962048 inactive_file: 20480 working set: 8941568
}

// ExampleFS_Stat shows the not-found error of a cgroup that is gone.
func ExampleFS_Stat() {
	fsys, _ := stats.NewFS("testdata/v2/proc", "testdata/v2/cgroup")
	_, err := fsys.Stat("/kubepods.slice/gone.scope", stats.MaskDefault)
	fmt.Println(errors.Is(err, stats.ErrNotFound), errors.Is(err, fs.ErrNotExist))
	// Output: true true
}

// ExampleFS_Discover lists pod and container cgroups of a systemd-layout
// cgroup v2 fixture.
func ExampleFS_Discover() {
	fsys, _ := stats.NewFS("testdata/v2/proc", "testdata/v2/cgroup")
	found, _ := fsys.Discover()
	for _, d := range found {
		fmt.Println(d.QOS, d.PodUID, d.ContainerID != "")
	}
	// Output:
	// BestEffort 1b2c3d4e-5f60-4a1b-8c2d-3e4f5a6b7c8d false
	// BestEffort 1b2c3d4e-5f60-4a1b-8c2d-3e4f5a6b7c8d true
	// Guaranteed 8f2c6d3e-3b7a-4d5e-9f10-2a6b7c8d9e01 false
}

// ExampleCollector_Refresh samples a target twice on a fake clock and
// exports it.
func ExampleCollector_Refresh() {
	fsys, _ := stats.NewFS("testdata/v1/proc", "testdata/v1/cgroup")
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c, err := stats.NewCollector(fsys, stats.Options{Clock: clk})
	if err != nil {
		panic(err)
	}
	err = c.Add(stats.Target{
		ID:        exampleContainer,
		Pod:       types.NamespacedName{Namespace: "default", Name: "web-0"},
		PodUID:    "8f2c6d3e-3b7a-4d5e-9f10-2a6b7c8d9e01",
		Container: "nginx",
		PID:       4242,
	})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	_ = c.Refresh(ctx)
	clk.Step(time.Second)
	_ = c.Refresh(ctx)

	// The fixture files did not change: zero CPU rate.
	r, ok, _ := c.Rates(exampleContainer)
	fmt.Println("rates:", ok, r.HasCPU, r.CPUNanoCores)

	s := c.Summary("node-a")
	ctr := s.Pods[0].Containers[0]
	fmt.Println(s.Pods[0].PodRef.Name, ctr.Name, *ctr.Memory.WorkingSetBytes, *ctr.Memory.AvailableBytes)

	p, _ := stats.NewPrometheusCollector(c, stats.PrometheusOptions{Families: []string{"container_memory_working_set_bytes"}})
	fmt.Println("series:", testutil.CollectAndCount(p))
	// Output:
	// rates: true true 0
	// web-0 nginx 8941568 259493888
	// series: 2
}

// ExampleNewPrometheusCollector exports one metric family with cAdvisor's
// name and the kubelet's labels.
func ExampleNewPrometheusCollector() {
	fsys, _ := stats.NewFS("testdata/v1/proc", "testdata/v1/cgroup")
	c, _ := stats.NewCollector(fsys, stats.Options{Clock: clocktesting.NewFakeClock(time.Unix(0, 0))})
	_ = c.Add(stats.Target{
		ID:        exampleContainer,
		Pod:       types.NamespacedName{Namespace: "default", Name: "web-0"},
		PodUID:    "8f2c6d3e-3b7a-4d5e-9f10-2a6b7c8d9e01",
		Container: "nginx",
		Name:      "3f9a1c2b4d5e",
		Image:     "nginx:1.27",
	})
	_ = c.Refresh(context.Background())
	p, err := stats.NewPrometheusCollector(c, stats.PrometheusOptions{Families: []string{"container_memory_working_set_bytes"}})
	if err != nil {
		panic(err)
	}
	out, _ := testutil.CollectAndFormat(p, expfmt.TypeTextPlain, "container_memory_working_set_bytes")
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "nginx") || strings.HasPrefix(line, "#") {
			fmt.Println(strings.Replace(line, exampleContainer, "/kubepods/burstable/pod8f2c.../3f9a...", 1))
		}
	}
	// Output:
	// # HELP container_memory_working_set_bytes Current working set in bytes.
	// # TYPE container_memory_working_set_bytes gauge
	// container_memory_working_set_bytes{container="nginx",id="/kubepods/burstable/pod8f2c.../3f9a...",image="nginx:1.27",name="3f9a1c2b4d5e",namespace="default",pod="web-0"} 8.941568e+06
}

// ExampleCollector_Run drives the housekeeping loop with a fake clock: each
// interval of the clock is one pass.
func ExampleCollector_Run() {
	fsys, _ := stats.NewFS("testdata/v2/proc", "testdata/v2/cgroup")
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c, _ := stats.NewCollector(fsys, stats.Options{Clock: clk, Interval: time.Second, MaxJitter: -1})
	added, _, _ := c.SyncDiscovered(nil)
	fmt.Println("discovered:", added)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()
	for want := 1; want <= 3; want++ {
		for { // wait for pass number want, then for the loop to sleep
			st, _ := c.Status("/")
			if st.Samples == want && clk.HasWaiters() {
				break
			}
			time.Sleep(time.Millisecond)
		}
		if want < 3 {
			clk.Step(time.Second)
		}
	}
	cancel()
	fmt.Println("Run:", <-done)
	h, _ := c.History("/")
	fmt.Println("node samples:", len(h), "spaced", h[1].Time.Sub(h[0].Time))
	// Output:
	// discovered: 3
	// Run: <nil>
	// node samples: 3 spaced 1s
}

// fixedUsage is a DirUsageMeter reporting 4 KiB and one inode per
// directory, so that the example's output does not depend on the
// filesystem it runs on.
type fixedUsage struct{}

func (fixedUsage) Usage(_ context.Context, path string) (stats.DirUsage, error) {
	return stats.DirUsage{Bytes: 4096, Inodes: 1, Complete: true}, nil
}

// ExampleCollector_SetPodVolumes registers a pod's volumes: the Summary
// reports them in VolumeStats, and the ephemeral ones (no PVC) in the pod's
// EphemeralStorage.
func ExampleCollector_SetPodVolumes() {
	fsys, _ := stats.NewFS("testdata/v1/proc", "testdata/v1/cgroup")
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	c, err := stats.NewCollector(fsys, stats.Options{Clock: clk, DirUsage: fixedUsage{}})
	if err != nil {
		panic(err)
	}
	const uid = "8f2c6d3e-3b7a-4d5e-9f10-2a6b7c8d9e01"
	_ = c.Add(stats.Target{ID: exampleContainer, Pod: types.NamespacedName{Namespace: "default", Name: "web-0"}, PodUID: uid, Container: "nginx"})
	err = c.SetPodVolumes(uid, []stats.PodVolume{
		{Name: "cache", Path: "testdata/v1"}, // an emptyDir's directory
		{Name: "data", Path: "testdata/v2", PVC: types.NamespacedName{Namespace: "default", Name: "data-web-0"}},
	})
	fmt.Println("relative paths rejected:", errors.Is(err, stats.ErrInvalidTarget))
	wd, _ := os.Getwd()
	_ = c.SetPodVolumes(uid, []stats.PodVolume{
		{Name: "cache", Path: filepath.Join(wd, "testdata/v1")},
		{Name: "data", Path: filepath.Join(wd, "testdata/v2"), PVC: types.NamespacedName{Namespace: "default", Name: "data-web-0"}},
	})
	_ = c.Refresh(context.Background())

	pod := c.Summary("node-a").Pods[0]
	for _, v := range pod.VolumeStats {
		fmt.Println(v.Name, *v.UsedBytes, v.PVCRef != nil)
	}
	fmt.Println("ephemeral used:", *pod.EphemeralStorage.UsedBytes)
	// Output:
	// relative paths rejected: true
	// cache 4096 false
	// data 4096 true
	// ephemeral used: 4096
}
