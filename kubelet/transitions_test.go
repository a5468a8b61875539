package kubelet_test

import (
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/kubelettest"
)

// short renders phase, reason and container states.
func short(st *v1.PodStatus) string {
	var parts []string
	p := string(st.Phase)
	if st.Reason != "" {
		p += "(" + st.Reason + ")"
	}
	parts = append(parts, p)
	for _, c := range st.InitContainerStatuses {
		parts = append(parts, "init:"+containerSummary(c))
	}
	for _, c := range st.ContainerStatuses {
		parts = append(parts, containerSummary(c))
	}
	return strings.Join(parts, " ")
}

type step struct {
	name string
	do   func(e *testEnv, pod *v1.Pod)
	// syncs is the number of SyncOnce calls after do (default 1, -1 none).
	syncs int
	want  string
}

func exit(name string, code int32) func(e *testEnv, pod *v1.Pod) {
	return func(e *testEnv, pod *v1.Pod) {
		e.t.Helper()
		if err := e.rt.ExitByName(pod.UID, name, code, ""); err != nil {
			e.t.Fatal(err)
		}
	}
}

func advance(d time.Duration) func(e *testEnv, pod *v1.Pod) {
	return func(e *testEnv, pod *v1.Pod) { e.step(d) }
}

func runSteps(t *testing.T, e *testEnv, pod *v1.Pod, steps []step) {
	t.Helper()
	for i, s := range steps {
		if s.do != nil {
			s.do(e, pod)
		}
		n := s.syncs
		if n == 0 {
			n = 1
		}
		if n > 0 {
			e.syncN(n)
		}
		if s.want == "" {
			continue
		}
		if got := short(e.status(pod.UID)); got != s.want {
			t.Fatalf("step %d (%s):\n got: %s\nwant: %s\nruntime:\n%s", i, s.name, got, s.want, e.rt.Dump())
		}
	}
}

func TestTransitions(t *testing.T) {
	tests := []struct {
		name  string
		pod   *v1.Pod
		setup func(e *testEnv, pod *v1.Pod)
		steps []step
	}{
		{
			name: "always: crash restarts at once, then CrashLoopBackOff 10s",
			pod:  newPod("p"),
			steps: []step{
				{name: "start", want: "Running app=Running/restarts:0/ready"},
				{name: "crash", do: exit("app", 1), want: "Running app=Running/last:Terminated(Error,1)/restarts:1/ready"},
				{name: "crash again", do: exit("app", 2), want: "Running app=Waiting(CrashLoopBackOff)/last:Terminated(Error,2)/restarts:1"},
				{name: "9s later", do: advance(9 * time.Second), want: "Running app=Waiting(CrashLoopBackOff)/last:Terminated(Error,2)/restarts:1"},
				{name: "10s later", do: advance(time.Second), want: "Running app=Running/last:Terminated(Error,2)/restarts:2/ready"},
			},
		},
		{
			name: "always: a clean exit is restarted too",
			pod:  newPod("p"),
			steps: []step{
				{want: "Running app=Running/restarts:0/ready"},
				{do: exit("app", 0), want: "Running app=Running/last:Terminated(Completed,0)/restarts:1/ready"},
			},
		},
		{
			name: "onFailure: success completes the pod",
			pod:  newPod("p", withRestartPolicy(v1.RestartPolicyOnFailure)),
			steps: []step{
				{want: "Running app=Running/restarts:0/ready"},
				{do: exit("app", 0), want: "Succeeded app=Terminated(Completed,0)/restarts:0"},
				{name: "stays", do: advance(time.Hour), syncs: 2, want: "Succeeded app=Terminated(Completed,0)/restarts:0"},
			},
		},
		{
			name: "onFailure: failure restarts",
			pod:  newPod("p", withRestartPolicy(v1.RestartPolicyOnFailure)),
			steps: []step{
				{want: "Running app=Running/restarts:0/ready"},
				{do: exit("app", 3), want: "Running app=Running/last:Terminated(Error,3)/restarts:1/ready"},
			},
		},
		{
			name: "never: failure fails the pod",
			pod:  newPod("p", withRestartPolicy(v1.RestartPolicyNever)),
			steps: []step{
				{want: "Running app=Running/restarts:0/ready"},
				{do: exit("app", 1), want: "Failed app=Terminated(Error,1)/restarts:0"},
				{do: advance(time.Hour), syncs: 2, want: "Failed app=Terminated(Error,1)/restarts:0"},
			},
		},
		{
			name: "never: two containers, one still running keeps the pod Running",
			pod:  newPod("p", withRestartPolicy(v1.RestartPolicyNever), withContainers("a", "b")),
			steps: []step{
				{want: "Running a=Running/restarts:0/ready b=Running/restarts:0/ready"},
				{do: exit("a", 0), want: "Running a=Terminated(Completed,0)/restarts:0 b=Running/restarts:0/ready"},
				{do: exit("b", 0), want: "Succeeded a=Terminated(Completed,0)/restarts:0 b=Terminated(Completed,0)/restarts:0"},
			},
		},
		{
			name: "OOMKilled is reported as such",
			pod:  newPod("p", withRestartPolicy(v1.RestartPolicyNever)),
			steps: []step{
				{want: "Running app=Running/restarts:0/ready"},
				{do: func(e *testEnv, pod *v1.Pod) { _ = e.rt.ExitByName(pod.UID, "app", 137, kubelet.ReasonOOMKilled) }, want: "Failed app=Terminated(OOMKilled,137)/restarts:0"},
			},
		},
		{
			name: "init containers run one at a time, in order",
			pod:  newPod("p", withInit("i1", "i2")),
			setup: func(e *testEnv, pod *v1.Pod) {
				e.rt.SetAutoExit(pod.UID, "i1", 0)
				e.rt.SetAutoExit(pod.UID, "i2", 0)
			},
			steps: []step{
				{name: "i1", want: "Pending init:i1=Terminated(Completed,0)/restarts:0/ready init:i2=Waiting(PodInitializing)/restarts:0 app=Waiting(PodInitializing)/restarts:0"},
				{name: "i2", want: "Pending init:i1=Terminated(Completed,0)/restarts:0/ready init:i2=Terminated(Completed,0)/restarts:0/ready app=Waiting(PodInitializing)/restarts:0"},
				{name: "app", want: "Running init:i1=Terminated(Completed,0)/restarts:0/ready init:i2=Terminated(Completed,0)/restarts:0/ready app=Running/restarts:0/ready"},
			},
		},
		{
			name: "init container running keeps the pod Pending",
			pod:  newPod("p", withInit("i1")),
			steps: []step{
				{want: "Pending init:i1=Running/restarts:0 app=Waiting(PodInitializing)/restarts:0"},
				{name: "the sync that sees i1 done starts app", do: exit("i1", 0), want: "Running init:i1=Terminated(Completed,0)/restarts:0/ready app=Running/restarts:0/ready"},
			},
		},
		{
			name: "never: failed init container fails the pod, app never starts",
			pod:  newPod("p", withInit("i1"), withRestartPolicy(v1.RestartPolicyNever)),
			setup: func(e *testEnv, pod *v1.Pod) {
				e.rt.SetAutoExit(pod.UID, "i1", 1)
			},
			steps: []step{
				{want: "Failed init:i1=Terminated(Error,1)/restarts:0 app=Waiting(PodInitializing)/restarts:0"},
				{syncs: 3, want: "Failed init:i1=Terminated(Error,1)/restarts:0 app=Waiting(PodInitializing)/restarts:0"},
			},
		},
		{
			name: "always: failed init container is retried with backoff",
			pod:  newPod("p", withInit("i1")),
			setup: func(e *testEnv, pod *v1.Pod) {
				e.rt.SetAutoExit(pod.UID, "i1", 1)
			},
			steps: []step{
				{want: "Pending init:i1=Terminated(Error,1)/restarts:0 app=Waiting(PodInitializing)/restarts:0"},
				{want: "Pending init:i1=Terminated(Error,1)/last:Terminated(Error,1)/restarts:1 app=Waiting(PodInitializing)/restarts:0"},
				{want: "Pending init:i1=Waiting(CrashLoopBackOff)/last:Terminated(Error,1)/restarts:1 app=Waiting(PodInitializing)/restarts:0"},
				{do: func(e *testEnv, pod *v1.Pod) { e.rt.SetAutoExit(pod.UID, "i1", 0); e.step(10 * time.Second) },
					want: "Pending init:i1=Terminated(Completed,0)/last:Terminated(Error,1)/restarts:2/ready app=Waiting(PodInitializing)/restarts:0"},
				{want: "Running init:i1=Terminated(Completed,0)/restarts:2/ready app=Running/restarts:0/ready"},
			},
		},
		{
			name: "changed definition restarts the container",
			pod:  newPod("p"),
			steps: []step{
				{want: "Running app=Running/restarts:0/ready"},
				{do: func(e *testEnv, pod *v1.Pod) {
					p := pod.DeepCopy()
					p.Spec.Containers[0].Image = "app:2"
					if err := e.s.UpdatePod(p); err != nil {
						e.t.Fatal(err)
					}
				}, want: "Running app=Running/last:Terminated(Error,143)/restarts:1/ready"},
			},
		},
		{
			name: "changed definition restarts even with restartPolicy Never",
			pod:  newPod("p", withRestartPolicy(v1.RestartPolicyNever)),
			steps: []step{
				{want: "Running app=Running/restarts:0/ready"},
				{do: func(e *testEnv, pod *v1.Pod) {
					p := pod.DeepCopy()
					p.Spec.Containers[0].Env = []v1.EnvVar{{Name: "A", Value: "b"}}
					_ = e.s.UpdatePod(p)
				}, want: "Running app=Running/last:Terminated(Error,143)/restarts:1/ready"},
			},
		},
		{
			name: "image pull error, then backoff, then success",
			pod:  newPod("p"),
			setup: func(e *testEnv, pod *v1.Pod) {
				e.rt.SetImageMissing("app:1", true)
			},
			steps: []step{
				{want: "Pending app=Waiting(ErrImagePull)/restarts:0"},
				{do: advance(5 * time.Second), want: "Pending app=Waiting(ImagePullBackOff)/restarts:0"},
				{do: func(e *testEnv, pod *v1.Pod) { e.rt.SetImageMissing("app:1", false); e.step(5 * time.Second) },
					want: "Running app=Running/restarts:0/ready"},
			},
		},
		{
			name: "create and start failures give CreateContainerError and RunContainerError",
			pod:  newPod("p"),
			setup: func(e *testEnv, pod *v1.Pod) {
				e.rt.InjectError(kubelettest.OpCreateContainer, pod.UID, errBoom, 1)
			},
			steps: []step{
				{want: "Pending app=Waiting(CreateContainerError)/restarts:0"},
				{do: func(e *testEnv, pod *v1.Pod) {
					e.rt.InjectError(kubelettest.OpStartContainer, pod.UID, errBoom, 1)
				}, want: "Pending app=Waiting(RunContainerError)/restarts:0"},
				{want: "Running app=Running/restarts:1/ready"},
			},
		},
		{
			name: "CreateContainerConfigError from the runtime",
			pod:  newPod("p"),
			setup: func(e *testEnv, pod *v1.Pod) {
				e.rt.InjectError(kubelettest.OpCreateContainer, pod.UID, kubelet.ErrCreateContainerConfig, 0)
			},
			steps: []step{
				{want: "Pending app=Waiting(CreateContainerConfigError)/restarts:0"},
			},
		},
		{
			name: "a pod the API already reports Succeeded is never started",
			pod:  newPod("p", func(p *v1.Pod) { p.Status.Phase = v1.PodSucceeded }),
			steps: []step{
				{syncs: 2, want: "Succeeded app=Waiting(ContainerCreating)/restarts:0"},
				{syncs: -1, do: func(e *testEnv, pod *v1.Pod) {
					if n := countOp(e.rt, kubelettest.OpRunPodSandbox) + countOp(e.rt, kubelettest.OpCreateContainer); n != 0 {
						e.t.Fatalf("%d runtime calls for a terminal pod", n)
					}
				}},
			},
		},
		{
			name: "sandbox creation fails, then succeeds",
			pod:  newPod("p"),
			setup: func(e *testEnv, pod *v1.Pod) {
				e.rt.InjectError(kubelettest.OpRunPodSandbox, pod.UID, errBoom, 1)
			},
			steps: []step{
				{want: "Pending app=Waiting(ContainerCreating)/restarts:0"},
				{want: "Running app=Running/restarts:0/ready"},
			},
		},
		{
			name: "sandbox lost: recreated with all containers",
			pod:  newPod("p"),
			steps: []step{
				{want: "Running app=Running/restarts:0/ready"},
				{name: "kill sandbox", do: func(e *testEnv, pod *v1.Pod) {
					for _, sb := range e.rt.Sandboxes() {
						_ = e.rt.StopPodSandbox(t.Context(), sb.ID)
					}
				}, syncs: -1},
				{want: "Running app=Running/last:Terminated(Error,137)/restarts:1/ready"},
			},
		},
		{
			name: "a container in Unknown state is killed and replaced",
			pod:  newPod("p"),
			steps: []step{
				{want: "Running app=Running/restarts:0/ready"},
				{name: "runtime loses track", do: func(e *testEnv, pod *v1.Pod) {
					for _, c := range e.rt.Containers() {
						_ = e.rt.MarkUnknown(c.ID)
					}
				}, want: "Running app=Running/last:Terminated(Error,137)/restarts:1/ready"},
			},
		},
		{
			name: "activeDeadlineSeconds fails the pod with DeadlineExceeded",
			pod:  newPod("p", func(p *v1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr.To[int64](60) }),
			steps: []step{
				{want: "Running app=Running/restarts:0/ready"},
				{do: advance(59 * time.Second), want: "Running app=Running/restarts:0/ready"},
				{do: advance(time.Second), want: "Failed(DeadlineExceeded) app=Terminated(Error,143)/restarts:0"},
			},
		},
		{
			name: "deletion terminates the pod",
			pod:  newPod("p"),
			steps: []step{
				{want: "Running app=Running/restarts:0/ready"},
				{do: func(e *testEnv, pod *v1.Pod) {
					p := pod.DeepCopy()
					now := metav1.NewTime(e.clock.Now())
					p.DeletionTimestamp = &now
					p.DeletionGracePeriodSeconds = ptr.To[int64](10)
					_ = e.s.UpdatePod(p)
				}, want: "Failed app=Terminated(Error,143)/restarts:0"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, kubelet.Options{})
			if tc.setup != nil {
				tc.setup(e, tc.pod)
			}
			if err := e.s.SetPods([]*v1.Pod{tc.pod}); err != nil {
				t.Fatal(err)
			}
			runSteps(t, e, tc.pod, tc.steps)
		})
	}
}

var errBoom = errorString("boom")

type errorString string

func (e errorString) Error() string { return string(e) }
