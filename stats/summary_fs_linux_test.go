//go:build linux

package stats

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestSummaryRootfsAndLogs(t *testing.T) {
	f := newLiveFixture(t)
	c := f.collector(Options{})
	rootfs, logs := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(rootfs, "etc", "config"), strings.Repeat("c", 20_000))
	writeFile(t, filepath.Join(logs, "0.log"), strings.Repeat("l", 70_000))
	tg := testTarget()
	tg.RootfsPath, tg.LogsPath = rootfs, logs
	if err := c.Add(tg); err != nil {
		t.Fatal(err)
	}
	f.refresh(c)
	ctr := c.Summary("n").Pods[0].Containers[0]
	if ctr.Rootfs == nil || ctr.Logs == nil {
		t.Fatalf("Rootfs %v Logs %v", ctr.Rootfs, ctr.Logs)
	}
	for name, got := range map[string]struct {
		dir    string
		used   uint64
		inodes uint64
	}{
		"rootfs": {rootfs, *ctr.Rootfs.UsedBytes, *ctr.Rootfs.InodesUsed},
		"logs":   {logs, *ctr.Logs.UsedBytes, *ctr.Logs.InodesUsed},
	} {
		wantBytes, wantInodes := duBytes(t, got.dir)
		if got.used != wantBytes || got.inodes != wantInodes {
			t.Errorf("%s: used %d bytes %d inodes, du says %d and %d", name, got.used, got.inodes, wantBytes, wantInodes)
		}
	}
	fsys, err := StatFilesystem(rootfs)
	if err != nil {
		t.Fatal(err)
	}
	if *ctr.Rootfs.CapacityBytes != fsys.CapacityBytes || *ctr.Rootfs.Inodes != fsys.Inodes {
		t.Errorf("rootfs capacity %d inodes %d, statfs %d %d", *ctr.Rootfs.CapacityBytes, *ctr.Rootfs.Inodes, fsys.CapacityBytes, fsys.Inodes)
	}
	// Removing the target forgets its cached walks.
	cache := c.opts.DirUsage.(*DirUsageCache)
	if len(cache.memo) != 2 {
		t.Errorf("cache holds %d walks, want 2", len(cache.memo))
	}
	c.Remove(tg.ID)
	if len(cache.memo) != 0 {
		t.Errorf("cache holds %d walks after Remove, want 0", len(cache.memo))
	}

	// Without paths, the figures are unknown: nil, not zero.
	c2 := f.collector(Options{})
	if err := c2.Add(testTarget()); err != nil {
		t.Fatal(err)
	}
	f.refresh(c2)
	if ctr := c2.Summary("n").Pods[0].Containers[0]; ctr.Rootfs != nil || ctr.Logs != nil {
		t.Error("Rootfs/Logs reported without paths")
	}
	bad := testTarget()
	bad.LogsPath = "relative/logs"
	if err := c2.Add(bad); err == nil || !strings.Contains(err.Error(), "field LogsPath") {
		t.Errorf("relative LogsPath: %v", err)
	}
}
