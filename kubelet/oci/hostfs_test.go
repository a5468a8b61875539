package oci

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// errClass names the errno an error wraps, so that the fake's and the real
// filesystem's errors can be compared.
func errClass(err error) string {
	if err == nil {
		return "ok"
	}
	for _, e := range []syscall.Errno{syscall.ENOENT, syscall.ENOTDIR, syscall.EEXIST, syscall.ELOOP, syscall.EINVAL, syscall.EISDIR} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return "other: " + pe.Err.Error()
	}
	return "other: " + err.Error()
}

// TestFakeHostFSMatchesOS runs the same operations on the real filesystem
// and on FakeHostFS built from the same tree, and compares results and
// error classes.
func TestFakeHostFSMatchesOS(t *testing.T) {
	root := t.TempDir()
	fake := buildSubPathTree(t, root)
	real := OSHostFS{}
	p := func(rel string) string { return filepath.Join(root, rel) }
	type op struct {
		name string
		run  func(HostFS) string
	}
	stat := func(name string, follow bool) op {
		return op{fmt.Sprintf("stat(%s,%v)", name, follow), func(h HostFS) string {
			var fi fs.FileInfo
			var err error
			if follow {
				fi, err = h.Stat(p(name))
			} else {
				fi, err = h.Lstat(p(name))
			}
			if err != nil {
				return errClass(err)
			}
			return fi.Mode().Type().String() + " " + fi.Name()
		}}
	}
	ops := []op{
		stat("vol/a", true), stat("vol/in", true), stat("vol/in", false), stat("vol/chain", true),
		stat("vol/up", true), stat("vol/loop", true), stat("vol/loop", false), stat("vol/dangling", true),
		stat("vol/dangling", false), stat("vol/file/x", true), stat("vol/missing", true), stat("vol/in/b", true),
		stat("vol/detour/b", true), stat("vol/abs-in/b", true),
		{"readlink(vol/in)", func(h HostFS) string { v, err := h.Readlink(p("vol/in")); return v + " " + errClass(err) }},
		{"readlink(vol/a)", func(h HostFS) string { v, err := h.Readlink(p("vol/a")); return v + " " + errClass(err) }},
		{"readlink(vol/none)", func(h HostFS) string { v, err := h.Readlink(p("vol/none")); return v + " " + errClass(err) }},
		{"mkdir(vol/a)", func(h HostFS) string { return errClass(h.Mkdir(p("vol/a"), 0o755)) }},
		{"mkdir(vol/in)", func(h HostFS) string { return errClass(h.Mkdir(p("vol/in"), 0o755)) }},
		{"mkdir(vol/x/y)", func(h HostFS) string { return errClass(h.Mkdir(p("vol/x/y"), 0o755)) }},
		{"mkdir(vol/file/y)", func(h HostFS) string { return errClass(h.Mkdir(p("vol/file/y"), 0o755)) }},
		{"mkdirall(vol/in/new/deep)", func(h HostFS) string { return errClass(h.MkdirAll(p("vol/in/new/deep"), 0o755)) }},
		{"stat(vol/a/new/deep)", stat("vol/a/new/deep", true).run},
		{"mkdirall(vol/file/z)", func(h HostFS) string { return errClass(h.MkdirAll(p("vol/file/z"), 0o755)) }},
		{"create(vol/a/f)", func(h HostFS) string { return errClass(h.CreateFile(p("vol/a/f"), 0o640)) }},
		{"create(vol/a/f) again", func(h HostFS) string { return errClass(h.CreateFile(p("vol/a/f"), 0o600)) }},
		{"mode(vol/a/f)", func(h HostFS) string {
			fi, err := h.Stat(p("vol/a/f"))
			if err != nil {
				return errClass(err)
			}
			return fi.Mode().String()
		}},
		{"create(vol/a)", func(h HostFS) string { return errClass(h.CreateFile(p("vol/a"), 0o644)) }},
		{"create(vol/nodir/f)", func(h HostFS) string { return errClass(h.CreateFile(p("vol/nodir/f"), 0o644)) }},
		{"chmod(vol/in)", func(h HostFS) string {
			if err := h.Chmod(p("vol/in"), 0o700); err != nil {
				return errClass(err)
			}
			fi, err := h.Stat(p("vol/a"))
			if err != nil {
				return errClass(err)
			}
			return fi.Mode().String()
		}},
		{"read(vol/file)", func(h HostFS) string { b, err := h.ReadFile(p("vol/file")); return fmt.Sprint(len(b), errClass(err)) }},
		{"read(vol/a)", func(h HostFS) string { _, err := h.ReadFile(p("vol/a")); return errClass(err) }},
	}
	for _, o := range ops {
		want, got := o.run(real), o.run(fake)
		if want != got {
			t.Errorf("%s: os %q, fake %q", o.name, want, got)
		}
	}
}

// TestGenerateSpecConcurrent generates specs of several containers at
// once from one Options; run with -race.
func TestGenerateSpecConcurrent(t *testing.T) {
	f := newTestFS(t)
	opts := testOptions(f, "")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pod := benchPod()
			o := opts
			o.ContainerID = fmt.Sprintf("ctr-%d", i)
			c := &pod.Spec.Containers[i%len(pod.Spec.Containers)]
			if _, err := GenerateSpec(context.Background(), pod, c, o); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
