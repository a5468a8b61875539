package runc

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// podNamespaces are the persistent namespaces of a sandbox: bind mounts of
// namespace files, so that they live without a process (no pause container)
// and containers join them by path. An empty path means the host's.
type podNamespaces struct {
	Net, IPC, UTS string
}

// createPodNamespaces creates new network, IPC and UTS namespaces as selected
// (net for pods off the host network, ipc unless hostIPC, uts with
// hostname unless hostNetwork) and bind-mounts them to files in dir.
//
// It runs on a goroutine locked to a fresh OS thread that unshares the
// namespaces, mounts /proc/thread-self/ns/<kind> and then ends without
// unlocking, so the Go runtime discards the thread and no other goroutine ever
// runs in the new namespaces.
func createPodNamespaces(dir string, net, ipc, uts bool, hostname string) (podNamespaces, error) {
	var ns podNamespaces
	var flags int
	kinds := map[string]*string{}
	if net {
		flags |= unix.CLONE_NEWNET
		kinds["net"] = &ns.Net
	}
	if ipc {
		flags |= unix.CLONE_NEWIPC
		kinds["ipc"] = &ns.IPC
	}
	if uts {
		flags |= unix.CLONE_NEWUTS
		kinds["uts"] = &ns.UTS
	}
	if flags == 0 {
		return ns, nil
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := unix.Unshare(flags); err != nil {
			errc <- fmt.Errorf("unshare namespaces: %w", err)
			return
		}
		if uts && hostname != "" {
			if err := unix.Sethostname([]byte(hostname)); err != nil {
				errc <- fmt.Errorf("set hostname %q: %w", hostname, err)
				return
			}
		}
		for kind, p := range kinds {
			target := filepath.Join(dir, kind)
			f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
			if err != nil {
				errc <- fmt.Errorf("create %s: %w", target, err)
				return
			}
			f.Close()
			if err := unix.Mount("/proc/thread-self/ns/"+kind, target, "", unix.MS_BIND, ""); err != nil {
				errc <- fmt.Errorf("bind %s namespace to %s: %w", kind, target, err)
				return
			}
			*p = target
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		// Whatever was mounted is unmounted by the caller's cleanup of dir.
		return podNamespaces{}, err
	}
	return ns, nil
}

// inNetNS runs fn on an OS thread switched into the network namespace at
// path (fn runs in the caller's namespace when path is empty). Processes fn
// starts inherit that namespace. The thread is discarded afterwards.
func inNetNS(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		f, err := os.Open(path)
		if err != nil {
			errc <- fmt.Errorf("open network namespace %s: %w", path, err)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter network namespace %s: %w", path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
