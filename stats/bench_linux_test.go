//go:build linux

package stats

import (
	"os/exec"
	"testing"
)

// BenchmarkCollectLive samples a real container-like cgroup (a sleeping
// shell) on this machine's hierarchy. It needs root; see the kernel tests.
func BenchmarkCollectLive(b *testing.B) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"cgroup=live", Options{}},
		{"cgroup=live/reopen-files", Options{ReopenFiles: true}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			fsys := realFS(b)
			rc := testCgroup(b, fsys)
			sleeper := exec.Command("sh", "-c", rc.join()+"exec sleep 600")
			startKilled(b, sleeper)
			benchSample(b, fsys, rc.path, sleeper.Process.Pid, tc.opts)
		})
	}
}
