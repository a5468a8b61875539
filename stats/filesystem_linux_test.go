//go:build linux

package stats

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestStatFilesystem(t *testing.T) {
	dir := t.TempDir()
	got, err := StatFilesystem(dir)
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if got.CapacityBytes != st.Blocks*uint64(st.Bsize) || got.Inodes != st.Files {
		t.Errorf("StatFilesystem = %+v, statfs says blocks %d bsize %d files %d", got, st.Blocks, st.Bsize, st.Files)
	}
	if got.AvailableBytes > got.CapacityBytes || got.UsedBytes > got.CapacityBytes {
		t.Errorf("inconsistent figures: %+v", got)
	}
	if _, err := StatFilesystem(filepath.Join(dir, "missing")); err == nil {
		t.Error("statfs of a missing path succeeded")
	}
}

// duBytes sums st_blocks*512 over the tree, counting hard links once, as
// the expected value (the same definition as du -x --block-size=1).
func duBytes(t *testing.T, root string) (bytes, inodes uint64) {
	t.Helper()
	seen := map[uint64]bool{}
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		if !info.IsDir() && st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		bytes += uint64(st.Blocks) * 512
		inodes++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return bytes, inodes
}

func TestDirUsage(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a", "big"), strings.Repeat("x", 100_000))
	writeFile(t, filepath.Join(root, "a", "b", "small"), "hello")
	writeFile(t, filepath.Join(root, "c"), strings.Repeat("y", 5000))
	if err := os.Link(filepath.Join(root, "c"), filepath.Join(root, "a", "c-link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(root, "etc-link")); err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakeClock(fixtureStart)
	cache := NewDirUsageCache(DirUsageOptions{TTL: time.Minute, Clock: clk})
	ctx := context.Background()
	u, err := cache.Usage(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	wantBytes, wantInodes := duBytes(t, root)
	if u.Bytes != wantBytes || u.Inodes != wantInodes || !u.Complete {
		t.Errorf("Usage = %+v, want %d bytes, %d inodes, complete", u, wantBytes, wantInodes)
	}
	if u.Inodes != 7 { // root, a, a/b, big, small, c (+link once), etc-link
		t.Errorf("inodes = %d, want 7", u.Inodes)
	}

	// Cached within the TTL, walked again after it.
	writeFile(t, filepath.Join(root, "new"), strings.Repeat("z", 50_000))
	if u2, _ := cache.Usage(ctx, root); u2 != u {
		t.Errorf("result not cached: %+v then %+v", u, u2)
	}
	clk.Step(time.Minute)
	u3, err := cache.Usage(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if u3.Inodes != 8 || u3.Bytes <= u.Bytes {
		t.Errorf("after TTL: %+v", u3)
	}

	if _, err := cache.Usage(ctx, filepath.Join(root, "missing")); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing dir: %v, want ErrNotFound", err)
	}
}

// steppingClock advances a fake clock by step on every Now, so a walk sees
// time pass without sleeping.
type steppingClock struct {
	*clocktesting.FakeClock
	step time.Duration
}

func (c steppingClock) Now() time.Time {
	c.FakeClock.Step(c.step)
	return c.FakeClock.Now()
}

var _ clock.Clock = steppingClock{}

func TestDirUsageBudget(t *testing.T) {
	root := t.TempDir()
	for i := range 700 {
		writeFile(t, filepath.Join(root, fmt.Sprintf("f%03d", i)), "")
	}
	// The walk checks the clock every 256 entries: at the second check it
	// is past the 1 s budget.
	clk := steppingClock{clocktesting.NewFakeClock(fixtureStart), 600 * time.Millisecond}
	cache := NewDirUsageCache(DirUsageOptions{Budget: time.Second, Clock: clk})
	u, err := cache.Usage(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	_, total := duBytes(t, root)
	if u.Complete || u.Inodes >= total || u.Inodes == 0 {
		t.Errorf("budgeted walk: %+v (tree has %d inodes), want an incomplete partial count", u, total)
	}
}
