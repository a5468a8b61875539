package privtest

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestLookToolFindsPathCommand(t *testing.T) {
	dir := t.TempDir()
	tool := filepath.Join(dir, "nodekit-fake-tool")
	if err := os.WriteFile(tool, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	got, err := LookTool("nodekit-fake-tool")
	if err != nil || got != tool {
		t.Fatalf("LookTool = %q, %v; want %q", got, err, tool)
	}
	if _, err := LookTool("nodekit-no-such-tool"); err == nil {
		t.Fatal("LookTool found a tool that does not exist")
	}
}

func TestMissingNamesEachAbsentTool(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	got := Missing("nodekit-absent-a", "cni:nodekit-absent-b")
	want := []string{"nodekit-absent-a", "cni:nodekit-absent-b"}
	if os.Geteuid() != 0 {
		want = append([]string{"root"}, want...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Missing = %q, want %q", got, want)
	}
}

func TestRequired(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  bool
	}{{"", false}, {"0", false}, {"1", true}, {"true", true}, {"TRUE", true}, {"yes", false}} {
		t.Setenv(EnvRequire, tc.value)
		if got := Required(); got != tc.want {
			t.Errorf("%s=%q: Required() = %v, want %v", EnvRequire, tc.value, got, tc.want)
		}
	}
}

// recorder is a testing.TB that records whether Skip or Fatal was called
// instead of stopping the goroutine.
type recorder struct {
	testing.TB
	skipped, failed bool
}

func (r *recorder) Helper()               {}
func (r *recorder) Skip(args ...any)      { r.skipped = true }
func (r *recorder) Fatalf(string, ...any) { r.failed = true }

func TestRequireSkipsOrFails(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	for _, tc := range []struct {
		env                string
		wantSkip, wantFail bool
	}{{"", true, false}, {"1", false, true}} {
		t.Setenv(EnvRequire, tc.env)
		r := &recorder{TB: t}
		Require(r, "nodekit-absent")
		if r.skipped != tc.wantSkip || r.failed != tc.wantFail {
			t.Errorf("%s=%q: skipped=%v failed=%v, want %v %v", EnvRequire, tc.env, r.skipped, r.failed, tc.wantSkip, tc.wantFail)
		}
	}
}
