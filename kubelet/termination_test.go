package kubelet_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/kubelettest"
)

// stops returns "name:grace" for every StopContainer call of pod uid.
func stops(rt *kubelettest.FakeRuntime, uid types.UID) []string {
	var out []string
	for _, c := range rt.Calls() {
		if c.Op == kubelettest.OpStopContainer && c.PodUID == uid {
			out = append(out, c.Name+":"+c.GracePeriod.String())
		}
	}
	return out
}

func deleted(p *v1.Pod, now time.Time, grace int64) *v1.Pod {
	p = p.DeepCopy()
	t := metav1.NewTime(now)
	p.DeletionTimestamp = &t
	p.DeletionGracePeriodSeconds = ptr.To(grace)
	return p
}

func TestTerminationGracePeriod(t *testing.T) {
	tests := []struct {
		name string
		pod  *v1.Pod
		// actions run in order; each is followed by one sync. The
		// StopContainer of the pod fails until the last action.
		actions []func(e *testEnv, pod *v1.Pod)
		want    []string
	}{
		{
			name: "spec grace period when deleted without a deletion grace",
			pod:  newPod("p"),
			actions: []func(e *testEnv, pod *v1.Pod){
				func(e *testEnv, pod *v1.Pod) { _ = e.s.DeletePod(pod.UID, kubelet.DeleteOptions{}) },
			},
			want: []string{"app:30s"},
		},
		{
			name: "deletion grace period wins over the spec",
			pod:  newPod("p"),
			actions: []func(e *testEnv, pod *v1.Pod){
				func(e *testEnv, pod *v1.Pod) { _ = e.s.UpdatePod(deleted(pod, e.clock.Now(), 20)) },
			},
			want: []string{"app:20s"},
		},
		{
			name: "grace period never grows",
			pod:  newPod("p"),
			actions: []func(e *testEnv, pod *v1.Pod){
				func(e *testEnv, pod *v1.Pod) { _ = e.s.UpdatePod(deleted(pod, e.clock.Now(), 20)) },
				func(e *testEnv, pod *v1.Pod) { _ = e.s.UpdatePod(deleted(pod, e.clock.Now(), 25)) },
			},
			want: []string{"app:20s"},
		},
		{
			name: "override shrinks it",
			pod:  newPod("p"),
			actions: []func(e *testEnv, pod *v1.Pod){
				func(e *testEnv, pod *v1.Pod) { _ = e.s.UpdatePod(deleted(pod, e.clock.Now(), 20)) },
				func(e *testEnv, pod *v1.Pod) {
					_ = e.s.DeletePod(pod.UID, kubelet.DeleteOptions{GracePeriodSeconds: ptr.To[int64](5)})
				},
			},
			want: []string{"app:5s"},
		},
		{
			name: "two second floor per container",
			pod:  newPod("p"),
			actions: []func(e *testEnv, pod *v1.Pod){
				func(e *testEnv, pod *v1.Pod) { _ = e.s.UpdatePod(deleted(pod, e.clock.Now(), 0)) },
			},
			want: []string{"app:2s"},
		},
		{
			name: "spec grace period zero still gets the floor",
			pod:  newPod("p", func(p *v1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](0) }),
			actions: []func(e *testEnv, pod *v1.Pod){
				func(e *testEnv, pod *v1.Pod) { _ = e.s.DeletePod(pod.UID, kubelet.DeleteOptions{}) },
			},
			want: []string{"app:2s"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, kubelet.Options{})
			_ = e.s.SetPods([]*v1.Pod{tc.pod})
			e.sync()
			for i, act := range tc.actions {
				last := i == len(tc.actions)-1
				if !last {
					e.rt.InjectError(kubelettest.OpStopContainer, tc.pod.UID, errBoom, 1)
				}
				act(e, tc.pod)
				e.sync()
			}
			if got := stops(e.rt, tc.pod.UID); !slices.Equal(got, tc.want) {
				t.Fatalf("stop calls %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDeletePodRemovesEverything(t *testing.T) {
	e := newEnv(t, kubelet.Options{})
	pod := newPod("p", withSidecar("s1"))
	_ = e.s.SetPods([]*v1.Pod{pod})
	e.syncN(2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	updates := e.s.Subscribe(ctx)
	if err := e.s.DeletePod(pod.UID, kubelet.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.sync()
	if d := e.rt.Dump(); d != "" {
		t.Fatalf("runtime not empty after delete:\n%s", d)
	}
	if _, ok := e.s.PodStatus(pod.UID); ok {
		t.Fatal("status still present after delete")
	}
	var last kubelet.StatusUpdate
	timeout := time.After(5 * time.Second)
	for !last.Deleted {
		select {
		case last = <-updates:
		case <-timeout:
			t.Fatal("no Deleted update")
		}
	}
	if last.UID != pod.UID || last.Status == nil || last.Status.Phase != v1.PodFailed {
		t.Fatalf("final update %+v", last)
	}
	if err := e.s.DeletePod(pod.UID, kubelet.DeleteOptions{}); err == nil {
		t.Fatal("second delete of a forgotten pod succeeded")
	}
}

func TestSidecarOrdering(t *testing.T) {
	e := newEnv(t, kubelet.Options{})
	pod := newPod("p", withSidecar("s1", "s2"), withInit("i1"), withSidecar("s3"), withContainers("a", "b"))
	e.rt.SetAutoExit(pod.UID, "i1", 0)
	_ = e.s.SetPods([]*v1.Pod{pod})
	e.syncN(6)
	if got, want := short(e.status(pod.UID)), "Running init:s1=Running/restarts:0/ready init:s2=Running/restarts:0/ready init:i1=Terminated(Completed,0)/restarts:0/ready init:s3=Running/restarts:0/ready a=Running/restarts:0/ready b=Running/restarts:0/ready"; got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	var starts []string
	for _, c := range e.rt.Calls() {
		if c.Op == kubelettest.OpStartContainer {
			starts = append(starts, c.Name)
		}
	}
	if want := []string{"s1", "s2", "i1", "s3", "a", "b"}; !slices.Equal(starts, want) {
		t.Fatalf("start order %v, want %v", starts, want)
	}

	// A crashed sidecar is restarted while the pod keeps running, and the
	// init container does not run again.
	if err := e.rt.ExitByName(pod.UID, "s2", 1, ""); err != nil {
		t.Fatal(err)
	}
	e.sync()
	if got := containerSummary(e.cstatus(pod.UID, "s2")); got != "s2=Running/last:Terminated(Error,1)/restarts:1/ready" {
		t.Fatalf("restarted sidecar: %s", got)
	}
	if st := e.status(pod.UID); st.Phase != v1.PodRunning {
		t.Fatalf("phase %s", st.Phase)
	}

	e.rt.ResetCalls()
	_ = e.s.DeletePod(pod.UID, kubelet.DeleteOptions{})
	e.sync()
	got := stops(e.rt, pod.UID)
	// Regular containers first (in any order), then sidecars in reverse.
	if len(got) != 5 {
		t.Fatalf("stops %v", got)
	}
	regular := got[:2]
	slices.Sort(regular)
	if !slices.Equal(regular, []string{"a:30s", "b:30s"}) || !slices.Equal(got[2:], []string{"s3:30s", "s2:30s", "s1:30s"}) {
		t.Fatalf("stop order %v, want a and b, then s3, s2, s1", got)
	}
}

func TestSidecarsStoppedWhenRegularContainersComplete(t *testing.T) {
	e := newEnv(t, kubelet.Options{})
	pod := newPod("job", withRestartPolicy(v1.RestartPolicyNever), withSidecar("proxy"))
	_ = e.s.SetPods([]*v1.Pod{pod})
	e.syncN(2)
	if got := short(e.status(pod.UID)); got != "Running init:proxy=Running/restarts:0/ready app=Running/restarts:0/ready" {
		t.Fatal(got)
	}
	_ = e.rt.ExitByName(pod.UID, "app", 0, "")
	e.sync()
	if got, want := short(e.status(pod.UID)), "Succeeded init:proxy=Terminated(Error,143)/restarts:0 app=Terminated(Completed,0)/restarts:0"; got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got := stops(e.rt, pod.UID); !slices.Equal(got, []string{"proxy:30s"}) {
		t.Fatalf("stops %v", got)
	}
}

func TestPreStopExecHook(t *testing.T) {
	e := newEnv(t, kubelet.Options{})
	pod := newPod("p", func(p *v1.Pod) {
		p.Spec.Containers[0].Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"drain"}}}}
	})
	_ = e.s.SetPods([]*v1.Pod{pod})
	e.sync()
	e.rt.ResetCalls()
	_ = e.s.DeletePod(pod.UID, kubelet.DeleteOptions{})
	e.sync()
	var got []string
	for _, c := range e.rt.Calls() {
		got = append(got, c.String())
	}
	want := []string{
		`ExecSync pod=uid-p container=app attempt=0 cmd=["drain"]`,
		`StopContainer pod=uid-p container=app attempt=0 grace=30s`,
		`StopPodSandbox pod=uid-p attempt=0`,
		`RemoveContainer pod=uid-p container=app attempt=0`,
		`RemovePodSandbox pod=uid-p attempt=0`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("calls (-want +got):\n%s", diff)
	}
}

func TestPreStopTimeIsSubtracted(t *testing.T) {
	e := newEnv(t, kubelet.Options{})
	pod := newPod("p", func(p *v1.Pod) {
		p.Spec.Containers[0].Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"slow"}}}}
	})
	// The hook takes 12 seconds of (fake) time.
	e.rt.SetExecHandler(func(ctx context.Context, c kubelet.ContainerStatus, cmd []string) (kubelet.ExecResult, error) {
		e.clock.Step(12 * time.Second)
		return kubelet.ExecResult{}, nil
	})
	_ = e.s.SetPods([]*v1.Pod{pod})
	e.sync()
	_ = e.s.DeletePod(pod.UID, kubelet.DeleteOptions{})
	e.sync()
	if got := stops(e.rt, pod.UID); !slices.Equal(got, []string{"app:18s"}) {
		t.Fatalf("stops %v, want the 30s grace minus 12s of preStop", got)
	}
}

func TestHTTPHooks(t *testing.T) {
	var postStart, preStop atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/start":
			postStart.Add(1)
		case "/stop":
			if r.Header.Get("X-Reason") == "shutdown" {
				preStop.Add(1)
			}
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	e := newEnv(t, kubelet.Options{})
	pod := newPod("p", func(p *v1.Pod) {
		c := &p.Spec.Containers[0]
		c.Ports = []v1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}
		c.Lifecycle = &v1.Lifecycle{
			PostStart: &v1.LifecycleHandler{HTTPGet: &v1.HTTPGetAction{Host: "127.0.0.1", Port: intstr.FromInt(port), Path: "/start"}},
			PreStop: &v1.LifecycleHandler{HTTPGet: &v1.HTTPGetAction{Host: "127.0.0.1", Port: intstr.FromString("http"), Path: "stop",
				HTTPHeaders: []v1.HTTPHeader{{Name: "X-Reason", Value: "shutdown"}}}},
		}
	})
	_ = e.s.SetPods([]*v1.Pod{pod})
	e.sync()
	if postStart.Load() != 1 {
		t.Fatalf("postStart hook ran %d times", postStart.Load())
	}
	_ = e.s.DeletePod(pod.UID, kubelet.DeleteOptions{})
	e.sync()
	if preStop.Load() != 1 {
		t.Fatalf("preStop hook ran %d times", preStop.Load())
	}
}

func TestPostStartHookFailure(t *testing.T) {
	e := newEnv(t, kubelet.Options{})
	pod := newPod("p", func(p *v1.Pod) {
		p.Spec.Containers[0].Lifecycle = &v1.Lifecycle{PostStart: &v1.LifecycleHandler{Exec: &v1.ExecAction{Command: []string{"init-db"}}}}
	})
	fail := true
	e.rt.SetExecHandler(func(ctx context.Context, c kubelet.ContainerStatus, cmd []string) (kubelet.ExecResult, error) {
		if fail {
			return kubelet.ExecResult{ExitCode: 1, Stderr: []byte("no db")}, nil
		}
		return kubelet.ExecResult{}, nil
	})
	_ = e.s.SetPods([]*v1.Pod{pod})
	e.sync()
	cs := e.cstatus(pod.UID, "app")
	wantMsg := `Exec lifecycle hook ([init-db]) for Container "app" in Pod "p_default(uid-p)" failed - error: command 'init-db' exited with 1: no db, message: "no db"`
	if cs.State.Waiting == nil || cs.State.Waiting.Reason != kubelet.ReasonPostStartHookError || cs.State.Waiting.Message != wantMsg {
		t.Fatalf("after failed postStart: %s %+v", containerSummary(cs), cs.State.Waiting)
	}
	if got := stops(e.rt, pod.UID); !slices.Equal(got, []string{"app:30s"}) {
		t.Fatalf("container not killed after failed postStart: %v", got)
	}
	fail = false
	e.sync() // first restart after an exit is immediate
	if got := containerSummary(e.cstatus(pod.UID, "app")); got != "app=Running/last:Terminated(Error,143)/restarts:1/ready" {
		t.Fatal(got)
	}
}
