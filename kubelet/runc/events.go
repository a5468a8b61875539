package runc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/nodekit/nodekit/kubelet"
)

// eventBuffer is the capacity of each subscriber's channel; events beyond it
// are dropped (the engine's relist repairs what it misses).
const eventBuffer = 256

// ContainerEvents implements kubelet.EventSource: Created, Started and Deleted
// events of this Runtime's own calls, and a Stopped event as soon as conmon
// writes a container's exit file (watched with inotify), also for containers
// that exit by themselves. The channel is closed when ctx is done.
func (r *Runtime) ContainerEvents(ctx context.Context) <-chan kubelet.ContainerEvent {
	ch := make(chan kubelet.ContainerEvent, eventBuffer)
	r.subMu.Lock()
	r.subs[ch] = struct{}{}
	r.subMu.Unlock()

	watcher, err := r.watchExits()
	if err != nil {
		r.opts.Logger.Error("watch exit files; container exits are seen at relist only", "err", err)
	}
	go func() {
		<-ctx.Done()
		if watcher != nil {
			watcher.Close()
		}
		r.subMu.Lock()
		delete(r.subs, ch)
		close(ch)
		r.subMu.Unlock()
	}()
	if watcher != nil {
		go r.readExitEvents(watcher, ch)
	}
	return ch
}

// watchExits returns an inotify file watching the exit directory for files
// written (conmon writes a temporary file and renames it).
func (r *Runtime) watchExits() (*os.File, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	if _, err := unix.InotifyAddWatch(fd, filepath.Join(r.root, dirExits), unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), "inotify"), nil
}

// readExitEvents turns inotify events into Stopped events until the watcher
// is closed.
func (r *Runtime) readExitEvents(w *os.File, ch chan kubelet.ContainerEvent) {
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := w.Read(buf)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				r.opts.Logger.Error("read inotify events", "err", err)
			}
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			nameBytes := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			off += unix.SizeofInotifyEvent + int(ev.Len)
			name := string(nameBytes)
			for i := 0; i < len(name); i++ {
				if name[i] == 0 {
					name = name[:i]
					break
				}
			}
			if !validID(name) {
				continue
			}
			c, ok := r.observe(name)
			if ok && c.Exited {
				r.send(ch, kubelet.ContainerEvent{Type: kubelet.ContainerStoppedEvent, ContainerID: c.ID, SandboxID: c.SandboxID, PodUID: c.PodUID})
			}
		}
	}
}

// emit sends an event about c to every subscriber, dropping it for those
// whose buffer is full.
func (r *Runtime) emit(t kubelet.ContainerEventType, c *containerRecord) {
	ev := kubelet.ContainerEvent{Type: t, ContainerID: c.ID, SandboxID: c.SandboxID, PodUID: c.PodUID}
	r.subMu.Lock()
	defer r.subMu.Unlock()
	for ch := range r.subs {
		select {
		case ch <- ev:
		default:
		}
	}
}

// send delivers ev to ch if ch is still subscribed and has room.
func (r *Runtime) send(ch chan kubelet.ContainerEvent, ev kubelet.ContainerEvent) {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	if _, ok := r.subs[ch]; !ok {
		return
	}
	select {
	case ch <- ev:
	default:
	}
}
