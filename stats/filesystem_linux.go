//go:build linux

package stats

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// StatFilesystem returns the figures of the filesystem holding path.
// AvailableBytes is what unprivileged users may still allocate (f_bavail),
// UsedBytes is capacity minus free blocks (f_bfree), as df and the kubelet
// compute them.
func StatFilesystem(path string) (FilesystemStats, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return FilesystemStats{}, fmt.Errorf("stats: statfs %s: %w", path, err)
	}
	bs := uint64(st.Bsize)
	return FilesystemStats{
		CapacityBytes:  st.Blocks * bs,
		AvailableBytes: st.Bavail * bs,
		UsedBytes:      (st.Blocks - min(st.Bfree, st.Blocks)) * bs,
		Inodes:         st.Files,
		InodesFree:     st.Ffree,
		InodesUsed:     st.Files - min(st.Ffree, st.Files),
	}, nil
}

// deviceOf returns the device number of the filesystem holding path.
func deviceOf(path string) (major, minor uint32, err error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, 0, fmt.Errorf("stats: stat %s: %w", path, err)
	}
	return unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev)), nil
}

var errBudget = errors.New("time budget exhausted")

func (c *DirUsageCache) walk(ctx context.Context, root string, deadline time.Time) (DirUsage, error) {
	var rootSt syscall.Stat_t
	if err := syscall.Lstat(root, &rootSt); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return DirUsage{}, fmt.Errorf("stats: dir usage %s: %w (%w)", root, ErrNotFound, err)
		}
		return DirUsage{}, fmt.Errorf("stats: dir usage %s: %w", root, err)
	}
	type inodeKey struct{ dev, ino uint64 }
	seen := map[inodeKey]bool{}
	u := DirUsage{Complete: true}
	add := func(st *syscall.Stat_t) {
		if st.Nlink > 1 && st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
			k := inodeKey{uint64(st.Dev), st.Ino}
			if seen[k] {
				return
			}
			seen[k] = true
		}
		u.Bytes += uint64(st.Blocks) * 512
		u.Inodes++
	}
	add(&rootSt)
	n := 0
	var visit func(dir string) error
	visit = func(dir string) error {
		entries, err := os.ReadDir(dir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		for _, e := range entries {
			if n++; n%256 == 0 {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if !c.opts.Clock.Now().Before(deadline) {
					return errBudget
				}
			}
			p := filepath.Join(dir, e.Name())
			var st syscall.Stat_t
			if err := syscall.Lstat(p, &st); err != nil {
				continue // removed while walking
			}
			if uint64(st.Dev) != uint64(rootSt.Dev) {
				continue // another filesystem is mounted here
			}
			add(&st)
			if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
				if err := visit(p); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if rootSt.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		switch err := visit(root); {
		case errors.Is(err, errBudget):
			u.Complete = false
		case err != nil:
			return DirUsage{}, fmt.Errorf("stats: dir usage %s: %w", root, err)
		}
	}
	u.Time = c.opts.Clock.Now()
	return u, nil
}
