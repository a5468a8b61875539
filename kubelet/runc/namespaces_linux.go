package runc

import (
	"errors"
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
// It runs on a goroutine locked to its OS thread, which unshares the
// namespaces, mounts /proc/thread-self/ns/<kind> and switches back to the
// namespaces it had. Should switching back fail, the goroutine ends locked,
// so that the Go runtime discards the thread.
func createPodNamespaces(dir string, net, ipc, uts bool, hostname string) (podNamespaces, error) {
	var ns podNamespaces
	type kind struct {
		name string
		flag int
		path *string
	}
	var kinds []kind
	if net {
		kinds = append(kinds, kind{"net", unix.CLONE_NEWNET, &ns.Net})
	}
	if ipc {
		kinds = append(kinds, kind{"ipc", unix.CLONE_NEWIPC, &ns.IPC})
	}
	if uts {
		kinds = append(kinds, kind{"uts", unix.CLONE_NEWUTS, &ns.UTS})
	}
	if len(kinds) == 0 {
		return ns, nil
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		var orig []*os.File
		defer func() {
			for _, f := range orig {
				f.Close()
			}
		}()
		flags := 0
		for _, k := range kinds {
			f, err := os.Open("/proc/thread-self/ns/" + k.name)
			if err != nil {
				runtime.UnlockOSThread()
				errc <- fmt.Errorf("open own %s namespace: %w", k.name, err)
				return
			}
			orig = append(orig, f)
			flags |= k.flag
		}
		if err := unix.Unshare(flags); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unshare namespaces: %w", err)
			return
		}
		err := func() error {
			if uts && hostname != "" {
				if err := unix.Sethostname([]byte(hostname)); err != nil {
					return fmt.Errorf("set hostname %q: %w", hostname, err)
				}
			}
			for _, k := range kinds {
				target := filepath.Join(dir, k.name)
				if err := bindNamespace(k.name, target); err != nil {
					return err
				}
				*k.path = target
			}
			return nil
		}()
		for i, k := range kinds {
			if serr := unix.Setns(int(orig[i].Fd()), k.flag); serr != nil {
				// Leave the thread locked: it dies with this goroutine.
				errc <- errors.Join(err, fmt.Errorf("return to own %s namespace: %w", k.name, serr))
				return
			}
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	if err := <-errc; err != nil {
		// Whatever was mounted is unmounted by the caller's cleanup of dir.
		return podNamespaces{}, err
	}
	return ns, nil
}

// bindNamespace bind-mounts the calling thread's namespace of kind to target.
func bindNamespace(kind, target string) error {
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("create %s: %w", target, err)
	}
	f.Close()
	if err := unix.Mount("/proc/thread-self/ns/"+kind, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind %s namespace to %s: %w", kind, target, err)
	}
	return nil
}

// inNetNS runs fn on an OS thread switched into the network namespace at
// path (fn runs in the caller's namespace when path is empty). Processes fn
// starts inherit that namespace. The thread returns to its own namespace
// afterwards; should that fail, it is discarded.
func inNetNS(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open own network namespace: %w", err)
			return
		}
		defer orig.Close()
		f, err := os.Open(path)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open network namespace %s: %w", path, err)
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace %s: %w", path, err)
			return
		}
		fnErr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			errc <- errors.Join(fnErr, fmt.Errorf("leave network namespace %s: %w", path, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- fnErr
	}()
	return <-errc
}
