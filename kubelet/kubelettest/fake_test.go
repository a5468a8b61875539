package kubelettest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/kubelettest"
)

func TestFakeStateMachine(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	f := kubelettest.NewFakeRuntime(clk)

	if _, err := f.RunPodSandbox(ctx, &kubelet.SandboxConfig{PodUID: "u"}); err == nil {
		t.Fatal("sandbox without name and namespace accepted")
	}
	sb, err := f.RunPodSandbox(ctx, &kubelet.SandboxConfig{PodUID: "u", PodName: "p", PodNamespace: "ns"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.PodSandboxStatus(ctx, sb)
	if err != nil || st.State != kubelet.SandboxReady || len(st.IPs) != 1 {
		t.Fatalf("sandbox status %+v %v", st, err)
	}
	cfg := &kubelet.ContainerConfig{Name: "c", Image: "img"}
	id, err := f.CreateContainer(ctx, sb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.CreateContainer(ctx, sb, cfg); !errors.Is(err, kubelet.ErrAlreadyExists) {
		t.Fatalf("duplicate create: %v", err)
	}
	if err := f.ExitContainer(id, 0, ""); !errors.Is(err, kubelet.ErrInvalidState) {
		t.Fatalf("exit of a created container: %v", err)
	}
	if _, err := f.ExecSync(ctx, id, []string{"true"}, 0); !errors.Is(err, kubelet.ErrInvalidState) {
		t.Fatalf("exec in a created container: %v", err)
	}
	if err := f.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := f.StartContainer(ctx, id); !errors.Is(err, kubelet.ErrInvalidState) {
		t.Fatalf("second start: %v", err)
	}
	clk.Step(time.Second)
	if err := f.ExitContainer(id, 3, ""); err != nil {
		t.Fatal(err)
	}
	c, _ := f.ContainerStatus(ctx, id)
	if c.State != kubelet.ContainerExited || c.ExitCode != 3 || c.Reason != "Error" || !c.FinishedAt.Equal(clk.Now()) {
		t.Fatalf("exited container %+v", c)
	}
	if _, err := f.ContainerStatus(ctx, "nope"); !errors.Is(err, kubelet.ErrNotFound) {
		t.Fatalf("unknown container: %v", err)
	}
	if err := f.StopPodSandbox(ctx, "nope"); !errors.Is(err, kubelet.ErrNotFound) {
		t.Fatalf("stop unknown sandbox: %v", err)
	}

	// Stopping the sandbox kills its running containers and drops its IP.
	id2, _ := f.CreateContainer(ctx, sb, &kubelet.ContainerConfig{Name: "d", Image: "img"})
	_ = f.StartContainer(ctx, id2)
	if err := f.StopPodSandbox(ctx, sb); err != nil {
		t.Fatal(err)
	}
	c2, _ := f.ContainerStatus(ctx, id2)
	if c2.State != kubelet.ContainerExited || c2.ExitCode != kubelettest.ExitCodeSIGKILL {
		t.Fatalf("container after sandbox stop %+v", c2)
	}
	if _, err := f.CreateContainer(ctx, sb, &kubelet.ContainerConfig{Name: "e", Image: "img"}); !errors.Is(err, kubelet.ErrInvalidState) {
		t.Fatalf("create in stopped sandbox: %v", err)
	}
	// Removal is forcible and idempotent.
	if err := f.RemovePodSandbox(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if err := f.RemovePodSandbox(ctx, sb); err != nil {
		t.Fatal(err)
	}
	if f.Dump() != "" {
		t.Fatalf("not empty:\n%s", f.Dump())
	}
}

func TestFakeStopSignals(t *testing.T) {
	ctx := context.Background()
	f := kubelettest.NewFakeRuntime(nil)
	sb, _ := f.RunPodSandbox(ctx, &kubelet.SandboxConfig{PodUID: "u", PodName: "p", PodNamespace: "ns"})
	polite, _ := f.CreateContainer(ctx, sb, &kubelet.ContainerConfig{Name: "polite", Image: "i"})
	stubborn, _ := f.CreateContainer(ctx, sb, &kubelet.ContainerConfig{Name: "stubborn", Image: "i"})
	f.SetIgnoreSIGTERM("", "stubborn", true)
	_ = f.StartContainer(ctx, polite)
	_ = f.StartContainer(ctx, stubborn)
	_ = f.StopContainer(ctx, polite, 5*time.Second)
	_ = f.StopContainer(ctx, stubborn, 5*time.Second)
	p, _ := f.ContainerStatus(ctx, polite)
	s, _ := f.ContainerStatus(ctx, stubborn)
	if p.ExitCode != kubelettest.ExitCodeSIGTERM || s.ExitCode != kubelettest.ExitCodeSIGKILL {
		t.Fatalf("exit codes %d %d", p.ExitCode, s.ExitCode)
	}
	if err := f.StopContainer(ctx, polite, time.Second); err != nil {
		t.Fatalf("stopping an exited container: %v", err)
	}
}

func TestFakeInjection(t *testing.T) {
	ctx := context.Background()
	f := kubelettest.NewFakeRuntime(nil)
	f.InjectError(kubelettest.OpRunPodSandbox, "u", errors.New("cni down"), 2)
	cfg := &kubelet.SandboxConfig{PodUID: "u", PodName: "p", PodNamespace: "ns"}
	for i := range 2 {
		if _, err := f.RunPodSandbox(ctx, cfg); err == nil {
			t.Fatalf("call %d did not fail", i)
		}
	}
	if _, err := f.RunPodSandbox(ctx, cfg); err != nil {
		t.Fatalf("third call: %v", err)
	}
	if _, err := f.RunPodSandbox(ctx, &kubelet.SandboxConfig{PodUID: "other", PodName: "o", PodNamespace: "ns"}); err != nil {
		t.Fatalf("other pod affected: %v", err)
	}

	f.SetLatency(kubelettest.OpListContainers, "", kubelettest.Hang)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := f.ListContainers(cctx, kubelet.ContainerFilter{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung call returned %v", err)
	}
	f.SetLatency(kubelettest.OpListContainers, "", 0)
	if _, err := f.ListContainers(ctx, kubelet.ContainerFilter{}); err != nil {
		t.Fatal(err)
	}

	f.SetImageMissing("gone:1", true)
	sb, _ := f.RunPodSandbox(ctx, &kubelet.SandboxConfig{PodUID: "v", PodName: "v", PodNamespace: "ns"})
	if _, err := f.CreateContainer(ctx, sb, &kubelet.ContainerConfig{Name: "c", Image: "gone:1"}); !errors.Is(err, kubelet.ErrImagePull) {
		t.Fatalf("missing image: %v", err)
	}
}

func TestFakeEvents(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := kubelettest.NewFakeRuntime(nil)
	events := f.ContainerEvents(ctx)
	sb, _ := f.RunPodSandbox(ctx, &kubelet.SandboxConfig{PodUID: "u", PodName: "p", PodNamespace: "ns"})
	id, _ := f.CreateContainer(ctx, sb, &kubelet.ContainerConfig{Name: "c", Image: "i", PodUID: "u"})
	_ = f.StartContainer(ctx, id)
	_ = f.ExitContainer(id, 0, "")
	_ = f.RemoveContainer(ctx, id)
	var got []kubelet.ContainerEventType
	for range 4 {
		ev := <-events
		if ev.ContainerID != id || ev.PodUID != "u" {
			t.Fatalf("event %+v", ev)
		}
		got = append(got, ev.Type)
	}
	want := []kubelet.ContainerEventType{kubelet.ContainerCreatedEvent, kubelet.ContainerStartedEvent, kubelet.ContainerStoppedEvent, kubelet.ContainerDeletedEvent}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
	cancel()
	for range events {
	}
}
