package oci

import (
	"errors"
	"io/fs"
	"os"
)

// HostFS is the host filesystem as this package uses it: to check hostPath
// volume types and create DirectoryOrCreate/FileOrCreate paths, to resolve
// subPaths without leaving their volume, to look up users in an image's
// /etc/passwd, and to create termination-message files. Paths are absolute
// host paths.
//
// OSHostFS is the real one; FakeHostFS is an in-memory one for tests.
// Implementations must be safe for concurrent use.
type HostFS interface {
	// Stat is os.Stat: it follows symbolic links.
	Stat(name string) (fs.FileInfo, error)
	// Lstat is os.Lstat: it does not follow a final symbolic link.
	Lstat(name string) (fs.FileInfo, error)
	// Readlink is os.Readlink.
	Readlink(name string) (string, error)
	// ReadFile is os.ReadFile.
	ReadFile(name string) ([]byte, error)
	// Mkdir is os.Mkdir.
	Mkdir(name string, perm fs.FileMode) error
	// MkdirAll is os.MkdirAll.
	MkdirAll(name string, perm fs.FileMode) error
	// Chmod is os.Chmod.
	Chmod(name string, mode fs.FileMode) error
	// CreateFile creates an empty regular file with mode perm if nothing is
	// at name, and does nothing if a file is already there. The parent
	// directory must exist. It fails on a directory.
	CreateFile(name string, perm fs.FileMode) error
}

// OSHostFS is the real host filesystem through package os. It is safe for
// concurrent use.
type OSHostFS struct{}

var _ HostFS = OSHostFS{}

// Stat is os.Stat.
func (OSHostFS) Stat(name string) (fs.FileInfo, error) { return os.Stat(name) }

// Lstat is os.Lstat.
func (OSHostFS) Lstat(name string) (fs.FileInfo, error) { return os.Lstat(name) }

// Readlink is os.Readlink.
func (OSHostFS) Readlink(name string) (string, error) { return os.Readlink(name) }

// ReadFile is os.ReadFile.
func (OSHostFS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

// Mkdir is os.Mkdir.
func (OSHostFS) Mkdir(name string, perm fs.FileMode) error { return os.Mkdir(name, perm) }

// MkdirAll is os.MkdirAll.
func (OSHostFS) MkdirAll(name string, perm fs.FileMode) error { return os.MkdirAll(name, perm) }

// Chmod is os.Chmod.
func (OSHostFS) Chmod(name string, mode fs.FileMode) error { return os.Chmod(name, mode) }

// CreateFile opens name with O_CREATE (no O_TRUNC) and closes it, then sets
// perm on a file it created, since the umask may have narrowed it.
func (OSHostFS) CreateFile(name string, perm fs.FileMode) error {
	f, err := os.OpenFile(name, os.O_RDONLY|os.O_CREATE|os.O_EXCL, perm)
	if errors.Is(err, fs.ErrExist) {
		fi, serr := os.Stat(name)
		if serr != nil {
			return serr
		}
		if fi.IsDir() {
			return &fs.PathError{Op: "create", Path: name, Err: errIsDir}
		}
		return nil
	}
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chmod(name, perm)
}
