package proxy

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// nsThread runs functions on one OS thread that has joined a network
// namespace, so that the processes they start (iptables, which inherits
// the namespace of the thread that forks it) and the sockets they open
// live there. The thread is never returned to the Go scheduler: when the
// goroutine ends while still locked, the runtime discards it.
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
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine.
		defer close(t.done)
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("opening network namespace %s: %w", path, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("entering network namespace %s: %w", path, err)
			return
		}
		errc <- nil
		for f := range t.calls {
			f()
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
