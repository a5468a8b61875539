package kubelet_test

import (
	"net"
	"slices"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/nodekit/nodekit/kubelet"
)

// TestPostStartHTTPHookFailure: an httpGet postStart hook that cannot reach
// its server kills the container (FailedPostStartHook) and the container
// waits with PostStartHookError, as with an exec hook.
func TestPostStartHTTPHookFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	e := newEnv(t, kubelet.Options{})
	pod := newPod("p", func(p *v1.Pod) {
		p.Spec.Containers[0].Lifecycle = &v1.Lifecycle{PostStart: &v1.LifecycleHandler{
			HTTPGet: &v1.HTTPGetAction{Host: "127.0.0.1", Port: intstr.FromInt(port), Path: "/start"},
		}}
	})
	_ = e.s.SetPods([]*v1.Pod{pod})
	e.sync()
	cs := e.cstatus(pod.UID, "app")
	if cs.State.Waiting == nil || cs.State.Waiting.Reason != kubelet.ReasonPostStartHookError ||
		!strings.HasPrefix(cs.State.Waiting.Message, `HTTP lifecycle hook (/start) for Container "app" in Pod "p_default(uid-p)" failed - error: `) {
		t.Fatalf("after failed postStart: %s %+v", containerSummary(cs), cs.State.Waiting)
	}
	if got := stops(e.rt, pod.UID); !slices.Equal(got, []string{"app:30s"}) {
		t.Fatalf("container not killed after failed postStart: %v", got)
	}
}
