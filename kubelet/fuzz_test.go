package kubelet_test

import (
	"errors"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/kubelet"
)

// byteReader hands out fuzz bytes, zero when exhausted.
type byteReader struct {
	b []byte
	i int
}

func (r *byteReader) next() byte {
	if r.i >= len(r.b) {
		return 0
	}
	r.i++
	return r.b[r.i-1]
}

func (r *byteReader) pick(n int) int { return int(r.next()) % n }

var fuzzNames = []string{"a", "b", "c", "app", "side", "init", "Bad_Name", "", "a"}

func fuzzContainer(r *byteReader) v1.Container {
	c := v1.Container{Name: fuzzNames[r.pick(len(fuzzNames))], Image: []string{"img:1", "img:2", ""}[r.pick(3)]}
	switch r.pick(6) {
	case 1:
		c.Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"x"}}}}
	case 2:
		c.Lifecycle = &v1.Lifecycle{PostStart: &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"y"}}}}
	case 3:
		c.Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{}}
	}
	return c
}

// buildPod turns fuzz bytes into a pod, valid or not.
func buildPod(r *byteReader) *v1.Pod {
	p := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "fz", Namespace: "default", UID: types.UID("uid-fz")}}
	if r.pick(16) == 0 {
		p.Namespace = "Bad NS"
	}
	p.Spec.RestartPolicy = []v1.RestartPolicy{"", v1.RestartPolicyAlways, v1.RestartPolicyOnFailure, v1.RestartPolicyNever, "Sometimes"}[r.pick(5)]
	for range r.pick(3) {
		c := fuzzContainer(r)
		switch r.pick(3) {
		case 1:
			c.RestartPolicy = ptr.To(v1.ContainerRestartPolicyAlways)
		case 2:
			if r.pick(4) == 0 {
				c.RestartPolicy = ptr.To(v1.ContainerRestartPolicy("Never"))
			}
		}
		p.Spec.InitContainers = append(p.Spec.InitContainers, c)
	}
	for range r.pick(4) {
		p.Spec.Containers = append(p.Spec.Containers, fuzzContainer(r))
	}
	if v := r.pick(5); v > 0 {
		p.Spec.TerminationGracePeriodSeconds = ptr.To(int64(v) - 2)
	}
	if v := r.pick(4); v > 0 {
		p.Spec.ActiveDeadlineSeconds = ptr.To(int64(v*20) - 20)
	}
	p.Spec.HostNetwork = r.pick(4) == 0
	return p
}

func FuzzSyncerNeverPanics(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add([]byte{0, 1, 2, 1, 0, 0, 1, 3, 3, 0, 2, 1, 1, 1, 4, 2, 0, 9, 9, 9, 9, 9})
	f.Add([]byte{0, 3, 1, 4, 1, 1, 1, 2, 3, 0, 0, 1, 0, 0, 0, 3, 5, 255, 7, 128, 64})
	f.Add([]byte{0, 2, 2, 3, 0, 1, 1, 1, 3, 3, 0, 0, 2, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &byteReader{b: data}
		pod := buildPod(r)
		e := newEnv(t, kubelet.Options{})
		for _, c := range pod.Spec.InitContainers {
			if r.pick(2) == 0 {
				e.rt.SetAutoExit(pod.UID, c.Name, int32(r.pick(3)))
			}
		}
		err := e.s.SetPods([]*v1.Pod{pod})
		invalid := errors.Is(err, kubelet.ErrInvalidPod)
		if err != nil && !invalid {
			t.Fatalf("SetPods: %v", err)
		}
		for range 8 {
			switch r.pick(6) {
			case 0:
				if len(pod.Spec.Containers) > 0 {
					_ = e.rt.ExitByName(pod.UID, pod.Spec.Containers[r.pick(len(pod.Spec.Containers))].Name, int32(r.pick(3)), "")
				}
			case 1:
				e.step(time.Duration(r.pick(40)) * time.Second)
			case 2:
				d := pod.DeepCopy()
				now := metav1.NewTime(e.clock.Now())
				d.DeletionTimestamp = &now
				d.DeletionGracePeriodSeconds = ptr.To(int64(r.pick(4)))
				_ = e.s.UpdatePod(d)
			case 3:
				_ = e.s.DeletePod(pod.UID, kubelet.DeleteOptions{GracePeriodSeconds: ptr.To(int64(r.pick(3)))})
			}
			e.sync()
		}
		st, ok := e.s.PodStatus(pod.UID)
		if invalid {
			// DeletePod may have forgotten it; if it is known, it is Failed.
			if ok && (st.Phase != v1.PodFailed || st.Reason != kubelet.ReasonInvalidPod) {
				t.Fatalf("invalid pod status %+v", st)
			}
			for _, c := range e.rt.Calls() {
				if c.PodUID == pod.UID {
					t.Fatalf("runtime touched for an invalid pod: %s", c)
				}
			}
			return
		}
		if ok {
			switch st.Phase {
			case v1.PodPending, v1.PodRunning, v1.PodSucceeded, v1.PodFailed:
			default:
				t.Fatalf("phase %q", st.Phase)
			}
			if len(st.ContainerStatuses) != len(pod.Spec.Containers) || len(st.InitContainerStatuses) != len(pod.Spec.InitContainers) {
				t.Fatalf("status has %d/%d container statuses for %d/%d containers", len(st.InitContainerStatuses), len(st.ContainerStatuses), len(pod.Spec.InitContainers), len(pod.Spec.Containers))
			}
		}
	})
}
