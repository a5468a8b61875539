package stats

import (
	"context"
	"sync"
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

// Forget drops the cached result for path (the Collector calls it when a
// target is removed, so the cache does not grow with container churn).
func (c *DirUsageCache) Forget(path string) {
	c.mu.Lock()
	delete(c.memo, path)
	c.mu.Unlock()
}
