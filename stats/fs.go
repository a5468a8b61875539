package stats

import (
	"fmt"
	"path/filepath"
	"strings"
)

// FS reads cgroup and proc files under two roots, so fixture trees can stand
// in for /proc and /sys/fs/cgroup. An FS is an immutable value, safe for
// concurrent use; the Readers it creates are not.
type FS struct {
	procRoot   string
	cgroupRoot string
	layout     Layout
}

// NewFS returns an FS rooted at procRoot (normally "/proc") and cgroupRoot
// (normally "/sys/fs/cgroup"), detecting the cgroup layout once.
func NewFS(procRoot, cgroupRoot string) (FS, error) {
	if procRoot == "" || cgroupRoot == "" {
		return FS{}, fmt.Errorf("stats: NewFS: procRoot and cgroupRoot must be set (got %q, %q)", procRoot, cgroupRoot)
	}
	l, err := DetectLayout(cgroupRoot)
	if err != nil {
		return FS{}, fmt.Errorf("stats: NewFS: %w", err)
	}
	return FS{procRoot: filepath.Clean(procRoot), cgroupRoot: filepath.Clean(cgroupRoot), layout: l}, nil
}

// Layout returns the detected cgroup layout.
func (fs FS) Layout() Layout { return fs.layout }

// ProcRoot returns the proc root given to NewFS.
func (fs FS) ProcRoot() string { return fs.procRoot }

// CgroupRoot returns the cgroup root given to NewFS.
func (fs FS) CgroupRoot() string { return fs.cgroupRoot }

// Stat reads the figures selected by mask for the cgroup at cgroupPath
// (relative to each hierarchy root, for example
// "/kubepods/burstable/pod<uid>/<id>"; "/" is the root cgroup). It is a
// convenience over NewReader().Stat for one-off reads.
func (fs FS) Stat(cgroupPath string, mask Mask) (*CgroupStats, error) {
	var s CgroupStats
	if err := fs.NewReader().Stat(cgroupPath, mask, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// NetDev reads the interface counters of the network namespace of pid.
func (fs FS) NetDev(pid int) (*NetworkStats, error) {
	var n NetworkStats
	if err := fs.NewReader().NetDev(pid, &n); err != nil {
		return nil, err
	}
	return &n, nil
}

// validateCgroupPath rejects paths that are not absolute or that climb out
// of the hierarchy.
func validateCgroupPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("stats: cgroup path %q: must start with \"/\": %w", p, ErrInvalidTarget)
	}
	if p == "/.." || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") || strings.ContainsRune(p, 0) {
		return fmt.Errorf("stats: cgroup path %q: must not contain \"..\" or NUL: %w", p, ErrInvalidTarget)
	}
	return nil
}
