package stats

import (
	"fmt"
	"os"
	"path/filepath"
)

// CgroupVersion says which cgroup hierarchy serves a controller.
type CgroupVersion int

const (
	// VersionNone means the controller is not mounted.
	VersionNone CgroupVersion = iota
	// V1 means a legacy per-controller hierarchy (/sys/fs/cgroup/<ctrl>).
	V1
	// V2 means the unified hierarchy.
	V2
)

// String returns "none", "v1" or "v2".
func (v CgroupVersion) String() string {
	switch v {
	case V1:
		return "v1"
	case V2:
		return "v2"
	}
	return "none"
}

// Mode is the overall cgroup setup of a machine.
type Mode int

const (
	// ModeLegacy has only v1 hierarchies.
	ModeLegacy Mode = iota + 1
	// ModeHybrid has v1 hierarchies plus a cgroup2 mount at <root>/unified
	// (systemd's hybrid layout); controllers are served by v1 unless they
	// are bound to the unified hierarchy.
	ModeHybrid
	// ModeUnified has only the v2 hierarchy mounted at the root.
	ModeUnified
)

// String returns "legacy", "hybrid" or "unified".
func (m Mode) String() string {
	switch m {
	case ModeLegacy:
		return "legacy"
	case ModeHybrid:
		return "hybrid"
	case ModeUnified:
		return "unified"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Controller names a resource controller this package reads.
type Controller int

const (
	// ControllerCPU is bandwidth control (v1 cpu; v2 cpu).
	ControllerCPU Controller = iota
	// ControllerCPUAcct is CPU accounting (v1 cpuacct; on v2 the core
	// cpu.stat present in every cgroup).
	ControllerCPUAcct
	// ControllerMemory is the memory controller.
	ControllerMemory
	// ControllerIO is v1 blkio or v2 io.
	ControllerIO
	// ControllerPids is the pids controller.
	ControllerPids
	numControllers
)

var controllerV1Names = [numControllers]string{"cpu", "cpuacct", "memory", "blkio", "pids"}
var controllerV2Names = [numControllers]string{"cpu", "", "memory", "io", "pids"}

// String returns the v1 controller name.
func (c Controller) String() string {
	if c >= 0 && c < numControllers {
		return controllerV1Names[c]
	}
	return fmt.Sprintf("Controller(%d)", int(c))
}

// Layout records, per controller, which hierarchy serves it and where.
type Layout struct {
	// Mode is legacy, hybrid or unified.
	Mode Mode
	// Versions is indexed by Controller.
	Versions [numControllers]CgroupVersion
	// Roots is indexed by Controller: the directory of the hierarchy root.
	Roots [numControllers]string
	// UnifiedRoot is the directory of the v2 hierarchy, "" if none.
	UnifiedRoot string
}

// Version returns the hierarchy serving c.
func (l Layout) Version(c Controller) CgroupVersion {
	if c < 0 || c >= numControllers {
		return VersionNone
	}
	return l.Versions[c]
}

// DetectLayout inspects cgroupRoot (normally /sys/fs/cgroup): a
// cgroup.controllers file at the root means unified; otherwise each v1
// controller directory holding cgroup.procs is v1, and a cgroup2 tree at
// <root>/unified makes the mode hybrid and serves the controllers it lists
// that no v1 hierarchy has. Only files are inspected, so fixture trees work.
func DetectLayout(cgroupRoot string) (Layout, error) {
	var l Layout
	if b, err := os.ReadFile(filepath.Join(cgroupRoot, "cgroup.controllers")); err == nil {
		l.Mode = ModeUnified
		l.UnifiedRoot = cgroupRoot
		l.bindV2(cgroupRoot, parseControllers(b), false)
		return l, nil
	}
	anyV1 := false
	for c := range numControllers {
		dir := filepath.Join(cgroupRoot, controllerV1Names[c])
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err == nil {
			l.Versions[c] = V1
			l.Roots[c] = dir
			anyV1 = true
		}
	}
	unified := filepath.Join(cgroupRoot, "unified")
	if b, err := os.ReadFile(filepath.Join(unified, "cgroup.controllers")); err == nil {
		l.Mode = ModeHybrid
		l.UnifiedRoot = unified
		l.bindV2(unified, parseControllers(b), true)
		return l, nil
	}
	if !anyV1 {
		return l, fmt.Errorf("detect cgroup layout under %s: no cgroup.controllers and no v1 controller directory: %w", cgroupRoot, ErrNoController)
	}
	l.Mode = ModeLegacy
	return l, nil
}

// bindV2 marks the controllers listed in cgroup.controllers (and CPU
// accounting, which v2 always has) as served by the v2 hierarchy at root,
// without overriding v1 bindings when onlyUnbound is set.
func (l *Layout) bindV2(root string, listed []string, onlyUnbound bool) {
	for c := range numControllers {
		if onlyUnbound && l.Versions[c] != VersionNone {
			continue
		}
		ok := c == ControllerCPUAcct
		for _, name := range listed {
			if name == controllerV2Names[c] {
				ok = true
			}
		}
		if ok {
			l.Versions[c] = V2
			l.Roots[c] = root
		}
	}
}

// parseControllers parses cgroup.controllers, a blank-separated list.
func parseControllers(b []byte) []string {
	var out []string
	for {
		var f []byte
		f, b = nextField(b)
		if len(f) == 0 {
			return out
		}
		out = append(out, string(f))
	}
}
