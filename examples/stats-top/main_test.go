package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestRunOnFixture renders two refreshes of the stats package's cgroup v2
// fixture (a systemd-layout kubepods tree).
func TestRunOnFixture(t *testing.T) {
	var out bytes.Buffer
	cfg := config{
		procRoot:   "../../stats/testdata/v2/proc",
		cgroupRoot: "../../stats/testdata/v2/cgroup",
		interval:   10 * time.Millisecond,
		iterations: 2,
	}
	if err := run(context.Background(), cfg, &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"cgroup unified", "3 targets", "(node)",
		"pod 1b2c3d4e-5f6 container a1b2c3d4e5f6", // discovered container, short IDs
		"pod 8f2c6d3e-3b7",                        // guaranteed pod
		"128.0MiB",                                // its memory limit
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	// The fixture does not change, so the second refresh shows zero rates.
	if !strings.Contains(got, "0.000") {
		t.Errorf("no CPU rate shown:\n%s", got)
	}
}

func TestBytes(t *testing.T) {
	for v, want := range map[float64]string{0: "0B", 1023: "1023B", 1536: "1.5KiB", 64 << 20: "64.0MiB"} {
		if got := humanBytes(v); got != want {
			t.Errorf("humanBytes(%v) = %q, want %q", v, got, want)
		}
	}
}
