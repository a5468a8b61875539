//go:build linux

package stats

import (
	"os/exec"
	"testing"
)

// BenchmarkCollectLive samples a real container-like cgroup (a sleeping
// shell) on this machine's hierarchy. It needs root; see the kernel tests.
func BenchmarkCollectLive(b *testing.B) {
	b.Run("cgroup=live", func(b *testing.B) {
		fsys := realFS(b)
		rc := testCgroup(b, fsys)
		sleeper := exec.Command("sh", "-c", rc.join()+"exec sleep 600")
		startKilled(b, sleeper)
		benchSample(b, fsys, rc.path, sleeper.Process.Pid)
	})
}
