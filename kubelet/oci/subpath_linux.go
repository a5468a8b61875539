package oci

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// BindSubPath makes target a bind mount of subPath inside the volume at
// volumePath, closing the window ResolveSubPath leaves open, as the
// kubelet's PrepareSafeSubpath does (the fix of CVE-2017-1002101):
//
//  1. the subPath is resolved, and missing directories created, with
//     ResolveSubPath;
//  2. the result is opened from the volume one component at a time with
//     O_NOFOLLOW, so that a component replaced by a symbolic link since
//     step 1 makes it fail with ErrSubPathEscape instead of being
//     followed;
//  3. the open file descriptor (/proc/self/fd/N) is bind-mounted on target,
//     which is created as an empty directory or file to match.
//
// The spec then mounts target, which no longer changes with the volume's
// links. A mount already on target is replaced. It needs CAP_SYS_ADMIN in
// the mount namespace the runtime uses; UnbindSubPaths undoes it.
func BindSubPath(volumePath, subPath, target string) error {
	resolved, err := ResolveSubPath(OSHostFS{}, volumePath, subPath)
	if err != nil {
		return err
	}
	base, err := filepath.EvalSymlinks(filepath.Clean(volumePath))
	if err != nil {
		return fmt.Errorf("volume path %q: %w", volumePath, err)
	}
	rel, err := filepath.Rel(base, resolved)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("subPath %q resolves to %q, outside the volume %q: %w", subPath, resolved, base, ErrSubPathEscape)
	}
	fd, err := openNoFollow(base, rel)
	if err != nil {
		return fmt.Errorf("subPath %q: %w", subPath, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("subPath %q: %w", subPath, err)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return err
	}
	_ = unix.Unmount(target, unix.MNT_DETACH)
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		if err := os.Mkdir(target, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	} else if err := OSHostFS.CreateFile(OSHostFS{}, target, 0o640); err != nil {
		return err
	}
	source := "/proc/self/fd/" + strconv.Itoa(fd)
	if err := unix.Mount(source, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting subPath %q of %q on %q: %w", subPath, volumePath, target, err)
	}
	return nil
}

// openNoFollow opens base/rel with O_PATH, walking rel one component at a
// time with O_NOFOLLOW from base: a symbolic link anywhere in rel fails
// with ErrSubPathEscape.
func openNoFollow(base, rel string) (int, error) {
	fd, err := unix.Open(base, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &fs.PathError{Op: "open", Path: base, Err: err}
	}
	cur := base
	for _, c := range strings.Split(rel, "/") {
		if c == "" || c == "." {
			continue
		}
		cur = filepath.Join(cur, c)
		next, err := unix.Openat(fd, c, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return -1, &fs.PathError{Op: "openat", Path: cur, Err: err}
		}
		fd = next
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, &fs.PathError{Op: "fstat", Path: cur, Err: err}
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			unix.Close(fd)
			return -1, fmt.Errorf("%s became a symbolic link: %w", cur, ErrSubPathEscape)
		}
	}
	return fd, nil
}

// UnbindSubPaths unmounts every mount below dir and removes dir, as the
// kubelet's CleanSubPaths. Each entry is unmounted (repeatedly, in case
// mounts are stacked) before the walk would descend into it, so that
// removing dir never reaches into a volume. A missing dir is not an error.
func UnbindSubPaths(dir string) error {
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		unmounted := false
		for range 100 {
			err := unix.Unmount(p, unix.MNT_DETACH)
			if errors.Is(err, unix.EINVAL) {
				break
			}
			if err != nil {
				return fmt.Errorf("unmounting %s: %w", p, err)
			}
			unmounted = true
		}
		if unmounted && d.IsDir() {
			// What is below the now bare target is checked by a fresh
			// walk, and the walk does not descend into it.
			if err := UnbindSubPaths(p); err != nil {
				return err
			}
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return err
	}
	return os.RemoveAll(dir)
}
