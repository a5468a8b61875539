//go:build linux

package stats

import (
	"os/exec"
	"testing"
)

// BenchmarkCollectLive samples a real cgroup v1 container-like cgroup (a
// sleeping shell in memory, cpu, cpuacct, pids and blkio) on this machine.
// It needs root; see the kernel tests.
func BenchmarkCollectLive(b *testing.B) {
	b.Run("cgroup=v1", func(b *testing.B) {
		fsys := realFS(b)
		cg := testCgroup(b, fsys)
		sleeper := exec.Command("sh", "-c", joinCommand(fsys, cg)+"exec sleep 600")
		startKilled(b, sleeper)
		benchSample(b, fsys, cg, sleeper.Process.Pid)
	})
}
