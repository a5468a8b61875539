package stats

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestParseLoadavgTasks(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0.52 0.58 0.59 2/1207 3715089\n", 1207, true},
		{"1.36 3.49 4.53 2/3518 3715089", 3518, true},
		{"0.00 0.00 0.00 0/70000 1\n", 70000, true},
		{"", 0, false},
		{"0.52 0.58 0.59\n", 0, false},
		{"0.52 0.58 0.59 1207 3715089\n", 0, false},
		{"0.52 0.58 0.59 2/ 3715089\n", 0, false},
		{"0.52 0.58 0.59 2/-5 3715089\n", 0, false},
		{"0.52 0.58 0.59 2/99999999999999999999 1\n", 0, false},
	} {
		got, err := parseLoadavgTasks([]byte(tc.in))
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("parseLoadavgTasks(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil {
			checkParseErr(t, err)
		}
	}
}

// TestRlimit reads the task limit and count from fixture proc roots: the
// lesser of pid_max and threads-max, a missing limit file skipped.
func TestRlimit(t *testing.T) {
	write := func(root, name, content string) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rlimit := func(proc string) (Rlimit, error) {
		t.Helper()
		cgroups := t.TempDir()
		if err := os.WriteFile(filepath.Join(cgroups, "cgroup.controllers"), []byte("cpu memory"), 0o644); err != nil {
			t.Fatal(err)
		}
		fs, err := NewFS(proc, cgroups)
		if err != nil {
			t.Fatal(err)
		}
		return fs.Rlimit()
	}

	both := t.TempDir()
	write(both, "sys/kernel/pid_max", "32768\n")
	write(both, "sys/kernel/threads-max", "190873\n")
	write(both, "loadavg", "0.52 0.58 0.59 2/1207 3715089\n")
	if r, err := rlimit(both); err != nil || r != (Rlimit{MaxPID: 32768, Tasks: 1207}) {
		t.Errorf("Rlimit = %+v, %v; want pid_max 32768 (below threads-max), 1207 tasks", r, err)
	}

	onlyThreads := t.TempDir()
	write(onlyThreads, "sys/kernel/threads-max", "190873\n")
	write(onlyThreads, "loadavg", "0.52 0.58 0.59 2/1207 3715089\n")
	if r, err := rlimit(onlyThreads); err != nil || r != (Rlimit{MaxPID: 190873, Tasks: 1207}) {
		t.Errorf("Rlimit without pid_max = %+v, %v", r, err)
	}

	noLimits := t.TempDir()
	write(noLimits, "loadavg", "0.52 0.58 0.59 2/1207 3715089\n")
	if r, err := rlimit(noLimits); err != nil || r != (Rlimit{Tasks: 1207}) {
		t.Errorf("Rlimit without limit files = %+v, %v", r, err)
	}

	badLimit := t.TempDir()
	write(badLimit, "sys/kernel/pid_max", "lots\n")
	write(badLimit, "loadavg", "0.52 0.58 0.59 2/1207 3715089\n")
	if _, err := rlimit(badLimit); !errors.Is(err, ErrMalformed) {
		t.Errorf("Rlimit with pid_max %q: %v, want ErrMalformed", "lots", err)
	}

	if _, err := rlimit(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Rlimit without loadavg: %v, want ErrNotExist", err)
	}
}

// TestRlimitLive reads the machine's own /proc.
func TestRlimitLive(t *testing.T) {
	fs, err := NewFS("/proc", "/sys/fs/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	r, err := fs.Rlimit()
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if r.MaxPID <= 0 || r.Tasks <= 0 || r.Tasks > r.MaxPID {
		t.Errorf("Rlimit = %+v: want 0 < tasks <= max", r)
	}
}

func FuzzParseLoadavgTasks(f *testing.F) {
	f.Add([]byte("0.52 0.58 0.59 2/1207 3715089\n"))
	f.Add([]byte("0 0 0 /\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseLoadavgTasks(b)
		if err != nil {
			checkParseErr(t, err)
			return
		}
		if n < 0 {
			t.Fatalf("negative task count %d", n)
		}
	})
}
