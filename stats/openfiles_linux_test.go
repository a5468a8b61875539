//go:build linux

package stats

import (
	"context"
	"os"
	"testing"
	"time"
)

func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// TestCollectorKeepsFilesOpen checks the descriptor cache: files stay open
// between passes, changes to them are seen, removed targets' files are
// closed by the next pass, and Close releases the rest.
func TestCollectorKeepsFilesOpen(t *testing.T) {
	f := newLiveFixture(t)
	base := openFDs(t)
	c := f.collector(Options{})
	if err := c.Add(testTarget()); err != nil {
		t.Fatal(err)
	}
	f.setCPU(v1ContainerPath, 1_000_000_000)
	f.refresh(c)
	held := openFDs(t) - base
	if held < 10 {
		t.Fatalf("%d descriptors held after a pass, want the cgroup files kept open", held)
	}
	f.clock.Step(time.Second)
	f.setCPU(v1ContainerPath, 1_400_000_000) // rewritten in place: same inode
	f.refresh(c)
	if got := openFDs(t) - base; got != held {
		t.Errorf("second pass changed the held descriptors from %d to %d", held, got)
	}
	if r, ok, _ := c.Rates(v1ContainerPath); !ok || r.CPUNanoCores != 400_000_000 {
		t.Errorf("rate through cached descriptors: %+v", r)
	}
	c.Remove(v1ContainerPath)
	f.refresh(c)
	afterRemove := openFDs(t) - base
	if afterRemove >= held {
		t.Errorf("removed target's descriptors not closed: %d held, %d before", afterRemove, held)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if got := openFDs(t) - base; got != 0 {
		t.Errorf("%d descriptors left after Close", got)
	}
	// Still usable after Close.
	if err := c.Add(testTarget()); err != nil {
		t.Fatal(err)
	}
	f.refresh(c)
	if _, ok, _ := c.Latest(v1ContainerPath); !ok {
		t.Error("no sample after Close")
	}
	c.Close()

	// ReopenFiles keeps nothing open.
	c2 := f.collector(Options{ReopenFiles: true})
	if err := c2.Add(testTarget()); err != nil {
		t.Fatal(err)
	}
	if err := c2.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := openFDs(t) - base; got != 0 {
		t.Errorf("ReopenFiles: %d descriptors held", got)
	}
}

func TestCollectorOpenFilesBudget(t *testing.T) {
	f := newLiveFixture(t)
	base := openFDs(t)
	c := f.collector(Options{MaxOpenFiles: 5})
	defer c.Close()
	if err := c.Add(testTarget()); err != nil {
		t.Fatal(err)
	}
	f.setCPU(v1ContainerPath, 1_000_000_000)
	f.refresh(c)
	if got := openFDs(t) - base; got != 5 {
		t.Errorf("%d descriptors held, want the budget of 5", got)
	}
	f.clock.Step(time.Second)
	f.setCPU(v1ContainerPath, 1_250_000_000)
	f.setMemory(v1ContainerPath, 1<<30)
	f.refresh(c)
	r, ok, _ := c.Rates(v1ContainerPath)
	s, _, _ := c.Latest(v1ContainerPath)
	if !ok || r.CPUNanoCores != 250_000_000 || s.Stats.Memory.UsageBytes != 1<<30 {
		t.Errorf("beyond the budget: rate %+v usage %d", r, s.Stats.Memory.UsageBytes)
	}
	if got := c.budget.used.Load(); got != 5 {
		t.Errorf("budget accounts %d descriptors, want 5", got)
	}
	c.Close()
	if got := c.budget.used.Load(); got != 0 {
		t.Errorf("budget accounts %d descriptors after Close, want 0", got)
	}
}
