package oci

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"syscall"
)

// ResolveSubPath returns the host path of subPath inside the volume at
// volumePath, with every symbolic link resolved, creating missing
// directories (with the volume directory's mode) as the kubelet does before
// it bind-mounts a subPath.
//
// The rules are the kubelet's (makeMounts, subpath.SafeMakeDir and
// PrepareSafeSubpath): subPath must be relative and must not contain a ".."
// component; symbolic links are resolved as the host resolves them, so an
// absolute link target is a host path; and the result must lie inside the
// volume. Anything else fails with an error wrapping ErrSubPathEscape; no
// directory is ever created outside the volume.
//
// The returned path contains no symbolic links, so a bind mount of it
// cannot be redirected by a link created later in its last component; a
// racing process that can write to the volume could still swap a directory
// on the path for a link between this call and the mount (see the package
// Caveats).
func ResolveSubPath(hostFS HostFS, volumePath, subPath string) (string, error) {
	if hostFS == nil {
		hostFS = OSHostFS{}
	}
	if subPath == "" {
		return "", fmt.Errorf("subPath is empty: %w", ErrInvalidSpec)
	}
	if strings.IndexByte(subPath, 0) >= 0 {
		return "", fmt.Errorf("subPath %q contains a NUL byte: %w", subPath, ErrSubPathEscape)
	}
	if path.IsAbs(subPath) {
		return "", fmt.Errorf("subPath %q must not be an absolute path: %w", subPath, ErrSubPathEscape)
	}
	for _, c := range strings.Split(subPath, "/") {
		if c == ".." {
			return "", fmt.Errorf("subPath %q must not contain '..': %w", subPath, ErrSubPathEscape)
		}
	}
	if !path.IsAbs(volumePath) {
		return "", fmt.Errorf("volume path %q is not absolute: %w", volumePath, ErrInvalidSpec)
	}
	base, err := resolveHostPath(hostFS, "/", path.Clean(volumePath), "", 0)
	if err != nil {
		return "", fmt.Errorf("volume path %q: %w", volumePath, err)
	}
	fi, err := hostFS.Stat(base)
	if err != nil {
		return "", fmt.Errorf("volume path %q: %w", volumePath, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("volume path %q is not a directory: %w", volumePath, ErrInvalidSpec)
	}
	resolved, err := resolveHostPath(hostFS, base, subPath, base, fi.Mode().Perm())
	if err != nil {
		return "", fmt.Errorf("subPath %q: %w", subPath, err)
	}
	if !pathWithin(resolved, base) {
		return "", fmt.Errorf("subPath %q resolves to %q, outside the volume %q: %w", subPath, resolved, base, ErrSubPathEscape)
	}
	return resolved, nil
}

// pathWithin reports whether p is base or below it; both are clean.
func pathWithin(p, base string) bool {
	if base == "/" {
		return true
	}
	return p == base || strings.HasPrefix(p, base+"/")
}

// resolveHostPath resolves name, relative to the already canonical start,
// following symbolic links as the kernel does. When createIn is not empty,
// missing components of name itself (not of a link's target, as in the
// kubelet, which refuses dangling links) are created as directories with
// mode perm, but only while the directory they are created in lies within
// createIn; otherwise a missing component is an error.
func resolveHostPath(hostFS HostFS, start, name, createIn string, perm fs.FileMode) (string, error) {
	resolved := start
	if path.IsAbs(name) {
		resolved = "/"
	}
	var rest []pathComponent
	for _, c := range strings.Split(name, "/") {
		rest = append(rest, pathComponent{name: c})
	}
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c.name {
		case "", ".":
			continue
		case "..":
			resolved = path.Dir(resolved)
			continue
		}
		next := path.Join(resolved, c.name)
		fi, err := hostFS.Lstat(next)
		switch {
		case errors.Is(err, fs.ErrNotExist) && createIn != "" && !c.fromLink:
			if !pathWithin(resolved, createIn) {
				return "", fmt.Errorf("resolves to %q, outside the volume %q: %w", next, createIn, ErrSubPathEscape)
			}
			if err := hostFS.Mkdir(next, perm); err != nil && !errors.Is(err, fs.ErrExist) {
				return "", err
			}
			fi, err = hostFS.Lstat(next)
			if err != nil {
				return "", err
			}
		case err != nil:
			if createIn != "" && !pathWithin(next, createIn) {
				return "", fmt.Errorf("resolves to %q, outside the volume %q: %w", next, createIn, ErrSubPathEscape)
			}
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			links++
			if links > maxSymlinks {
				return "", &fs.PathError{Op: "resolve", Path: next, Err: syscall.ELOOP}
			}
			target, err := hostFS.Readlink(next)
			if err != nil {
				return "", err
			}
			if path.IsAbs(target) {
				resolved = "/"
			}
			var expanded []pathComponent
			for _, t := range strings.Split(target, "/") {
				expanded = append(expanded, pathComponent{name: t, fromLink: true})
			}
			rest = append(expanded, rest...)
			continue
		}
		if !fi.IsDir() && hasMoreComponents(rest) {
			return "", &fs.PathError{Op: "resolve", Path: next, Err: syscall.ENOTDIR}
		}
		resolved = next
	}
	return resolved, nil
}

// pathComponent is one component of a path being resolved, and whether it
// came from a symbolic link's target.
type pathComponent struct {
	name     string
	fromLink bool
}

// hasMoreComponents reports whether rest names anything besides "" and ".".
func hasMoreComponents(rest []pathComponent) bool {
	for _, c := range rest {
		if c.name != "" && c.name != "." {
			return true
		}
	}
	return false
}
