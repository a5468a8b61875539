package kubelet_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/kubelettest"
)

// runEnv is a Syncer running with the real clock.
type runEnv struct {
	rt     *kubelettest.FakeRuntime
	s      *kubelet.Syncer
	cancel context.CancelFunc
	done   chan error
}

func startRun(t *testing.T, opts kubelet.Options) *runEnv {
	t.Helper()
	rt := kubelettest.NewFakeRuntime(clock.RealClock{})
	if opts.RelistPeriod == 0 {
		opts.RelistPeriod = 20 * time.Millisecond
	}
	s := kubelet.New(rt, opts)
	ctx, cancel := context.WithCancel(context.Background())
	r := &runEnv{rt: rt, s: s, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return")
		}
	})
	return r
}

// waitFor polls cond for up to 20 seconds (a failure deadline, not a
// performance expectation).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func phaseIs(s *kubelet.Syncer, uid types.UID, phase v1.PodPhase) func() bool {
	return func() bool {
		st, ok := s.PodStatus(uid)
		return ok && st.Phase == phase
	}
}

func TestHangingPodDoesNotDelayOthers(t *testing.T) {
	r := startRun(t, kubelet.Options{RuntimeRequestTimeout: time.Hour})
	slow := newPod("slow")
	r.rt.SetLatency(kubelettest.OpCreateContainer, slow.UID, kubelettest.Hang)
	pods := []*v1.Pod{slow}
	for i := range 20 {
		pods = append(pods, newPod("fast-"+string(rune('a'+i))))
	}
	if err := r.s.SetPods(pods); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods[1:] {
		waitFor(t, string(p.UID)+" running", phaseIs(r.s, p.UID, v1.PodRunning))
	}
	// The slow pod is still stuck in its first CreateContainer (it hangs
	// for an hour), so the others were not waiting for it.
	if r.rt.Blocked() != 1 {
		t.Fatalf("%d blocked calls, want the slow pod's", r.rt.Blocked())
	}
	if st, ok := r.s.PodStatus(slow.UID); ok && st.Phase == v1.PodRunning {
		t.Fatal("slow pod running")
	}
}

func TestRuntimeCallTimeout(t *testing.T) {
	r := startRun(t, kubelet.Options{RuntimeRequestTimeout: 50 * time.Millisecond, SyncErrorRetry: 10 * time.Millisecond})
	pod := newPod("p")
	r.rt.SetLatency(kubelettest.OpCreateContainer, pod.UID, kubelettest.Hang)
	_ = r.s.SetPods([]*v1.Pod{pod})
	waitFor(t, "CreateContainerError after the call timed out", func() bool {
		st, ok := r.s.PodStatus(pod.UID)
		if !ok || len(st.ContainerStatuses) == 0 {
			return false
		}
		w := st.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == kubelet.ReasonCreateContainerError && strings.Contains(w.Message, "deadline exceeded")
	})
	r.rt.SetLatency(kubelettest.OpCreateContainer, pod.UID, 0)
	waitFor(t, "running once the runtime answers", phaseIs(r.s, pod.UID, v1.PodRunning))
}

func TestGraceShrinksWhileStopping(t *testing.T) {
	r := startRun(t, kubelet.Options{})
	pod := newPod("p")
	_ = r.s.SetPods([]*v1.Pod{pod})
	waitFor(t, "running", phaseIs(r.s, pod.UID, v1.PodRunning))
	r.rt.SetLatency(kubelettest.OpStopContainer, pod.UID, kubelettest.Hang)
	_ = r.s.DeletePod(pod.UID, kubelet.DeleteOptions{})
	waitFor(t, "StopContainer in flight", func() bool { return r.rt.Blocked() == 1 })
	r.rt.SetLatency(kubelettest.OpStopContainer, pod.UID, 0)
	_ = r.s.DeletePod(pod.UID, kubelet.DeleteOptions{GracePeriodSeconds: ptr.To[int64](3)})
	waitFor(t, "pod removed", func() bool { _, ok := r.s.PodStatus(pod.UID); return !ok })
	if got := stops(r.rt, pod.UID); !slices.Equal(got, []string{"app:3s"}) {
		t.Fatalf("stops %v, want the in-flight 30s stop cancelled and redone with 3s", got)
	}
}

func TestEventsTriggerSyncWithoutRelist(t *testing.T) {
	r := startRun(t, kubelet.Options{RelistPeriod: time.Hour, ResyncPeriod: time.Hour})
	pod := newPod("p")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	updates := r.s.Subscribe(ctx)
	_ = r.s.SetPods([]*v1.Pod{pod})
	waitFor(t, "running", phaseIs(r.s, pod.UID, v1.PodRunning))
	if err := r.rt.ExitByName(pod.UID, "app", 1, ""); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(20 * time.Second)
	for {
		select {
		case u := <-updates:
			if u.UID == pod.UID && len(u.Status.ContainerStatuses) == 1 && u.Status.ContainerStatuses[0].RestartCount == 1 {
				return
			}
		case <-deadline:
			t.Fatal("restart not seen: the exit event did not trigger a sync")
		}
	}
}

func TestRunTwice(t *testing.T) {
	r := startRun(t, kubelet.Options{})
	// A pod gets synced only while Run is active.
	pod := newPod("p")
	_ = r.s.SetPods([]*v1.Pod{pod})
	waitFor(t, "first Run active", phaseIs(r.s, pod.UID, v1.PodRunning))
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.s.Run(cancelled); err != kubelet.ErrAlreadyRunning {
		t.Fatalf("second Run: %v", err)
	}
}

func TestConcurrentUpdatesAreSafe(t *testing.T) {
	r := startRun(t, kubelet.Options{MaxConcurrentSyncs: 4})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				p := newPod("p" + string(rune('a'+g)))
				p.Spec.Containers[0].Image = "img:" + string(rune('a'+i%3))
				_ = r.s.AddPod(p)
				r.s.Trigger(p.UID)
				_, _ = r.s.PodStatus(p.UID)
			}
		}()
	}
	wg.Wait()
	for g := range 4 {
		uid := types.UID("uid-p" + string(rune('a'+g)))
		waitFor(t, string(uid)+" running", phaseIs(r.s, uid, v1.PodRunning))
	}
}
