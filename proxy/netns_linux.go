package proxy

import (
	"fmt"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// nsThread runs functions on OS threads that have joined a network
// namespace, so that the processes they start (iptables, which inherits
// the namespace of the thread that forks it) and the sockets they open
// live there. A thread returns to its own namespace before it is handed
// back to the Go scheduler.
//
// An nsThread is safe for concurrent use; up to nsThreads calls run at
// once, one per thread.
type nsThread struct {
	calls chan func()
	done  sync.WaitGroup
}

// nsThreads is how many threads an nsThread keeps in its namespace: enough
// for the parallel restores of a split payload (DefaultParallelRestores).
const nsThreads = DefaultParallelRestores

// newNSThread starts threads inside the namespace mounted at path (such
// as /run/netns/NAME or /proc/PID/ns/net).
func newNSThread(path string) (*nsThread, error) {
	t := &nsThread{calls: make(chan func())}
	for range nsThreads {
		if err := t.start(path); err != nil {
			t.close()
			return nil, err
		}
	}
	return t, nil
}

// start starts one thread of t inside the namespace at path.
func (t *nsThread) start(path string) error {
	errc := make(chan error, 1)
	t.done.Add(1)
	go func() {
		runtime.LockOSThread()
		defer t.done.Done()
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
	return <-errc
}

// do runs f on one of the namespace's threads and waits for it.
func (t *nsThread) do(f func()) {
	finished := make(chan struct{})
	t.calls <- func() {
		defer close(finished)
		f()
	}
	<-finished
}

// close ends the threads.
func (t *nsThread) close() {
	close(t.calls)
	t.done.Wait()
}
