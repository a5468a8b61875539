package kubelet

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func running(name string) v1.ContainerStatus {
	return v1.ContainerStatus{Name: name, State: v1.ContainerState{Running: &v1.ContainerStateRunning{}}, Started: ptr.To(true), Ready: true}
}

func runningNotStarted(name string) v1.ContainerStatus {
	s := running(name)
	s.Started = ptr.To(false)
	s.Ready = false
	return s
}

func terminated(name string, code int32) v1.ContainerStatus {
	return v1.ContainerStatus{Name: name, State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: code}}, Ready: code == 0}
}

func waiting(name string) v1.ContainerStatus {
	return v1.ContainerStatus{Name: name, State: v1.ContainerState{Waiting: &v1.ContainerStateWaiting{}}}
}

func waitingAfter(name string, code int32) v1.ContainerStatus {
	s := waiting(name)
	s.LastTerminationState.Terminated = &v1.ContainerStateTerminated{ExitCode: code}
	return s
}

func specPod(policy v1.RestartPolicy, inits []string, sidecars []string, regular ...string) *v1.Pod {
	p := &v1.Pod{Spec: v1.PodSpec{RestartPolicy: policy}}
	for _, n := range sidecars {
		p.Spec.InitContainers = append(p.Spec.InitContainers, v1.Container{Name: n, RestartPolicy: ptr.To(v1.ContainerRestartPolicyAlways)})
	}
	for _, n := range inits {
		p.Spec.InitContainers = append(p.Spec.InitContainers, v1.Container{Name: n})
	}
	for _, n := range regular {
		p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: n})
	}
	return p
}

func TestGetPhase(t *testing.T) {
	always, onFailure, never := v1.RestartPolicyAlways, v1.RestartPolicyOnFailure, v1.RestartPolicyNever
	tests := []struct {
		name     string
		pod      *v1.Pod
		statuses []v1.ContainerStatus
		terminal bool
		want     v1.PodPhase
	}{
		{"all running", specPod(always, nil, nil, "a", "b"), []v1.ContainerStatus{running("a"), running("b")}, false, v1.PodRunning},
		{"one waiting", specPod(always, nil, nil, "a", "b"), []v1.ContainerStatus{running("a"), waiting("b")}, false, v1.PodPending},
		{"one unknown", specPod(always, nil, nil, "a", "b"), []v1.ContainerStatus{running("a")}, false, v1.PodPending},
		{"no statuses", specPod(always, nil, nil, "a"), nil, false, v1.PodPending},
		{"always: all exited is Running (restarting)", specPod(always, nil, nil, "a"), []v1.ContainerStatus{terminated("a", 0)}, false, v1.PodRunning},
		{"always: crash looping is Running", specPod(always, nil, nil, "a"), []v1.ContainerStatus{waitingAfter("a", 1)}, false, v1.PodRunning},
		{"always, terminal: all zero is Succeeded", specPod(always, nil, nil, "a"), []v1.ContainerStatus{terminated("a", 0)}, true, v1.PodSucceeded},
		{"always, terminal: a failure is Failed", specPod(always, nil, nil, "a", "b"), []v1.ContainerStatus{terminated("a", 0), terminated("b", 137)}, true, v1.PodFailed},
		{"onFailure: all zero is Succeeded", specPod(onFailure, nil, nil, "a", "b"), []v1.ContainerStatus{terminated("a", 0), terminated("b", 0)}, false, v1.PodSucceeded},
		{"onFailure: a failure is Running (restarting)", specPod(onFailure, nil, nil, "a"), []v1.ContainerStatus{terminated("a", 1)}, false, v1.PodRunning},
		{"onFailure: one running one done", specPod(onFailure, nil, nil, "a", "b"), []v1.ContainerStatus{running("a"), terminated("b", 0)}, false, v1.PodRunning},
		{"never: a failure is Failed", specPod(never, nil, nil, "a", "b"), []v1.ContainerStatus{terminated("a", 0), terminated("b", 2)}, false, v1.PodFailed},
		{"never: all zero is Succeeded", specPod(never, nil, nil, "a"), []v1.ContainerStatus{terminated("a", 0)}, false, v1.PodSucceeded},
		{"never: waiting after exit counts as stopped, not succeeded", specPod(never, nil, nil, "a"), []v1.ContainerStatus{waitingAfter("a", 0)}, false, v1.PodFailed},
		{"empty policy means Always", specPod("", nil, nil, "a"), []v1.ContainerStatus{terminated("a", 1)}, false, v1.PodRunning},
		{"init running is Pending", specPod(always, []string{"i"}, nil, "a"), []v1.ContainerStatus{running("i"), waiting("a")}, false, v1.PodPending},
		{"init missing is Pending", specPod(always, []string{"i"}, nil, "a"), []v1.ContainerStatus{waiting("a")}, false, v1.PodPending},
		{"init failed, never: Failed", specPod(never, []string{"i"}, nil, "a"), []v1.ContainerStatus{terminated("i", 1), waiting("a")}, false, v1.PodFailed},
		{"init failed and waiting, never: Failed", specPod(never, []string{"i"}, nil, "a"), []v1.ContainerStatus{waitingAfter("i", 1), waiting("a")}, false, v1.PodFailed},
		{"init failed, onFailure: Pending", specPod(onFailure, []string{"i"}, nil, "a"), []v1.ContainerStatus{waitingAfter("i", 1), waiting("a")}, false, v1.PodPending},
		{"init done, regular running", specPod(always, []string{"i"}, nil, "a"), []v1.ContainerStatus{terminated("i", 0), running("a")}, false, v1.PodRunning},
		{"sidecar not started is Pending", specPod(always, nil, []string{"s"}, "a"), []v1.ContainerStatus{runningNotStarted("s"), waiting("a")}, false, v1.PodPending},
		{"sidecar started, regular running", specPod(always, nil, []string{"s"}, "a"), []v1.ContainerStatus{running("s"), running("a")}, false, v1.PodRunning},
		{"sidecar restarting after the pod started stays Running", specPod(always, nil, []string{"s"}, "a"), []v1.ContainerStatus{runningNotStarted("s"), running("a")}, false, v1.PodRunning},
		{"sidecar missing is unknown", specPod(always, nil, []string{"s"}, "a"), []v1.ContainerStatus{running("a")}, false, v1.PodPending},
		{"sidecar stopped, regular done, never: Succeeded", specPod(never, nil, []string{"s"}, "a"), []v1.ContainerStatus{terminated("s", 143), terminated("a", 0)}, false, v1.PodSucceeded},
		{"sidecar running keeps a finished pod Running", specPod(never, nil, []string{"s"}, "a"), []v1.ContainerStatus{running("s"), terminated("a", 0)}, false, v1.PodRunning},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := getPhase(tc.pod, tc.statuses, tc.terminal); got != tc.want {
				t.Fatalf("phase %s, want %s", got, tc.want)
			}
		})
	}
}

func TestConditions(t *testing.T) {
	gate := v1.PodConditionType("example.com/gate")
	withGate := func(p *v1.Pod) *v1.Pod {
		p.Spec.ReadinessGates = []v1.PodReadinessGate{{ConditionType: gate}}
		return p
	}
	tests := []struct {
		name       string
		pod        *v1.Pod
		statuses   []v1.ContainerStatus
		phase      v1.PodPhase
		extra      []v1.PodCondition
		ready      v1.PodCondition
		containers v1.PodCondition
		init       v1.PodCondition
	}{
		{
			name: "all ready", pod: specPod(always(), nil, nil, "a"), statuses: []v1.ContainerStatus{running("a")}, phase: v1.PodRunning,
			ready:      v1.PodCondition{Type: v1.PodReady, Status: v1.ConditionTrue},
			containers: v1.PodCondition{Type: v1.ContainersReady, Status: v1.ConditionTrue},
			init:       v1.PodCondition{Type: v1.PodInitialized, Status: v1.ConditionTrue},
		},
		{
			name: "one unready, one unknown", pod: specPod(always(), nil, nil, "a", "b", "c"), statuses: []v1.ContainerStatus{running("a"), waiting("b")}, phase: v1.PodPending,
			ready:      v1.PodCondition{Type: v1.PodReady, Status: v1.ConditionFalse, Reason: "ContainersNotReady", Message: "containers with unknown status: [c], containers with unready status: [b]"},
			containers: v1.PodCondition{Type: v1.ContainersReady, Status: v1.ConditionFalse, Reason: "ContainersNotReady", Message: "containers with unknown status: [c], containers with unready status: [b]"},
			init:       v1.PodCondition{Type: v1.PodInitialized, Status: v1.ConditionTrue},
		},
		{
			name: "no statuses at all", pod: specPod(always(), []string{"i"}, nil, "a"), statuses: nil, phase: v1.PodPending,
			ready:      v1.PodCondition{Type: v1.PodReady, Status: v1.ConditionFalse, Reason: "UnknownContainerStatuses"},
			containers: v1.PodCondition{Type: v1.ContainersReady, Status: v1.ConditionFalse, Reason: "UnknownContainerStatuses"},
			init:       v1.PodCondition{Type: v1.PodInitialized, Status: v1.ConditionFalse, Reason: "UnknownContainerStatuses"},
		},
		{
			name: "init container incomplete", pod: specPod(always(), []string{"i1", "i2"}, nil, "a"), statuses: []v1.ContainerStatus{terminated("i1", 0), runningNotStarted("i2"), waiting("a")}, phase: v1.PodPending,
			ready:      v1.PodCondition{Type: v1.PodReady, Status: v1.ConditionFalse, Reason: "ContainersNotReady", Message: "containers with unready status: [a]"},
			containers: v1.PodCondition{Type: v1.ContainersReady, Status: v1.ConditionFalse, Reason: "ContainersNotReady", Message: "containers with unready status: [a]"},
			init:       v1.PodCondition{Type: v1.PodInitialized, Status: v1.ConditionFalse, Reason: "ContainersNotInitialized", Message: "containers with incomplete status: [i2]"},
		},
		{
			name: "sidecar not started, not ready", pod: specPod(always(), nil, []string{"s"}, "a"), statuses: []v1.ContainerStatus{runningNotStarted("s"), waiting("a")}, phase: v1.PodPending,
			ready:      v1.PodCondition{Type: v1.PodReady, Status: v1.ConditionFalse, Reason: "ContainersNotReady", Message: "containers with unready status: [s a]"},
			containers: v1.PodCondition{Type: v1.ContainersReady, Status: v1.ConditionFalse, Reason: "ContainersNotReady", Message: "containers with unready status: [s a]"},
			init:       v1.PodCondition{Type: v1.PodInitialized, Status: v1.ConditionFalse, Reason: "ContainersNotInitialized", Message: "containers with incomplete status: [s]"},
		},
		{
			name: "succeeded", pod: specPod(v1.RestartPolicyNever, []string{"i"}, nil, "a"), statuses: []v1.ContainerStatus{terminated("i", 0), terminated("a", 0)}, phase: v1.PodSucceeded,
			ready:      v1.PodCondition{Type: v1.PodReady, Status: v1.ConditionFalse, Reason: "PodCompleted"},
			containers: v1.PodCondition{Type: v1.ContainersReady, Status: v1.ConditionFalse, Reason: "PodCompleted"},
			init:       v1.PodCondition{Type: v1.PodInitialized, Status: v1.ConditionTrue, Reason: "PodCompleted"},
		},
		{
			name: "failed", pod: specPod(v1.RestartPolicyNever, nil, nil, "a"), statuses: []v1.ContainerStatus{terminated("a", 1)}, phase: v1.PodFailed,
			ready:      v1.PodCondition{Type: v1.PodReady, Status: v1.ConditionFalse, Reason: "PodFailed"},
			containers: v1.PodCondition{Type: v1.ContainersReady, Status: v1.ConditionFalse, Reason: "PodFailed"},
			init:       v1.PodCondition{Type: v1.PodInitialized, Status: v1.ConditionTrue},
		},
		{
			name: "readiness gate missing", pod: withGate(specPod(always(), nil, nil, "a")), statuses: []v1.ContainerStatus{running("a")}, phase: v1.PodRunning,
			ready:      v1.PodCondition{Type: v1.PodReady, Status: v1.ConditionFalse, Reason: "ReadinessGatesNotReady", Message: `corresponding condition of pod readiness gate "example.com/gate" does not exist.`},
			containers: v1.PodCondition{Type: v1.ContainersReady, Status: v1.ConditionTrue},
			init:       v1.PodCondition{Type: v1.PodInitialized, Status: v1.ConditionTrue},
		},
		{
			name: "readiness gate false", pod: withGate(specPod(always(), nil, nil, "a")), statuses: []v1.ContainerStatus{running("a")}, phase: v1.PodRunning,
			extra:      []v1.PodCondition{{Type: gate, Status: v1.ConditionFalse}},
			ready:      v1.PodCondition{Type: v1.PodReady, Status: v1.ConditionFalse, Reason: "ReadinessGatesNotReady", Message: `the status of pod readiness gate "example.com/gate" is not "True", but False`},
			containers: v1.PodCondition{Type: v1.ContainersReady, Status: v1.ConditionTrue},
			init:       v1.PodCondition{Type: v1.PodInitialized, Status: v1.ConditionTrue},
		},
		{
			name: "readiness gate true", pod: withGate(specPod(always(), nil, nil, "a")), statuses: []v1.ContainerStatus{running("a")}, phase: v1.PodRunning,
			extra:      []v1.PodCondition{{Type: gate, Status: v1.ConditionTrue}},
			ready:      v1.PodCondition{Type: v1.PodReady, Status: v1.ConditionTrue},
			containers: v1.PodCondition{Type: v1.ContainersReady, Status: v1.ConditionTrue},
			init:       v1.PodCondition{Type: v1.PodInitialized, Status: v1.ConditionTrue},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := podReadyCondition(&tc.pod.Spec, tc.extra, tc.statuses, tc.phase); got != tc.ready {
				t.Errorf("Ready: %+v, want %+v", got, tc.ready)
			}
			if got := containersReadyCondition(&tc.pod.Spec, tc.statuses, tc.phase); got != tc.containers {
				t.Errorf("ContainersReady: %+v, want %+v", got, tc.containers)
			}
			if got := podInitializedCondition(&tc.pod.Spec, tc.statuses, tc.phase); got != tc.init {
				t.Errorf("Initialized: %+v, want %+v", got, tc.init)
			}
		})
	}
}

func always() v1.RestartPolicy { return v1.RestartPolicyAlways }

func TestReadyToStartContainersCondition(t *testing.T) {
	pod := specPod(always(), nil, nil, "a")
	hostPod := specPod(always(), nil, nil, "a")
	hostPod.Spec.HostNetwork = true
	tests := []struct {
		name string
		pod  *v1.Pod
		rt   *podRuntime
		want v1.ConditionStatus
	}{
		{"no sandbox", pod, &podRuntime{}, v1.ConditionFalse},
		{"ready sandbox with IP", pod, &podRuntime{sandboxes: []*SandboxStatus{{ID: "s", State: SandboxReady, IPs: []string{"10.0.0.1"}}}}, v1.ConditionTrue},
		{"ready sandbox without IP", pod, &podRuntime{sandboxes: []*SandboxStatus{{ID: "s", State: SandboxReady}}}, v1.ConditionFalse},
		{"host network sandbox needs no IP", hostPod, &podRuntime{sandboxes: []*SandboxStatus{{ID: "s", State: SandboxReady, HostNetwork: true}}}, v1.ConditionTrue},
		{"network mode changed", hostPod, &podRuntime{sandboxes: []*SandboxStatus{{ID: "s", State: SandboxReady, IPs: []string{"10.0.0.1"}}}}, v1.ConditionFalse},
		{"not ready sandbox", pod, &podRuntime{sandboxes: []*SandboxStatus{{ID: "s", State: SandboxNotReady}}}, v1.ConditionFalse},
		{"two ready sandboxes", pod, &podRuntime{sandboxes: []*SandboxStatus{
			{ID: "s2", State: SandboxReady, IPs: []string{"10.0.0.2"}}, {ID: "s1", State: SandboxReady, IPs: []string{"10.0.0.1"}}}}, v1.ConditionFalse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := podReadyToStartContainersCondition(tc.pod, tc.rt); got.Status != tc.want || got.Type != v1.PodReadyToStartContainers {
				t.Fatalf("got %+v, want %s", got, tc.want)
			}
		})
	}
}
