package kubelettest_test

import (
	"context"
	"fmt"

	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/kubelettest"
)

// ExampleFakeRuntime drives the fake directly, as a runtime would be driven.
func ExampleFakeRuntime() {
	ctx := context.Background()
	rt := kubelettest.NewFakeRuntime(nil)
	sb, _ := rt.RunPodSandbox(ctx, &kubelet.SandboxConfig{PodUID: "u1", PodName: "web", PodNamespace: "default"})
	id, _ := rt.CreateContainer(ctx, sb, &kubelet.ContainerConfig{Name: "app", Image: "app:1"})
	_ = rt.StartContainer(ctx, id)
	_ = rt.ExitContainer(id, 1, "")
	err := rt.StartContainer(ctx, id)
	fmt.Println(err != nil)
	fmt.Print(rt.Dump())
	// Output:
	// true
	// sandbox default/web uid=u1 attempt=0 state=Ready ips=10.88.0.3
	//   container app attempt=0 state=Exited exit=1 reason=Error
}
