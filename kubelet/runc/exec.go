package runc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nodekit/nodekit/kubelet"
)

// ExecSync implements kubelet.Runtime with runc exec: the command runs with
// the container's environment, user, capabilities and cgroup. When timeout
// (or ctx) ends first, the command's process is killed and the error wraps
// ErrExecTimeout (or ctx's error).
func (r *Runtime) ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (kubelet.ExecResult, error) {
	if len(cmd) == 0 {
		return kubelet.ExecResult{}, fmt.Errorf("exec in container %q: empty command: %w", containerID, ErrInvalidOptions)
	}
	c, ok := r.observe(containerID)
	if !ok {
		return kubelet.ExecResult{}, fmt.Errorf("container %q: %w", containerID, kubelet.ErrNotFound)
	}
	if c.Exited || c.StartedAt.IsZero() {
		return kubelet.ExecResult{}, fmt.Errorf("exec in container %q: not running: %w", containerID, kubelet.ErrInvalidState)
	}
	pidDir, err := os.MkdirTemp(r.bundleDir(containerID), "exec-")
	if err != nil {
		return kubelet.ExecResult{}, fmt.Errorf("exec in container %q: %w", containerID, err)
	}
	defer os.RemoveAll(pidDir)
	pidFile := filepath.Join(pidDir, "pid")

	args := append([]string{"--root", r.runcRoot(), "exec", "--pid-file", pidFile, containerID}, cmd...)
	run := exec.Command(r.runcPath, args...)
	var stdout, stderr bytes.Buffer
	run.Stdout, run.Stderr = &stdout, &stderr
	if err := run.Start(); err != nil {
		return kubelet.ExecResult{}, fmt.Errorf("exec in container %q: %w", containerID, err)
	}
	done := make(chan error, 1)
	go func() { done <- run.Wait() }()
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	var waitErr, stopErr error
	select {
	case waitErr = <-done:
	case <-timer:
		stopErr = fmt.Errorf("exec %q in container %q: after %s: %w", cmd, containerID, timeout, ErrExecTimeout)
	case <-ctx.Done():
		stopErr = fmt.Errorf("exec %q in container %q: %w", cmd, containerID, ctx.Err())
	}
	if stopErr != nil {
		// Kill the command inside the container (runc would only forward
		// the signal), then runc itself, which exits with it.
		if data, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			_ = run.Process.Kill()
			<-done
		}
		return kubelet.ExecResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}, stopErr
	}
	res := kubelet.ExecResult{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var exitErr *exec.ExitError
	switch {
	case waitErr == nil:
	case errors.As(waitErr, &exitErr):
		res.ExitCode = exitErr.ExitCode()
		if _, err := os.Stat(pidFile); err != nil {
			// runc never started the process: its own failure.
			return res, fmt.Errorf("exec %q in container %q: %w: %s", cmd, containerID, waitErr, strings.TrimSpace(stderr.String()))
		}
	default:
		return res, fmt.Errorf("exec %q in container %q: %w", cmd, containerID, waitErr)
	}
	return res, nil
}
