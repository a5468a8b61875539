//go:build linux

package stats

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"k8s.io/utils/clock"
)

// FilesystemStats describes a mounted filesystem, from statfs(2).
type FilesystemStats struct {
	CapacityBytes  uint64 `json:"capacityBytes"`
	AvailableBytes uint64 `json:"availableBytes"`
	UsedBytes      uint64 `json:"usedBytes"`
	Inodes         uint64 `json:"inodes"`
	InodesFree     uint64 `json:"inodesFree"`
	InodesUsed     uint64 `json:"inodesUsed"`
}

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

// DirUsage is the disk usage of a directory tree.
type DirUsage struct {
	// Bytes is the space allocated to the files (st_blocks * 512, as du
	// counts), each hard-linked inode once.
	Bytes uint64 `json:"bytes"`
	// Inodes is the number of distinct inodes, the root directory included.
	Inodes uint64 `json:"inodes"`
	// Complete is false when the walk stopped at its time budget: the
	// figures are then lower bounds.
	Complete bool `json:"complete"`
	// Time is when the walk finished.
	Time time.Time `json:"time"`
}

// DirUsageOptions configures a DirUsageCache. The zero value means the
// documented defaults.
type DirUsageOptions struct {
	// TTL is how long a walk's result is reused. Default 1 minute.
	TTL time.Duration
	// Budget bounds the time one walk may take. Default 1 second.
	Budget time.Duration
	// Clock is the time source. Default clock.RealClock{}.
	Clock clock.Clock
}

// DirUsageCache measures directory usage (container root filesystems,
// logs, emptyDirs) without forking du: it walks the tree itself, stays on
// the filesystem of the root (like du -x), counts hard links once, stops at
// a time budget, and caches each result for a TTL.
//
// A DirUsageCache is safe for concurrent use; concurrent calls for the same
// path may each walk it.
type DirUsageCache struct {
	opts DirUsageOptions
	mu   sync.Mutex
	memo map[string]DirUsage
}

// NewDirUsageCache returns an empty cache.
func NewDirUsageCache(opts DirUsageOptions) *DirUsageCache {
	if opts.TTL <= 0 {
		opts.TTL = time.Minute
	}
	if opts.Budget <= 0 {
		opts.Budget = time.Second
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	return &DirUsageCache{opts: opts, memo: map[string]DirUsage{}}
}

// Usage returns the usage of the tree at path, from the cache when the last
// walk is younger than TTL. Incomplete walks are cached too, so a huge tree
// costs at most one budget per TTL. A missing path gives an error wrapping
// ErrNotFound.
func (c *DirUsageCache) Usage(ctx context.Context, path string) (DirUsage, error) {
	now := c.opts.Clock.Now()
	c.mu.Lock()
	u, ok := c.memo[path]
	c.mu.Unlock()
	if ok && now.Sub(u.Time) < c.opts.TTL {
		return u, nil
	}
	u, err := c.walk(ctx, path, now.Add(c.opts.Budget))
	if err != nil {
		c.mu.Lock()
		delete(c.memo, path)
		c.mu.Unlock()
		return DirUsage{}, err
	}
	c.mu.Lock()
	c.memo[path] = u
	c.mu.Unlock()
	return u, nil
}

// Forget drops the cached result for path (for example when the container
// is removed).
func (c *DirUsageCache) Forget(path string) {
	c.mu.Lock()
	delete(c.memo, path)
	c.mu.Unlock()
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
