package kubelettest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/kubelettest"
)

// TestExecTimeout: a command that outlives its timeout ends with an error
// wrapping kubelet.ErrExecTimeout, as a real runtime reports it; a command
// cancelled by its caller's context does not.
func TestExecTimeout(t *testing.T) {
	ctx := context.Background()
	f := kubelettest.NewFakeRuntime(nil)
	sb, err := f.RunPodSandbox(ctx, &kubelet.SandboxConfig{PodUID: "u", PodName: "p", PodNamespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := f.CreateContainer(ctx, sb, &kubelet.ContainerConfig{Name: "c", Image: "img"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	f.SetExecHandler(func(ctx context.Context, c kubelet.ContainerStatus, cmd []string) (kubelet.ExecResult, error) {
		<-ctx.Done()
		return kubelet.ExecResult{}, ctx.Err()
	})
	if _, err := f.ExecSync(ctx, id, []string{"sleep"}, 10*time.Millisecond); !errors.Is(err, kubelet.ErrExecTimeout) {
		t.Fatalf("timed-out exec: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := f.ExecSync(cctx, id, []string{"sleep"}, time.Minute); errors.Is(err, kubelet.ErrExecTimeout) || err == nil {
		t.Fatalf("cancelled exec: %v", err)
	}
}
