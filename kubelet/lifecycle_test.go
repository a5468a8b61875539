package kubelet_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/kubelettest"
)

func countOp(rt *kubelettest.FakeRuntime, op kubelettest.Op) int {
	n := 0
	for _, c := range rt.Calls() {
		if c.Op == op {
			n++
		}
	}
	return n
}

func TestAdoptionKeepsRestartCountsAndLastState(t *testing.T) {
	e := newEnv(t, kubelet.Options{})
	pod := newPod("p", withInit("i1"), withSidecar("s1"))
	e.rt.SetAutoExit(pod.UID, "i1", 0)
	_ = e.s.SetPods([]*v1.Pod{pod})
	e.syncN(3)
	_ = e.rt.ExitByName(pod.UID, "app", 7, "")
	e.sync()
	_ = e.rt.ExitByName(pod.UID, "app", 3, "")
	e.step(10 * 1e9)
	e.syncN(2)
	before := short(e.status(pod.UID))
	if want := "Running init:i1=Terminated(Completed,0)/restarts:0/ready init:s1=Running/restarts:0/ready app=Running/last:Terminated(Error,3)/restarts:2/ready"; before != want {
		t.Fatalf("before restart:\n got %s\nwant %s", before, want)
	}
	creates := countOp(e.rt, kubelettest.OpCreateContainer)
	dump := e.rt.Dump()

	// The embedding program restarts: a new Syncer on the same runtime.
	s2 := kubelet.New(e.rt, kubelet.Options{Clock: e.clock, HostIPs: []string{"192.168.1.10"}})
	if err := s2.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	e.s = s2
	e.syncN(3)
	if got := short(e.status(pod.UID)); got != before {
		t.Fatalf("after adoption:\n got %s\nwant %s", got, before)
	}
	if n := countOp(e.rt, kubelettest.OpCreateContainer); n != creates {
		t.Fatalf("adoption created %d containers", n-creates)
	}
	if got := e.rt.Dump(); got != dump {
		t.Fatalf("runtime changed by adoption:\nbefore:\n%s\nafter:\n%s", dump, got)
	}
	// The next crash continues the count.
	_ = e.rt.ExitByName(pod.UID, "app", 1, "")
	e.sync()
	if cs := e.cstatus(pod.UID, "app"); cs.RestartCount != 3 || cs.State.Running == nil {
		t.Fatalf("after crash: %s", containerSummary(cs))
	}
}

var dumpIPRe = regexp.MustCompile(`ips=[0-9a-f.:,]+`)

func TestOrphansAreRemoved(t *testing.T) {
	e := newEnv(t, kubelet.Options{})
	p1, p2 := newPod("p1"), newPod("p2")
	_ = e.s.SetPods([]*v1.Pod{p1, p2})
	e.sync()
	// A sandbox and container the Syncer did not create (no managed-by
	// label) must be left alone.
	sb, err := e.rt.RunPodSandbox(t.Context(), &kubelet.SandboxConfig{PodUID: "foreign", PodName: "foreign", PodNamespace: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.CreateContainer(t.Context(), sb, &kubelet.ContainerConfig{Name: "x", Image: "x"}); err != nil {
		t.Fatal(err)
	}

	s2 := kubelet.New(e.rt, kubelet.Options{Clock: e.clock})
	e.s = s2
	// Before the desired set is declared, nothing is touched.
	if err := s2.AddPod(p1); err != nil {
		t.Fatal(err)
	}
	e.sync()
	if got := e.rt.Dump(); !strings.Contains(got, "p2") {
		t.Fatalf("orphan removed before SetPods:\n%s", got)
	}
	_ = s2.SetPods([]*v1.Pod{p1})
	e.sync()
	// The fake hands out IPs in sandbox creation order, which depends on
	// which of p1 and p2 synced first; the IPs are not what is tested here.
	want := `sandbox default/p1 uid=uid-p1 attempt=0 state=Ready ips=<ip>
  container app attempt=0 state=Running
sandbox other/foreign uid=foreign attempt=0 state=Ready ips=<ip>
  container x attempt=0 state=Created
`
	if got := dumpIPRe.ReplaceAllString(e.rt.Dump(), "ips=<ip>"); got != want {
		t.Fatalf("runtime after orphan cleanup:\n%s\nwant:\n%s", got, want)
	}
	if got := stops(e.rt, p2.UID); len(got) != 1 || got[0] != "app:30s" {
		t.Fatalf("orphan container stops %v (grace from the container's annotation)", got)
	}
}

func TestDroppedFromSetPodsIsTerminated(t *testing.T) {
	e := newEnv(t, kubelet.Options{})
	p1, p2 := newPod("p1"), newPod("p2")
	_ = e.s.SetPods([]*v1.Pod{p1, p2})
	e.sync()
	_ = e.s.SetPods([]*v1.Pod{p1})
	e.sync()
	if _, ok := e.s.PodStatus(p2.UID); ok {
		t.Fatal("p2 still known")
	}
	if got := stops(e.rt, p2.UID); len(got) != 1 || got[0] != "app:30s" {
		t.Fatalf("p2 stops %v", got)
	}
	if strings.Contains(e.rt.Dump(), "p2") {
		t.Fatalf("p2 left in runtime:\n%s", e.rt.Dump())
	}
}

func TestGarbageCollectionKeepsOneDeadContainer(t *testing.T) {
	e := newEnv(t, kubelet.Options{})
	pod := newPod("p", withContainers("app", "other"))
	_ = e.s.SetPods([]*v1.Pod{pod})
	e.sync()
	for range 6 {
		restartDelay(t, e, pod, 1)
	}
	e.sync()
	n := 0
	for _, c := range e.rt.Containers() {
		if c.Name == "app" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d app containers kept, want the running one and the last dead one\n%s", n, e.rt.Dump())
	}
	if cs := e.cstatus(pod.UID, "app"); cs.RestartCount != 6 || cs.LastTerminationState.Terminated == nil {
		t.Fatalf("status after GC: %s", containerSummary(cs))
	}
}

func TestInvalidPods(t *testing.T) {
	tests := []struct {
		name  string
		pod   *v1.Pod
		field string
	}{
		{"duplicate container names", newPod("p", withContainers("a", "a")), "spec.containers[1].name"},
		{"init and regular share a name", newPod("p", withInit("app")), "spec.containers[0].name"},
		{"unknown restart policy", newPod("p", withRestartPolicy("Sometimes")), "spec.restartPolicy"},
		{"container name the API rejects", newPod("p", withContainers("Bad_Name")), "spec.containers[0].name"},
		{"missing image", newPod("p", func(p *v1.Pod) { p.Spec.Containers[0].Image = "" }), "spec.containers[0].image"},
		{"no containers", newPod("p", withContainers()), "spec.containers"},
		{"init restartPolicy other than Always", newPod("p", func(p *v1.Pod) {
			p.Spec.InitContainers = []v1.Container{{Name: "i", Image: "i", RestartPolicy: ptr.To(v1.ContainerRestartPolicy("Never"))}}
		}), "spec.initContainers[0].restartPolicy"},
		{"restartPolicy on a regular container", newPod("p", func(p *v1.Pod) {
			p.Spec.Containers[0].RestartPolicy = ptr.To(v1.ContainerRestartPolicyAlways)
		}), "spec.containers[0].restartPolicy"},
		{"negative grace period", newPod("p", func(p *v1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](-1) }), "spec.terminationGracePeriodSeconds"},
		{"bad namespace", newPod("p", func(p *v1.Pod) { p.Namespace = "Not/Valid" }), "metadata.namespace"},
		{"hook with two actions", newPod("p", func(p *v1.Pod) {
			p.Spec.Containers[0].Lifecycle = &v1.Lifecycle{PreStop: &v1.LifecycleHandler{
				Exec: &v1.ExecAction{Command: []string{"x"}}, Sleep: &v1.SleepAction{Seconds: 1}}}
		}), "spec.containers[0].lifecycle.preStop"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, kubelet.Options{})
			good := newPod("good")
			err := e.s.SetPods([]*v1.Pod{tc.pod, good})
			var ipe *kubelet.InvalidPodError
			if !errors.As(err, &ipe) || !errors.Is(err, kubelet.ErrInvalidPod) {
				t.Fatalf("SetPods error %v, want an InvalidPodError", err)
			}
			if ipe.UID != tc.pod.UID || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q does not name pod %q and field %s", err, tc.pod.UID, tc.field)
			}
			e.syncN(2)
			st := e.status(tc.pod.UID)
			if st.Phase != v1.PodFailed || st.Reason != kubelet.ReasonInvalidPod || !strings.Contains(st.Message, tc.field) {
				t.Fatalf("status %s %s %q", st.Phase, st.Reason, st.Message)
			}
			for _, c := range e.rt.Calls() {
				if c.PodUID == tc.pod.UID {
					t.Fatalf("runtime touched for the invalid pod: %s", c)
				}
			}
			if got := e.status(good.UID).Phase; got != v1.PodRunning {
				t.Fatalf("valid pod next to it: %s", got)
			}
		})
	}
}

func TestInvalidUpdateIsRefused(t *testing.T) {
	e := newEnv(t, kubelet.Options{})
	pod := newPod("p")
	_ = e.s.SetPods([]*v1.Pod{pod})
	e.sync()
	bad := pod.DeepCopy()
	bad.Spec.Containers = append(bad.Spec.Containers, v1.Container{Name: "app", Image: "x"})
	if err := e.s.UpdatePod(bad); !errors.Is(err, kubelet.ErrInvalidPod) {
		t.Fatalf("UpdatePod error %v", err)
	}
	e.sync()
	if got := short(e.status(pod.UID)); got != "Running app=Running/restarts:0/ready" {
		t.Fatalf("after refused update: %s", got)
	}
	if err := e.s.AddPod(nil); !errors.Is(err, kubelet.ErrInvalidPod) {
		t.Fatalf("AddPod(nil) error %v", err)
	}
}
