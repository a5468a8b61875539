package stats

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// Rlimit is the node's task table, as the kubelet's Summary reports it
// (NodeStats.Rlimit, from pkg/kubelet/stats/pidlimit). It is plain data.
type Rlimit struct {
	// MaxPID is the system-wide limit on tasks: the lesser of
	// kernel.pid_max and kernel.threads-max. Zero when neither could be
	// read.
	MaxPID int64
	// Tasks is the number of tasks (threads included) on the node: the
	// total of /proc/loadavg's fourth field ("running/total"), which the
	// kubelet prefers to sysinfo(2) because that truncates above 65535.
	Tasks int64
}

// Rlimit reads the node's task limit and count from the FS's proc root
// (sys/kernel/pid_max, sys/kernel/threads-max and loadavg). A missing
// limit file is skipped, as the kubelet skips it; a limit file that does
// not parse, or a missing or malformed loadavg, is an error.
func (fs FS) Rlimit() (Rlimit, error) {
	var r Rlimit
	for _, name := range []string{"sys/kernel/pid_max", "sys/kernel/threads-max"} {
		b, err := os.ReadFile(filepath.Join(fs.procRoot, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return Rlimit{}, fmt.Errorf("read %s: %w", name, err)
		}
		v, ok := parseUint(trimSpace(b))
		if !ok || v > math.MaxInt64 {
			return Rlimit{}, parseErr(name, 1, "not a count: %q", trimSpace(b))
		}
		if r.MaxPID == 0 || int64(v) < r.MaxPID {
			r.MaxPID = int64(v)
		}
	}
	b, err := os.ReadFile(filepath.Join(fs.procRoot, "loadavg"))
	if err != nil {
		return Rlimit{}, fmt.Errorf("read loadavg: %w", err)
	}
	if r.Tasks, err = parseLoadavgTasks(b); err != nil {
		return Rlimit{}, err
	}
	return r, nil
}

// parseLoadavgTasks returns the total of the "running/total" field of
// /proc/loadavg ("0.52 0.58 0.59 2/1207 3715089").
func parseLoadavgTasks(b []byte) (int64, error) {
	rest := trimSpace(b)
	var f []byte
	for range 4 {
		if f, rest = nextField(rest); len(f) == 0 {
			return 0, parseErr("loadavg", 1, "fewer than 4 fields")
		}
	}
	_, total, ok := bytes.Cut(f, []byte("/"))
	if !ok {
		return 0, parseErr("loadavg", 1, "fourth field %q is not running/total", f)
	}
	n, ok := parseUint(total)
	if !ok || n > math.MaxInt64 {
		return 0, parseErr("loadavg", 1, "task total %q is not a count", total)
	}
	return int64(n), nil
}
