package kubelet_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/kubelettest"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// testEnv is a Syncer on a fake runtime and a fake clock.
type testEnv struct {
	t     testing.TB
	clock *clocktesting.FakeClock
	rt    *kubelettest.FakeRuntime
	s     *kubelet.Syncer
}

func newEnv(t testing.TB, opts kubelet.Options) *testEnv {
	t.Helper()
	clk := clocktesting.NewFakeClock(epoch)
	rt := kubelettest.NewFakeRuntime(clk)
	if opts.Clock == nil {
		opts.Clock = clk
	}
	if opts.HostIPs == nil {
		opts.HostIPs = []string{"192.168.1.10"}
	}
	return &testEnv{t: t, clock: clk, rt: rt, s: kubelet.New(rt, opts)}
}

// sync runs one SyncOnce.
func (e *testEnv) sync() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.s.SyncOnce(ctx); err != nil {
		e.t.Fatalf("SyncOnce: %v", err)
	}
}

// syncN runs SyncOnce n times.
func (e *testEnv) syncN(n int) {
	e.t.Helper()
	for range n {
		e.sync()
	}
}

func (e *testEnv) step(d time.Duration) { e.clock.Step(d) }

func (e *testEnv) status(uid types.UID) *v1.PodStatus {
	e.t.Helper()
	st, ok := e.s.PodStatus(uid)
	if !ok {
		e.t.Fatalf("no status for pod %q", uid)
	}
	return st
}

func (e *testEnv) cstatus(uid types.UID, name string) v1.ContainerStatus {
	e.t.Helper()
	st := e.status(uid)
	for _, c := range append(append([]v1.ContainerStatus{}, st.InitContainerStatuses...), st.ContainerStatuses...) {
		if c.Name == name {
			return c
		}
	}
	e.t.Fatalf("no status for container %q of pod %q: %s", name, uid, summary(st))
	return v1.ContainerStatus{}
}

// podOpt modifies a test pod.
type podOpt func(*v1.Pod)

func newPod(name string, opts ...podOpt) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec: v1.PodSpec{
			RestartPolicy:                 v1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: ptr.To[int64](30),
			Containers:                    []v1.Container{{Name: "app", Image: "app:1"}},
		},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func withRestartPolicy(p v1.RestartPolicy) podOpt {
	return func(pod *v1.Pod) { pod.Spec.RestartPolicy = p }
}

func withContainers(names ...string) podOpt {
	return func(pod *v1.Pod) {
		pod.Spec.Containers = nil
		for _, n := range names {
			pod.Spec.Containers = append(pod.Spec.Containers, v1.Container{Name: n, Image: n + ":1"})
		}
	}
}

func withInit(names ...string) podOpt {
	return func(pod *v1.Pod) {
		for _, n := range names {
			pod.Spec.InitContainers = append(pod.Spec.InitContainers, v1.Container{Name: n, Image: n + ":1"})
		}
	}
}

func withSidecar(names ...string) podOpt {
	return func(pod *v1.Pod) {
		for _, n := range names {
			pod.Spec.InitContainers = append(pod.Spec.InitContainers, v1.Container{
				Name: n, Image: n + ":1", RestartPolicy: ptr.To(v1.ContainerRestartPolicyAlways),
			})
		}
	}
}

// summary renders the interesting parts of a status on one line.
func summary(st *v1.PodStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s", st.Phase)
	if st.Reason != "" {
		fmt.Fprintf(&b, " reason=%s", st.Reason)
	}
	for _, c := range st.Conditions {
		fmt.Fprintf(&b, " %s=%s", c.Type, c.Status)
		if c.Reason != "" {
			fmt.Fprintf(&b, "(%s)", c.Reason)
		}
	}
	for _, c := range st.InitContainerStatuses {
		fmt.Fprintf(&b, " init:%s", containerSummary(c))
	}
	for _, c := range st.ContainerStatuses {
		fmt.Fprintf(&b, " %s", containerSummary(c))
	}
	return b.String()
}

func containerSummary(c v1.ContainerStatus) string {
	s := c.Name + "=" + stateSummary(c.State)
	if c.LastTerminationState.Terminated != nil {
		s += "/last:" + stateSummary(c.LastTerminationState)
	}
	s += fmt.Sprintf("/restarts:%d", c.RestartCount)
	if c.Ready {
		s += "/ready"
	}
	return s
}

func stateSummary(s v1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "Running"
	case s.Terminated != nil:
		return fmt.Sprintf("Terminated(%s,%d)", s.Terminated.Reason, s.Terminated.ExitCode)
	case s.Waiting != nil:
		return fmt.Sprintf("Waiting(%s)", s.Waiting.Reason)
	}
	return "None"
}
