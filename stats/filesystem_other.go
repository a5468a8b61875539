//go:build !linux

package stats

import (
	"context"
	"errors"
	"time"
)

var errUnsupported = errors.New("stats: filesystem figures are only implemented on Linux")

// StatFilesystem is only implemented on Linux.
func StatFilesystem(path string) (FilesystemStats, error) { return FilesystemStats{}, errUnsupported }

func deviceOf(path string) (major, minor uint32, err error) { return 0, 0, errUnsupported }

func (c *DirUsageCache) walk(ctx context.Context, root string, deadline time.Time) (DirUsage, error) {
	return DirUsage{}, errUnsupported
}
