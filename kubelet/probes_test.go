package kubelet_test

import (
	"slices"
	"sync"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/kubelet"
)

// fakeProbes is a ProbeResults whose results tests set by container name.
type fakeProbes struct {
	mu sync.Mutex
	rt interface {
		Containers() []kubelet.ContainerStatus
	}
	results map[string]map[kubelet.ProbeType]kubelet.ProbeResult // by container name
}

func (p *fakeProbes) set(name string, t kubelet.ProbeType, r kubelet.ProbeResult) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.results[name] == nil {
		p.results[name] = map[kubelet.ProbeType]kubelet.ProbeResult{}
	}
	p.results[name][t] = r
}

func (p *fakeProbes) ProbeResult(id string, t kubelet.ProbeType) (kubelet.ProbeResult, bool) {
	name := ""
	for _, c := range p.rt.Containers() {
		if c.ID == id {
			name = c.Name
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.results[name][t]
	return r, ok
}

func probeEnv(t *testing.T) (*testEnv, *fakeProbes) {
	t.Helper()
	probes := &fakeProbes{results: map[string]map[kubelet.ProbeType]kubelet.ProbeResult{}}
	e := newEnv(t, kubelet.Options{Probes: probes})
	probes.rt = e.rt
	return e, probes
}

var execProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"check"}}}}

func TestReadinessProbe(t *testing.T) {
	e, probes := probeEnv(t)
	pod := newPod("p", func(p *v1.Pod) { p.Spec.Containers[0].ReadinessProbe = execProbe })
	_ = e.s.SetPods([]*v1.Pod{pod})
	e.sync()
	if got := summary(e.status(pod.UID)); got != "phase=Running PodReadyToStartContainers=True Initialized=True Ready=False(ContainersNotReady) ContainersReady=False(ContainersNotReady) PodScheduled=True app=Running/restarts:0" {
		t.Fatalf("before the first probe: %s", got)
	}
	probes.set("app", kubelet.ReadinessProbe, kubelet.ProbeSuccess)
	e.s.Trigger(pod.UID)
	e.sync()
	if got := summary(e.status(pod.UID)); got != "phase=Running PodReadyToStartContainers=True Initialized=True Ready=True ContainersReady=True PodScheduled=True app=Running/restarts:0/ready" {
		t.Fatalf("after success: %s", got)
	}
	probes.set("app", kubelet.ReadinessProbe, kubelet.ProbeFailure)
	e.s.Trigger(pod.UID)
	e.sync()
	if st := e.status(pod.UID); st.ContainerStatuses[0].Ready || st.Phase != v1.PodRunning {
		t.Fatalf("after failure: %s", summary(st))
	}
	if n := countOp(e.rt, "StopContainer"); n != 0 {
		t.Fatal("readiness failure stopped the container")
	}
}

// TestLivenessFailure: a failed liveness probe restarts the container with
// the probe's grace period; with restartPolicy Never, as in the kubelet, no
// container to keep and none to start makes it a pod kill, with the pod's
// grace period, not the probe's.
func TestLivenessFailure(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy v1.RestartPolicy
		stops  []string
		status string
	}{
		{"restarts with the probe's grace period", v1.RestartPolicyAlways, []string{"app:7s"},
			"Running app=Running/last:Terminated(Error,143)/restarts:1/ready"},
		{"with restartPolicy Never kills the pod", v1.RestartPolicyNever, []string{"app:30s"},
			"Failed app=Terminated(Error,143)/restarts:0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, probes := probeEnv(t)
			pod := newPod("p", withRestartPolicy(tc.policy), func(p *v1.Pod) {
				lp := execProbe.DeepCopy()
				lp.TerminationGracePeriodSeconds = ptr.To[int64](7)
				p.Spec.Containers[0].LivenessProbe = lp
			})
			_ = e.s.SetPods([]*v1.Pod{pod})
			e.sync()
			probes.set("app", kubelet.LivenessProbe, kubelet.ProbeFailure)
			e.s.Trigger(pod.UID)
			e.sync()
			if got := stops(e.rt, pod.UID); !slices.Equal(got, tc.stops) {
				t.Fatalf("stops %v, want %v", got, tc.stops)
			}
			if got := short(e.status(pod.UID)); got != tc.status {
				t.Fatal(got)
			}
		})
	}
}

func TestStartupProbeGatesStartedAndSidecars(t *testing.T) {
	e, probes := probeEnv(t)
	pod := newPod("p", withSidecar("proxy"), func(p *v1.Pod) {
		p.Spec.InitContainers[0].StartupProbe = execProbe
		p.Spec.Containers[0].StartupProbe = execProbe
	})
	_ = e.s.SetPods([]*v1.Pod{pod})
	e.syncN(3)
	if got := summary(e.status(pod.UID)); got != "phase=Pending PodReadyToStartContainers=True Initialized=False(ContainersNotInitialized) Ready=False(ContainersNotReady) ContainersReady=False(ContainersNotReady) PodScheduled=True init:proxy=Running/restarts:0 app=Waiting(PodInitializing)/restarts:0" {
		t.Fatalf("sidecar not started yet, app must wait: %s", got)
	}
	probes.set("proxy", kubelet.StartupProbe, kubelet.ProbeSuccess)
	e.s.Trigger(pod.UID)
	e.sync()
	st := e.status(pod.UID)
	if cs := st.ContainerStatuses[0]; cs.State.Running == nil || *cs.Started {
		t.Fatalf("app should run but not be started before its startup probe: %s", summary(st))
	}
	probes.set("app", kubelet.StartupProbe, kubelet.ProbeSuccess)
	e.s.Trigger(pod.UID)
	e.sync()
	if got := summary(e.status(pod.UID)); got != "phase=Running PodReadyToStartContainers=True Initialized=True Ready=True ContainersReady=True PodScheduled=True init:proxy=Running/restarts:0/ready app=Running/restarts:0/ready" {
		t.Fatal(got)
	}
	// A failing startup probe restarts the sidecar.
	probes.set("proxy", kubelet.StartupProbe, kubelet.ProbeFailure)
	e.s.Trigger(pod.UID)
	e.sync()
	if cs := e.cstatus(pod.UID, "proxy"); cs.RestartCount != 1 {
		t.Fatalf("sidecar after startup failure: %s", containerSummary(cs))
	}
}

func TestSidecarDefinitionChangeRestartsIt(t *testing.T) {
	e := newEnv(t, kubelet.Options{})
	pod := newPod("p", withSidecar("proxy"))
	_ = e.s.SetPods([]*v1.Pod{pod})
	e.syncN(2)
	p := pod.DeepCopy()
	p.Spec.InitContainers[0].Image = "proxy:2"
	_ = e.s.UpdatePod(p)
	e.sync()
	if got := short(e.status(pod.UID)); got != "Running init:proxy=Running/last:Terminated(Error,143)/restarts:1/ready app=Running/restarts:0/ready" {
		t.Fatal(got)
	}
	var images []string
	for _, c := range e.rt.Containers() {
		if c.Name == "proxy" && c.State == kubelet.ContainerRunning {
			images = append(images, c.Image)
		}
	}
	if !slices.Equal(images, []string{"proxy:2"}) {
		t.Fatalf("running proxy images %v", images)
	}
}

func TestInitContainersRemovedAfterInitialization(t *testing.T) {
	// Completed init containers may be garbage collected by a runtime; once
	// a regular container runs, they are not run again.
	e := newEnv(t, kubelet.Options{})
	pod := newPod("p", withInit("i1"))
	e.rt.SetAutoExit(pod.UID, "i1", 0)
	_ = e.s.SetPods([]*v1.Pod{pod})
	e.syncN(2)
	for _, c := range e.rt.Containers() {
		if c.Name == "i1" {
			_ = e.rt.RemoveContainer(t.Context(), c.ID)
		}
	}
	e.rt.ResetCalls()
	e.syncN(2)
	if n := countOp(e.rt, "StartContainer"); n != 0 {
		t.Fatalf("%d containers started after the init container vanished", n)
	}
	if st := e.status(pod.UID); st.Phase != v1.PodRunning {
		t.Fatal(summary(st))
	}
}
