package prober_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/kubelettest"
	"github.com/nodekit/nodekit/kubelet/prober"
)

// ExampleManager runs a pod with an exec readiness probe on the fake
// runtime: the pod becomes Ready when the probe passes and not Ready when
// it fails, without restarting the container.
func ExampleManager() {
	clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rt := kubelettest.NewFakeRuntime(clock)
	var healthy atomic.Bool
	rt.SetExecHandler(func(ctx context.Context, c kubelet.ContainerStatus, cmd []string) (kubelet.ExecResult, error) {
		if healthy.Load() {
			return kubelet.ExecResult{ExitCode: 0}, nil
		}
		return kubelet.ExecResult{ExitCode: 1}, nil
	})

	pm := prober.New(rt, prober.Options{Clock: clock})
	s := kubelet.New(rt, kubelet.Options{Clock: clock, Probes: pm})
	ctx, cancel := context.WithCancel(context.Background())
	updates := s.Subscribe(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = s.Run(ctx) }()
	go func() { defer wg.Done(); _ = pm.Run(ctx, s) }()
	defer wg.Wait()
	defer cancel()

	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "5e1f0c1a-0000-4000-8000-000000000001"},
		Spec: v1.PodSpec{Containers: []v1.Container{{
			Name: "app", Image: "app:1",
			ReadinessProbe: &v1.Probe{
				ProbeHandler:  v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"/ready"}}},
				PeriodSeconds: 1, FailureThreshold: 1,
			},
		}}},
	}
	_ = s.SetPods([]*v1.Pod{pod})

	// waitFor steps the fake clock until a subscriber sees the wanted
	// container state.
	waitFor := func(running, ready bool) {
		for {
			select {
			case u := <-updates:
				cs := u.Status.ContainerStatuses
				if len(cs) == 1 && (cs[0].State.Running != nil) == running && cs[0].Ready == ready {
					fmt.Printf("running=%v ready=%v restarts=%d\n", running, ready, cs[0].RestartCount)
					return
				}
			case <-time.After(time.Millisecond):
				clock.Step(time.Second)
			}
		}
	}
	waitFor(true, false)
	healthy.Store(true)
	waitFor(true, true)
	healthy.Store(false)
	waitFor(true, false)
	// Output:
	// running=true ready=false restarts=0
	// running=true ready=true restarts=0
	// running=true ready=false restarts=0
}

// ExampleOptions_dialContext runs a tcpSocket readiness probe through
// Options.DialContext, as a program whose pods live in another network
// namespace would (its dialer would connect from inside that namespace).
// Here the dialer sends every probe connection to a listener on loopback
// in place of the fake runtime's pod.
func ExampleOptions_dialContext() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = ln.Close() }()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	var dials atomic.Int64
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		dials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, ln.Addr().String())
	}

	clock := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rt := kubelettest.NewFakeRuntime(clock)
	pm := prober.New(rt, prober.Options{Clock: clock, DialContext: dial})
	s := kubelet.New(rt, kubelet.Options{Clock: clock, Probes: pm})
	ctx, cancel := context.WithCancel(context.Background())
	updates := s.Subscribe(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = s.Run(ctx) }()
	go func() { defer wg.Done(); _ = pm.Run(ctx, s) }()
	defer wg.Wait()
	defer cancel()

	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default", UID: "5e1f0c1a-0000-4000-8000-000000000002"},
		Spec: v1.PodSpec{Containers: []v1.Container{{
			Name: "db", Image: "db:1",
			ReadinessProbe: &v1.Probe{
				ProbeHandler:  v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt32(5432)}},
				PeriodSeconds: 1,
			},
		}}},
	}
	_ = s.SetPods([]*v1.Pod{pod})
	for {
		select {
		case u := <-updates:
			if cs := u.Status.ContainerStatuses; len(cs) == 1 && cs[0].Ready {
				fmt.Printf("ready=%v, probed through the dialer: %v\n", cs[0].Ready, dials.Load() > 0)
				return
			}
		case <-time.After(time.Millisecond):
			clock.Step(time.Second)
		}
	}
	// Output:
	// ready=true, probed through the dialer: true
}
