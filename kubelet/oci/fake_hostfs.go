package oci

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

var errIsDir = syscall.EISDIR

// maxSymlinks is the kernel's limit of symbolic links followed while
// resolving one path (MAXSYMLINKS).
const maxSymlinks = 40

// FakeHostFS is an in-memory HostFS with directories, regular files,
// symbolic links, sockets and device nodes. It resolves paths as the kernel
// does (symbolic links followed, relative targets from the link's directory,
// ".." on the resolved parent, at most 40 links) and returns the same errors
// as package os (*fs.PathError wrapping ENOENT, ENOTDIR, EEXIST, ELOOP,
// EINVAL, EISDIR), so code tested on it behaves the same on OSHostFS.
//
// The zero value is not usable; call NewFakeHostFS. A FakeHostFS is safe for
// concurrent use.
type FakeHostFS struct {
	mu    sync.Mutex
	nodes map[string]*fakeNode
}

type fakeNode struct {
	mode   fs.FileMode
	data   []byte
	target string
}

var _ HostFS = (*FakeHostFS)(nil)

// NewFakeHostFS returns a FakeHostFS holding only the root directory.
func NewFakeHostFS() *FakeHostFS {
	return &FakeHostFS{nodes: map[string]*fakeNode{"/": {mode: fs.ModeDir | 0o755}}}
}

// AddDir creates a directory and its missing parents with mode perm.
func (f *FakeHostFS) AddDir(name string, perm fs.FileMode) error {
	return f.MkdirAll(name, perm)
}

// AddFile creates or replaces a regular file, creating missing parent
// directories with mode 0755.
func (f *FakeHostFS) AddFile(name string, data []byte, perm fs.FileMode) error {
	return f.add(name, &fakeNode{mode: perm.Perm(), data: append([]byte(nil), data...)})
}

// AddSymlink creates a symbolic link to target, creating missing parent
// directories with mode 0755.
func (f *FakeHostFS) AddSymlink(name, target string) error {
	return f.add(name, &fakeNode{mode: fs.ModeSymlink | 0o777, target: target})
}

// AddSpecial creates a socket (fs.ModeSocket), character device
// (fs.ModeDevice|fs.ModeCharDevice) or block device (fs.ModeDevice), creating
// missing parent directories with mode 0755.
func (f *FakeHostFS) AddSpecial(name string, mode fs.FileMode) error {
	if mode.Type()&(fs.ModeSocket|fs.ModeDevice|fs.ModeNamedPipe) == 0 {
		return &fs.PathError{Op: "mknod", Path: name, Err: syscall.EINVAL}
	}
	return f.add(name, &fakeNode{mode: mode})
}

func (f *FakeHostFS) add(name string, n *fakeNode) error {
	if !path.IsAbs(name) {
		return &fs.PathError{Op: "create", Path: name, Err: syscall.EINVAL}
	}
	if err := f.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	parent, err := f.resolve(path.Dir(name), true)
	if err != nil {
		return &fs.PathError{Op: "create", Path: name, Err: err}
	}
	f.nodes[path.Join(parent, path.Base(name))] = n
	return nil
}

// Dump lists every entry, sorted, one per line: path, mode and, for a
// symbolic link, its target.
func (f *FakeHostFS) Dump() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, 0, len(f.nodes))
	for n := range f.nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		node := f.nodes[n]
		fmt.Fprintf(&b, "%s %v", n, node.mode)
		if node.mode&fs.ModeSymlink != 0 {
			fmt.Fprintf(&b, " -> %s", node.target)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// resolve returns the canonical path of name: every symbolic link in it
// resolved, the last component's only when followLast. The last component
// need not exist (callers check); a missing or non-directory parent is
// ENOENT or ENOTDIR. Callers hold f.mu.
func (f *FakeHostFS) resolve(name string, followLast bool) (string, error) {
	if !path.IsAbs(name) {
		return "", syscall.ENOENT
	}
	links := 0
	resolved := "/"
	rest := strings.Split(strings.TrimPrefix(path.Clean(name), "/"), "/")
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			resolved = path.Dir(resolved)
			continue
		}
		parent := f.nodes[resolved]
		if parent == nil {
			return "", syscall.ENOENT
		}
		if !parent.mode.IsDir() {
			return "", syscall.ENOTDIR
		}
		next := path.Join(resolved, c)
		node := f.nodes[next]
		if node == nil || node.mode&fs.ModeSymlink == 0 || (len(rest) == 0 && !followLast) {
			resolved = next
			continue
		}
		links++
		if links > maxSymlinks {
			return "", syscall.ELOOP
		}
		target := node.target
		if path.IsAbs(target) {
			resolved = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return resolved, nil
}

func (f *FakeHostFS) lookup(op, name string, followLast bool) (string, *fakeNode, error) {
	p, err := f.resolve(name, followLast)
	if err != nil {
		return "", nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	n := f.nodes[p]
	if n == nil {
		return p, nil, &fs.PathError{Op: op, Path: name, Err: syscall.ENOENT}
	}
	return p, n, nil
}

// Stat is os.Stat.
func (f *FakeHostFS) Stat(name string) (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, n, err := f.lookup("stat", name, true)
	if err != nil {
		return nil, err
	}
	return fakeFileInfo{name: path.Base(name), node: *n}, nil
}

// Lstat is os.Lstat.
func (f *FakeHostFS) Lstat(name string) (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, n, err := f.lookup("lstat", name, false)
	if err != nil {
		return nil, err
	}
	return fakeFileInfo{name: path.Base(name), node: *n}, nil
}

// Readlink is os.Readlink.
func (f *FakeHostFS) Readlink(name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, n, err := f.lookup("readlink", name, false)
	if err != nil {
		return "", err
	}
	if n.mode&fs.ModeSymlink == 0 {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: syscall.EINVAL}
	}
	return n.target, nil
}

// ReadFile is os.ReadFile.
func (f *FakeHostFS) ReadFile(name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, n, err := f.lookup("open", name, true)
	if err != nil {
		return nil, err
	}
	if n.mode.IsDir() {
		return nil, &fs.PathError{Op: "read", Path: name, Err: syscall.EISDIR}
	}
	return append([]byte(nil), n.data...), nil
}

// Mkdir is os.Mkdir.
func (f *FakeHostFS) Mkdir(name string, perm fs.FileMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mkdir(name, perm)
}

func (f *FakeHostFS) mkdir(name string, perm fs.FileMode) error {
	p, n, err := f.lookup("mkdir", name, false)
	if n != nil {
		return &fs.PathError{Op: "mkdir", Path: name, Err: syscall.EEXIST}
	}
	if p == "" {
		return err
	}
	parent := f.nodes[path.Dir(p)]
	if parent == nil {
		return &fs.PathError{Op: "mkdir", Path: name, Err: syscall.ENOENT}
	}
	if !parent.mode.IsDir() {
		return &fs.PathError{Op: "mkdir", Path: name, Err: syscall.ENOTDIR}
	}
	f.nodes[p] = &fakeNode{mode: fs.ModeDir | perm.Perm()}
	return nil
}

// MkdirAll is os.MkdirAll.
func (f *FakeHostFS) MkdirAll(name string, perm fs.FileMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !path.IsAbs(name) {
		return &fs.PathError{Op: "mkdir", Path: name, Err: syscall.EINVAL}
	}
	if _, n, err := f.lookup("mkdir", name, true); err == nil {
		if n.mode.IsDir() {
			return nil
		}
		return &fs.PathError{Op: "mkdir", Path: name, Err: syscall.ENOTDIR}
	}
	clean := path.Clean(name)
	cur := "/"
	for _, c := range strings.Split(strings.TrimPrefix(clean, "/"), "/") {
		cur = path.Join(cur, c)
		_, n, err := f.lookup("mkdir", cur, true)
		if err == nil {
			if !n.mode.IsDir() {
				return &fs.PathError{Op: "mkdir", Path: cur, Err: syscall.ENOTDIR}
			}
			continue
		}
		if err := f.mkdir(cur, perm); err != nil {
			return err
		}
	}
	return nil
}

// Chmod is os.Chmod: it follows symbolic links and changes the permission
// bits only.
func (f *FakeHostFS) Chmod(name string, mode fs.FileMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, n, err := f.lookup("chmod", name, true)
	if err != nil {
		return err
	}
	n.mode = n.mode.Type() | mode.Perm()
	return nil
}

// CreateFile implements HostFS.CreateFile.
func (f *FakeHostFS) CreateFile(name string, perm fs.FileMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, n, err := f.lookup("open", name, true)
	if n != nil {
		if n.mode.IsDir() {
			return &fs.PathError{Op: "create", Path: name, Err: syscall.EISDIR}
		}
		return nil
	}
	if p == "" {
		return err
	}
	parent := f.nodes[path.Dir(p)]
	if parent == nil {
		return &fs.PathError{Op: "open", Path: name, Err: syscall.ENOENT}
	}
	if !parent.mode.IsDir() {
		return &fs.PathError{Op: "open", Path: name, Err: syscall.ENOTDIR}
	}
	f.nodes[p] = &fakeNode{mode: perm.Perm()}
	return nil
}

type fakeFileInfo struct {
	name string
	node fakeNode
}

func (i fakeFileInfo) Name() string       { return i.name }
func (i fakeFileInfo) Size() int64        { return int64(len(i.node.data)) }
func (i fakeFileInfo) Mode() fs.FileMode  { return i.node.mode }
func (i fakeFileInfo) ModTime() time.Time { return time.Time{} }
func (i fakeFileInfo) IsDir() bool        { return i.node.mode.IsDir() }
func (i fakeFileInfo) Sys() any           { return nil }
