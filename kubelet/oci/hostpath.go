package oci

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// CheckHostPath checks a hostPath volume against the real filesystem as the
// kubelet's hostPath plugin does before a container starts, and creates
// what DirectoryOrCreate (mode 0755, with parents) and FileOrCreate (mode
// 0644, parent must exist) ask for. Stat follows symbolic links, as the
// kubelet's. A path of the wrong type is an error wrapping ErrHostPathType
// with the kubelet's message ("hostPath type check failed: <path> is not a
// directory").
func CheckHostPath(hostFS HostFS, src *v1.HostPathVolumeSource) error {
	if hostFS == nil {
		hostFS = OSHostFS{}
	}
	p := src.Path
	if !path.IsAbs(p) {
		return invalid("hostPath.path", "%q is not an absolute path", p)
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return invalid("hostPath.path", "%q must not contain '..'", p)
		}
	}
	t := v1.HostPathUnset
	if src.Type != nil {
		t = *src.Type
	}
	fi, err := hostFS.Stat(p)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("hostPath %s: %w", p, err)
	}
	fail := func(what string) error {
		return fmt.Errorf("hostPath type check failed: %s is not %s: %w", p, what, ErrHostPathType)
	}
	switch t {
	case v1.HostPathUnset:
		return nil
	case v1.HostPathDirectoryOrCreate:
		if !exists {
			if err := hostFS.MkdirAll(p, 0o755); err != nil {
				return fmt.Errorf("hostPath %s: DirectoryOrCreate: %w", p, err)
			}
			return nil
		}
		if !fi.IsDir() {
			return fail("a directory")
		}
	case v1.HostPathDirectory:
		if !exists || !fi.IsDir() {
			return fail("a directory")
		}
	case v1.HostPathFileOrCreate:
		if !exists {
			if err := hostFS.CreateFile(p, 0o644); err != nil {
				return fmt.Errorf("hostPath %s: FileOrCreate: %w", p, err)
			}
			return nil
		}
		if !fi.Mode().IsRegular() {
			return fail("a file")
		}
	case v1.HostPathFile:
		if !exists || !fi.Mode().IsRegular() {
			return fail("a file")
		}
	case v1.HostPathSocket:
		if !exists || fi.Mode().Type() != fs.ModeSocket {
			return fail("a socket file")
		}
	case v1.HostPathCharDev:
		if !exists || fi.Mode().Type() != fs.ModeDevice|fs.ModeCharDevice {
			return fail("a character device")
		}
	case v1.HostPathBlockDev:
		if !exists || fi.Mode().Type() != fs.ModeDevice {
			return fail("a block device")
		}
	default:
		return invalid("hostPath.type", "unknown type %q", t)
	}
	return nil
}
