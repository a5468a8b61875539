package kubelet_test

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/kubelettest"
)

func examplePod() *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "0b5c1a3e-7d2f-4c1e-9a8b-3f6d2e1c0a9b"},
		Spec: v1.PodSpec{
			InitContainers: []v1.Container{{Name: "migrate", Image: "migrate:1"}},
			Containers:     []v1.Container{{Name: "app", Image: "app:1"}},
		},
	}
}

// ExampleNew runs a pod with an init container on the fake runtime and
// prints its status after each sync.
func ExampleNew() {
	clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rt := kubelettest.NewFakeRuntime(clock)
	rt.SetAutoExit("", "migrate", 0) // the init container finishes at once
	s := kubelet.New(rt, kubelet.Options{Clock: clock, HostIPs: []string{"192.168.1.10"}})

	pod := examplePod()
	if err := s.SetPods([]*v1.Pod{pod}); err != nil {
		fmt.Println(err)
		return
	}
	for range 2 {
		_ = s.SyncOnce(context.Background())
		st, _ := s.PodStatus(pod.UID)
		fmt.Println(st.Phase, st.PodIP, st.InitContainerStatuses[0].State.Terminated.Reason, stateSummary(st.ContainerStatuses[0].State))
	}
	fmt.Print(rt.Dump())
	// Output:
	// Pending 10.88.0.3 Completed Waiting(PodInitializing)
	// Running 10.88.0.3 Completed Running
	// sandbox default/web uid=0b5c1a3e-7d2f-4c1e-9a8b-3f6d2e1c0a9b attempt=0 state=Ready ips=10.88.0.3
	//   container app attempt=0 state=Running
	//   container migrate attempt=0 state=Exited exit=0 reason=Completed
}

// ExampleSyncer_SyncOnce shows CrashLoopBackOff: the first restart is
// immediate, the second waits 10 seconds.
func ExampleSyncer_SyncOnce() {
	clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rt := kubelettest.NewFakeRuntime(clock)
	s := kubelet.New(rt, kubelet.Options{Clock: clock})
	pod := examplePod()
	pod.Spec.InitContainers = nil
	_ = s.SetPods([]*v1.Pod{pod})
	ctx := context.Background()

	show := func() {
		st, _ := s.PodStatus(pod.UID)
		c := st.ContainerStatuses[0]
		fmt.Printf("%s restarts=%d %s\n", st.Phase, c.RestartCount, stateSummary(c.State))
	}
	_ = s.SyncOnce(ctx)
	show()
	for range 2 {
		_ = rt.ExitByName(pod.UID, "app", 1, "")
		_ = s.SyncOnce(ctx)
		show()
	}
	clock.Step(10 * time.Second)
	_ = s.SyncOnce(ctx)
	show()
	// Output:
	// Running restarts=0 Running
	// Running restarts=1 Running
	// Running restarts=1 Waiting(CrashLoopBackOff)
	// Running restarts=2 Running
}

// ExampleSyncer_DeletePod terminates a pod: the preStop hook runs, then the
// container is stopped with the pod's grace period, then everything is
// removed.
func ExampleSyncer_DeletePod() {
	clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rt := kubelettest.NewFakeRuntime(clock)
	s := kubelet.New(rt, kubelet.Options{Clock: clock})
	pod := examplePod()
	pod.Spec.InitContainers = nil
	pod.Spec.TerminationGracePeriodSeconds = ptr.To[int64](15)
	pod.Spec.Containers[0].Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"/drain"}}}}
	_ = s.SetPods([]*v1.Pod{pod})
	_ = s.SyncOnce(context.Background())
	rt.ResetCalls()

	_ = s.DeletePod(pod.UID, kubelet.DeleteOptions{})
	_ = s.SyncOnce(context.Background())
	for _, c := range rt.Calls() {
		fmt.Println(c.Op, c.Name, c.GracePeriod, c.Cmd)
	}
	_, known := s.PodStatus(pod.UID)
	fmt.Println("known:", known)
	// Output:
	// ExecSync app 0s [/drain]
	// StopContainer app 15s []
	// StopPodSandbox  0s []
	// RemoveContainer app 0s []
	// RemovePodSandbox  0s []
	// known: false
}

// ExampleSyncer_Subscribe watches status changes.
func ExampleSyncer_Subscribe() {
	clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rt := kubelettest.NewFakeRuntime(clock)
	s := kubelet.New(rt, kubelet.Options{Clock: clock})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	updates := s.Subscribe(ctx)

	pod := examplePod()
	pod.Spec.InitContainers = nil
	_ = s.SetPods([]*v1.Pod{pod})
	_ = s.SyncOnce(ctx)
	u := <-updates
	fmt.Println(u.Namespace, u.Name, u.Status.Phase, u.Deleted)

	_ = s.DeletePod(pod.UID, kubelet.DeleteOptions{})
	_ = s.SyncOnce(ctx)
	for u = range updates { // the final status may come first, then Deleted
		if u.Deleted {
			break
		}
	}
	fmt.Println(u.Namespace, u.Name, u.Status.Phase, u.Deleted)
	// Output:
	// default web Running false
	// default web Failed true
}

// ExampleMilliCPUToShares shows the CPU conversions used for container
// cgroups.
func ExampleMilliCPUToShares() {
	for _, m := range []int64{0, 100, 1000} {
		shares := kubelet.MilliCPUToShares(m)
		fmt.Println(m, shares, kubelet.CPUSharesToWeight(shares), kubelet.MilliCPUToQuota(m, kubelet.QuotaPeriod))
	}
	// Output:
	// 0 2 1 0
	// 100 102 17 10000
	// 1000 1024 100 100000
}

// ExamplePodCgroupName prints the cgroup parent of a Burstable pod for
// both drivers.
func ExamplePodCgroupName() {
	pod := examplePod()
	pod.Spec.Containers[0].Resources.Requests = v1.ResourceList{v1.ResourceMemory: resource.MustParse("64Mi")}
	fmt.Println(kubelet.QOSClass(pod))
	fmt.Println(kubelet.PodCgroupName(pod, kubelet.CgroupDriverCgroupfs))
	fmt.Println(kubelet.PodCgroupName(pod, kubelet.CgroupDriverSystemd))
	// Output:
	// Burstable
	// /kubepods/burstable/pod0b5c1a3e-7d2f-4c1e-9a8b-3f6d2e1c0a9b
	// /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0b5c1a3e_7d2f_4c1e_9a8b_3f6d2e1c0a9b.slice
}

// ExamplePodResources prints the pod-level cgroup values of a Burstable
// pod whose app container limits CPU and memory. The kubelet writes them to
// the pod's cgroup (cpu.shares, cpu.cfs_quota_us, memory.limit_in_bytes on
// cgroup v1); the pod is only limited once its init container is too.
func ExamplePodResources() {
	pod := examplePod()
	limits := v1.ResourceRequirements{
		Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("250m"), v1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   v1.ResourceList{v1.ResourceCPU: resource.MustParse("1"), v1.ResourceMemory: resource.MustParse("128Mi")},
	}
	pod.Spec.Containers[0].Resources = limits
	cfg := kubelet.PodResources(pod)
	fmt.Println(kubelet.QOSClass(pod), cfg.CPUShares, cfg.CPUQuota, cfg.CPUPeriod, cfg.MemoryLimit)
	pod.Spec.InitContainers[0].Resources = limits
	cfg = kubelet.PodResources(pod)
	fmt.Println(kubelet.QOSClass(pod), cfg.CPUShares, cfg.CPUQuota, cfg.CPUPeriod, cfg.MemoryLimit)
	// Output:
	// Burstable 256 0 0 0
	// Burstable 256 100000 100000 134217728
}
