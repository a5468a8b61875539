package runc

import (
	"context"
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// waitPID waits until process pid (any process, not only a child of this
// one) has ended, ctx is done or timeout has passed, and reports whether it
// has ended; a zombie has. A pid <= 0 has ended.
//
// It waits on a pidfd through Go's poller, so that a wait costs nothing
// while it lasts and returns as soon as the process ends. Where pidfds are
// missing (Linux before 5.3), it looks at /proc every 5 ms instead.
func waitPID(ctx context.Context, pid int, timeout time.Duration) bool {
	if pid <= 0 {
		return true
	}
	fd, err := unix.PidfdOpen(pid, unix.O_NONBLOCK)
	if errors.Is(err, unix.ESRCH) {
		return true
	}
	if err != nil {
		return pollPID(ctx, pid, timeout)
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	if err := f.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		// Not in the poller after all: look at /proc.
		return pollPID(ctx, pid, timeout)
	}
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Now()) })
	defer stop()
	rc, err := f.SyscallConn()
	if err != nil {
		return pollPID(ctx, pid, timeout)
	}
	ended := false
	err = rc.Read(func(fd uintptr) bool {
		// A pidfd is readable once its process has ended.
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 0)
		switch {
		case err == nil && n > 0:
			ended = true
			return true
		case err == nil || errors.Is(err, unix.EINTR):
			return false // wait for the poller
		default:
			return true
		}
	})
	if err != nil || !ended {
		return !processAlive(pid)
	}
	return true
}

// pollPID is waitPID by looking at /proc every 5 ms.
func pollPID(ctx context.Context, pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for processAlive(pid) {
		if !time.Now().Before(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}
