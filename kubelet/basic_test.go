package kubelet_test

import (
	"testing"

	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/kubelet"
)

func TestStartSimplePod(t *testing.T) {
	e := newEnv(t, kubelet.Options{})
	pod := newPod("web")
	if err := e.s.SetPods([]*v1.Pod{pod}); err != nil {
		t.Fatal(err)
	}
	e.sync()
	st := e.status(pod.UID)
	t.Log(summary(st))
	t.Log(e.rt.Dump())
	if st.Phase != v1.PodRunning {
		t.Fatalf("phase %s", st.Phase)
	}
}
