package proxy

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// nsThread runs functions on one OS thread that has joined a network
// namespace, so that the processes they start (iptables, which inherits
// the namespace of the thread that forks it) and the sockets they open
// live there. The thread returns to its own namespace before it is handed
// back to the Go scheduler.
//
// An nsThread is safe for concurrent use; calls run one at a time.
type nsThread struct {
	calls chan func()
	done  chan struct{}
}

// newNSThread starts a thread inside the namespace mounted at path (such
// as /run/netns/NAME or /proc/PID/ns/net).
func newNSThread(path string) (*nsThread, error) {
	t := &nsThread{calls: make(chan func()), done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer close(t.done)
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("opening own network namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("opening network namespace %s: %w", path, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering network namespace %s: %w", path, err)
			return
		}
		errc <- nil
		for f := range t.calls {
			f()
		}
		// Go back before handing the thread back to the scheduler. If that
		// fails the thread stays locked and the runtime discards it (or,
		// for the main thread, parks it) with the goroutine.
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	if err := <-errc; err != nil {
		return nil, err
	}
	return t, nil
}

// do runs f on the namespace's thread and waits for it.
func (t *nsThread) do(f func()) {
	finished := make(chan struct{})
	t.calls <- func() {
		defer close(finished)
		f()
	}
	<-finished
}

// close ends the thread.
func (t *nsThread) close() {
	close(t.calls)
	<-t.done
}
