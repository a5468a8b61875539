package runc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// leftovers lists what a Runtime with no sandboxes must not hold: mounts
// below the state root, cgroups below the test's cgroup root other than the
// kubepods QoS levels, runc state, bundles, sandbox directories, exit files,
// CNI allocations and cached results, and network namespaces.
func leftovers(e *testEnv, r *Runtime) []string {
	var out []string
	info, _ := os.ReadFile("/proc/self/mountinfo")
	for _, mp := range mountPointsUnder(info, e.root) {
		out = append(out, "mount "+mp)
	}
	for _, h := range cgroupHierarchies(DefaultCgroupFSRoot) {
		_ = filepath.WalkDir(filepath.Join(h, e.cgroupRoot), func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			base := filepath.Base(p)
			if strings.HasPrefix(base, "pod") || validID(base) {
				out = append(out, "cgroup "+p)
			}
			return nil
		})
	}
	for _, d := range []string{dirRunc, dirSandboxes, dirContainers, dirExits, dirAttach, dirPodLogs, filepath.Join(dirKubelet, "pods")} {
		entries, _ := os.ReadDir(filepath.Join(r.root, d))
		for _, en := range entries {
			out = append(out, "state "+filepath.Join(d, en.Name()))
		}
	}
	_ = filepath.WalkDir(filepath.Join(r.root, "cni"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		switch filepath.Base(p) {
		case "lock":
			return nil
		}
		if strings.HasPrefix(filepath.Base(p), "last_reserved_ip") {
			return nil
		}
		out = append(out, "cni "+p)
		return nil
	})
	return out
}

func assertNoLeftovers(t *testing.T, e *testEnv, r *Runtime) {
	t.Helper()
	if l := leftovers(e, r); len(l) > 0 {
		t.Errorf("leftovers after removal:\n%s", strings.Join(l, "\n"))
	}
}
