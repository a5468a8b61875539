package stats

import (
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/golden")

const (
	fixturePodUID   = "8f2c6d3e-3b7a-4d5e-9f10-2a6b7c8d9e01"
	fixturePodUID2  = "1b2c3d4e-5f60-4a1b-8c2d-3e4f5a6b7c8d"
	fixtureCID      = "3f9a1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8"
	fixtureCID2     = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
	v1ContainerPath = "/kubepods/burstable/pod" + fixturePodUID + "/" + fixtureCID
	v1PodPath       = "/kubepods/burstable/pod" + fixturePodUID
	hybridPodPath   = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod8f2c6d3e_3b7a_4d5e_9f10_2a6b7c8d9e01.slice"
	hybridCtrPath   = hybridPodPath + "/cri-containerd-" + fixtureCID + ".scope"
	v2PodPath       = "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1b2c3d4e_5f60_4a1b_8c2d_3e4f5a6b7c8d.slice"
	v2CtrPath       = v2PodPath + "/cri-containerd-" + fixtureCID2 + ".scope"
	v2GuaranteedPod = "/kubepods.slice/kubepods-pod8f2c6d3e_3b7a_4d5e_9f10_2a6b7c8d9e01.slice"
)

func fixtureFS(t testing.TB, name string) FS {
	t.Helper()
	fsys, err := NewFS(filepath.Join("testdata", name, "proc"), filepath.Join("testdata", name, "cgroup"))
	if err != nil {
		t.Fatalf("NewFS(%s): %v", name, err)
	}
	return fsys
}

// golden compares got, encoded as indented JSON, with testdata/golden/name.
func golden(t *testing.T, name string, got any) {
	t.Helper()
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, name, append(b, '\n'))
}

func compareGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", name, diff)
	}
}

func TestDetectLayout(t *testing.T) {
	tests := []struct {
		fixture  string
		mode     Mode
		versions [numControllers]CgroupVersion
		unified  string
	}{
		{"v1", ModeLegacy, [numControllers]CgroupVersion{V1, V1, V1, V1, V1}, ""},
		{"hybrid", ModeHybrid, [numControllers]CgroupVersion{V1, V1, V1, V1, V1}, "testdata/hybrid/cgroup/unified"},
		{"v2", ModeUnified, [numControllers]CgroupVersion{V2, V2, V2, V2, V2}, "testdata/v2/cgroup"},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			l, err := DetectLayout(filepath.Join("testdata", tc.fixture, "cgroup"))
			if err != nil {
				t.Fatal(err)
			}
			if l.Mode != tc.mode || l.Versions != tc.versions || l.UnifiedRoot != tc.unified {
				t.Errorf("got mode %v versions %v unified %q, want %v %v %q", l.Mode, l.Versions, l.UnifiedRoot, tc.mode, tc.versions, tc.unified)
			}
		})
	}
	t.Run("empty", func(t *testing.T) {
		_, err := DetectLayout(t.TempDir())
		if !errors.Is(err, ErrNoController) {
			t.Errorf("got %v, want ErrNoController", err)
		}
	})
	t.Run("hybrid-binds-unlisted-v1-controller-to-unified", func(t *testing.T) {
		root := t.TempDir()
		writeFile(t, filepath.Join(root, "memory", "cgroup.procs"), "")
		writeFile(t, filepath.Join(root, "unified", "cgroup.controllers"), "pids\n")
		l, err := DetectLayout(root)
		if err != nil {
			t.Fatal(err)
		}
		want := [numControllers]CgroupVersion{VersionNone, V2, V1, VersionNone, V2}
		if l.Mode != ModeHybrid || l.Versions != want {
			t.Errorf("got %v %v, want hybrid %v", l.Mode, l.Versions, want)
		}
	})
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestStatFixtures(t *testing.T) {
	tests := []struct {
		name, fixture, path string
		mask                Mask
	}{
		{"v1-container", "v1", v1ContainerPath, MaskAll},
		{"v1-pod", "v1", v1PodPath, MaskDefault},
		{"v1-root", "v1", "/", MaskDefault},
		{"hybrid-container", "hybrid", hybridCtrPath, MaskAll},
		{"v2-container", "v2", v2CtrPath, MaskAll},
		{"v2-pod", "v2", v2PodPath, MaskDefault},
		{"v2-guaranteed-pod", "v2", v2GuaranteedPod, MaskDefault | MaskPSI},
		{"v2-root", "v2", "/", MaskDefault | MaskPSI},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := fixtureFS(t, tc.fixture).Stat(tc.path, tc.mask)
			if err != nil {
				t.Fatal(err)
			}
			m := s.Memory
			// The documented working-set formula, recomputed from raw fields.
			want := uint64(0)
			if m.UsageBytes > m.InactiveFileBytes {
				want = m.UsageBytes - m.InactiveFileBytes
			}
			if m.WorkingSetBytes != want {
				t.Errorf("WorkingSetBytes = %d, want usage %d - inactive_file %d = %d", m.WorkingSetBytes, m.UsageBytes, m.InactiveFileBytes, want)
			}
			golden(t, "stat-"+tc.name+".json", s)
		})
	}
}

// TestStatV1ContainerRawValues pins figures copied from a real cgroup v1
// container on kernel 6.18 against the raw files (see testdata/README.md).
func TestStatV1ContainerRawValues(t *testing.T) {
	s, err := fixtureFS(t, "v1").Stat(v1ContainerPath, MaskAll)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"cpu usage (cpuacct.usage)", s.CPU.UsageNanos, 849038869},
		{"cpu user (cpuacct.stat user 25 ticks)", s.CPU.UserNanos, 250_000_000},
		{"cpu system (59 ticks)", s.CPU.SystemNanos, 590_000_000},
		{"nr_periods", s.CPU.Periods, 19},
		{"nr_throttled", s.CPU.ThrottledPeriods, 16},
		{"throttled_time", s.CPU.ThrottledNanos, 790850333},
		{"memory.usage_in_bytes", s.Memory.UsageBytes, 8962048},
		{"memory.limit_in_bytes", s.Memory.LimitBytes, 268435456},
		{"total_inactive_file", s.Memory.InactiveFileBytes, 20480},
		{"working set", s.Memory.WorkingSetBytes, 8962048 - 20480},
		{"total_rss", s.Memory.RSSBytes, 131072},
		{"total_cache", s.Memory.CacheBytes, 8491008},
		{"io read bytes", s.IO.ReadBytes, 4194304},
		{"io write bytes", s.IO.WriteBytes, 4194304},
		{"io read ops", s.IO.ReadOps, 8},
		{"pids.current", s.Pids.Current, 2},
		{"pids.max", s.Pids.Limit, 100},
		{"processes", s.Processes.Processes, 1},
		{"fds", s.Processes.FileDescriptors, 5},
		{"sockets", s.Processes.Sockets, 1},
		{"percpu len", uint64(len(s.CPU.PerCPUNanos)), 2},
		{"cfs quota", uint64(s.CPULimits.QuotaMicros), 50000},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if !s.Memory.Limited() {
		t.Error("Limited() = false for a 256 MiB limit")
	}
	root, err := fixtureFS(t, "v1").Stat("/", MaskMemory|MaskPids)
	if err != nil {
		t.Fatal(err)
	}
	if root.Memory.Limited() || root.Pids.HasCurrent {
		t.Errorf("root: Limited() = %v (want false), Pids.HasCurrent = %v (want false)", root.Memory.Limited(), root.Pids.HasCurrent)
	}
}

func TestStatErrors(t *testing.T) {
	v1 := fixtureFS(t, "v1")
	t.Run("vanished cgroup", func(t *testing.T) {
		_, err := v1.Stat("/kubepods/burstable/podgone/abc", MaskDefault)
		if !errors.Is(err, ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("got %v, want ErrNotFound matching fs.ErrNotExist", err)
		}
	})
	t.Run("relative path", func(t *testing.T) {
		if _, err := v1.Stat("kubepods", MaskCPU); !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("got %v, want ErrInvalidTarget", err)
		}
	})
	t.Run("dotdot", func(t *testing.T) {
		if _, err := v1.Stat("/kubepods/../..", MaskCPU); !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("got %v, want ErrInvalidTarget", err)
		}
	})
	t.Run("missing file in existing cgroup", func(t *testing.T) {
		// kubepods has only cgroup.procs in the fixture.
		if _, err := v1.Stat("/kubepods", MaskMemory); !errors.Is(err, ErrMissingFile) || errors.Is(err, ErrNotFound) {
			t.Errorf("got %v, want ErrMissingFile and not ErrNotFound", err)
		}
	})
	t.Run("vanishes mid-read gives no partial sample", func(t *testing.T) {
		// Copy the container, then remove the memory directory only: the
		// CPU files read fine, memory is gone; the read must fail as a whole.
		root := copyTree(t, "testdata/v1")
		if err := os.RemoveAll(filepath.Join(root, "cgroup/memory", v1ContainerPath)); err != nil {
			t.Fatal(err)
		}
		fsys, err := NewFS(filepath.Join(root, "proc"), filepath.Join(root, "cgroup"))
		if err != nil {
			t.Fatal(err)
		}
		var s CgroupStats
		err = fsys.NewReader().Stat(v1ContainerPath, MaskDefault, &s)
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("got %v, want ErrNotFound", err)
		}
		if s.CPU.UsageNanos != 0 || s.Mask != 0 {
			t.Errorf("sample left half-filled after error: %+v", s.CPU)
		}
	})
	t.Run("malformed file", func(t *testing.T) {
		root := copyTree(t, "testdata/v1")
		writeFile(t, filepath.Join(root, "cgroup/memory", v1ContainerPath, "memory.usage_in_bytes"), "lots\n")
		fsys, err := NewFS(filepath.Join(root, "proc"), filepath.Join(root, "cgroup"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = fsys.Stat(v1ContainerPath, MaskMemory)
		var pe *ParseError
		if !errors.As(err, &pe) || pe.File != "memory.usage_in_bytes" || !errors.Is(err, ErrMalformed) {
			t.Errorf("got %v, want *ParseError for memory.usage_in_bytes", err)
		}
	})
	t.Run("net/dev of missing pid", func(t *testing.T) {
		if _, err := v1.NetDev(999999); !errors.Is(err, ErrNotFound) {
			t.Errorf("got %v, want ErrNotFound", err)
		}
	})
}

// copyTree copies a fixture into a temporary directory (symlinks kept).
func copyTree(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		case info.IsDir():
			return os.MkdirAll(target, 0o755)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, 0o644)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestNetDevFixture(t *testing.T) {
	n, err := fixtureFS(t, "v1").NetDev(4242)
	if err != nil {
		t.Fatal(err)
	}
	want := []InterfaceStats{{Name: "eth0", RxBytes: 1873461, RxPackets: 12043, RxErrors: 1, RxDropped: 3, TxBytes: 982311, TxPackets: 9021, TxDropped: 2}}
	if diff := cmp.Diff(want, n.Interfaces); diff != "" {
		t.Errorf("NetDev (-want +got):\n%s", diff)
	}
}

func TestMachineFixture(t *testing.T) {
	m, err := fixtureFS(t, "v2").Machine()
	if err != nil {
		t.Fatal(err)
	}
	if m.NumCores != 2 || m.MemoryCapacityBytes == 0 || m.KernelVersion != "6.18.44-fc-v657" || m.BootID == "" {
		t.Errorf("Machine() = %+v", m)
	}
	names, err := fixtureFS(t, "v2").DeviceNames()
	if err != nil {
		t.Fatal(err)
	}
	if got := names.Name(254, 0); got != "/dev/vda" {
		t.Errorf("Name(254,0) = %q, want /dev/vda", got)
	}
	if got := names.Name(8, 1); got != "8:1" {
		t.Errorf("Name(8,1) = %q, want 8:1", got)
	}
}
