package runc

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

func TestWaitPID(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	start := func(t *testing.T) *exec.Cmd {
		cmd := exec.Command(sleep, "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	ctx := context.Background()

	t.Run("no process", func(t *testing.T) {
		if !waitPID(ctx, 0, time.Second) {
			t.Error("pid 0: not ended")
		}
	})
	t.Run("running until the timeout", func(t *testing.T) {
		cmd := start(t)
		if waitPID(ctx, cmd.Process.Pid, 50*time.Millisecond) {
			t.Error("a running process was reported ended")
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		cmd := start(t)
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(20*time.Millisecond, cancel)
		if waitPID(cctx, cmd.Process.Pid, time.Minute) {
			t.Error("a running process was reported ended")
		}
		if cctx.Err() == nil {
			t.Error("returned before the context was cancelled")
		}
	})
	t.Run("ends while waited for", func(t *testing.T) {
		cmd := start(t)
		time.AfterFunc(20*time.Millisecond, func() { _ = cmd.Process.Kill() })
		// Not reaped: a zombie has ended.
		if !waitPID(ctx, cmd.Process.Pid, time.Minute) {
			t.Error("a killed process was not reported ended")
		}
	})
	t.Run("ended and reaped", func(t *testing.T) {
		cmd := start(t)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if !waitPID(ctx, cmd.Process.Pid, time.Minute) {
			t.Error("a reaped process was not reported ended")
		}
	})
	t.Run("polling", func(t *testing.T) {
		cmd := start(t)
		if pollPID(ctx, cmd.Process.Pid, 20*time.Millisecond) {
			t.Error("a running process was reported ended")
		}
		time.AfterFunc(20*time.Millisecond, func() { _ = cmd.Process.Kill() })
		if !pollPID(ctx, cmd.Process.Pid, time.Minute) {
			t.Error("a killed process was not reported ended")
		}
	})
}
