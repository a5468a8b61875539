package kubelet_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/kubelet"
)

func benchPods(n int) []*v1.Pod {
	pods := make([]*v1.Pod, n)
	for i := range pods {
		p := newPod(fmt.Sprintf("pod-%05d", i))
		p.Labels = map[string]string{"app": "bench"}
		pods[i] = p
	}
	return pods
}

func allRunning(s *kubelet.Syncer, pods []*v1.Pod) bool {
	for _, p := range pods {
		st, ok := s.PodStatus(p.UID)
		if !ok || st.Phase != v1.PodRunning {
			return false
		}
	}
	return true
}

func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkSteadyState measures one full resync pass (relist of the whole
// runtime, then a sync of every pod) when every pod already runs as desired,
// and reports the memory the Syncer holds per pod in that state.
func BenchmarkSteadyState(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			ctx := context.Background()
			e := newEnv(b, kubelet.Options{})
			pods := benchPods(n)
			if err := e.s.SetPods(pods); err != nil {
				b.Fatal(err)
			}
			_ = e.s.SyncOnce(ctx)
			if !allRunning(e.s, pods) {
				b.Fatal("pods not running")
			}
			// Measure a fresh Syncer adopting the running pods, so that the
			// baseline holds the runtime's state and the pod list but no
			// Syncer.
			e.s = nil
			base := heapInUse()
			s := kubelet.New(e.rt, kubelet.Options{Clock: e.clock, HostIPs: []string{"192.168.1.10"}})
			if err := s.SetPods(pods); err != nil {
				b.Fatal(err)
			}
			_ = s.SyncOnce(ctx)
			_ = s.SyncOnce(ctx)
			if !allRunning(s, pods) {
				b.Fatal("pods not running after adoption")
			}
			held := heapInUse()
			e.rt.ResetCalls()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU()
			for b.Loop() {
				if err := s.SyncOnce(ctx); err != nil {
					b.Fatal(err)
				}
			}
			cpu := processCPU() - cpu0
			b.StopTimer()
			if cpu > 0 {
				// CPU time of the whole process (all goroutines, GC
				// included) per pass: unlike ns/op it does not grow when
				// other processes compete for the machine.
				b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
			}
			if calls := e.rt.Calls(); len(calls) != 0 {
				b.Fatalf("steady state made %d mutating runtime calls, first %s", len(calls), calls[0])
			}
			b.ReportMetric(float64(held-base)/float64(n), "bytes/pod")
			runtime.KeepAlive(s)
		})
	}
}

// BenchmarkStartPods measures the time from SetPods to every pod Running on
// the fake runtime with zero latency.
func BenchmarkStartPods(b *testing.B) {
	for _, n := range []int{1000} {
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			ctx := context.Background()
			pods := benchPods(n)
			b.ReportAllocs()
			var cpu time.Duration
			for b.Loop() {
				b.StopTimer()
				e := newEnv(b, kubelet.Options{})
				cpu0 := processCPU()
				b.StartTimer()
				if err := e.s.SetPods(pods); err != nil {
					b.Fatal(err)
				}
				for !allRunning(e.s, pods) {
					if err := e.s.SyncOnce(ctx); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				cpu += processCPU() - cpu0
				b.StartTimer()
			}
			if cpu > 0 {
				b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
			}
		})
	}
}
