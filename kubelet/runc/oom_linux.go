package runc

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// parseOOMKillCount returns the value of the "oom_kill" line of a cgroup v1
// memory.oom_control or cgroup v2 memory.events file, and whether there is
// one.
func parseOOMKillCount(data []byte) (uint64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, value, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if !ok || key != "oom_kill" {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// oomKilled reports whether the kernel's OOM killer killed a process of the
// cgroup at cgroupsPath (a cgroupfs path such as /kubepods/pod<uid>/<id>),
// from memory.oom_control of the v1 memory hierarchy when there is one
// (hybrid hosts), else memory.events of the unified hierarchy. The cgroup must
// still exist: it is read before runc delete removes it.
func oomKilled(fsRoot, cgroupsPath string) bool {
	if cgroupsPath == "" {
		return false
	}
	candidates := []string{
		filepath.Join(fsRoot, "memory", cgroupsPath, "memory.oom_control"),
		filepath.Join(fsRoot, cgroupsPath, "memory.events"),
	}
	for _, p := range candidates {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		n, ok := parseOOMKillCount(data)
		return ok && n > 0
	}
	return false
}

// cgroupHierarchies returns the mount points of the cgroup hierarchies below
// fsRoot: each v1 controller directory (and the unified one of hybrid hosts),
// or fsRoot itself on a pure v2 host.
func cgroupHierarchies(fsRoot string) []string {
	if _, err := os.Stat(filepath.Join(fsRoot, "cgroup.controllers")); err == nil {
		return []string{fsRoot}
	}
	entries, err := os.ReadDir(fsRoot)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, filepath.Join(fsRoot, e.Name()))
		}
	}
	return out
}

// removeCgroup removes the cgroup cgroupsPath and every cgroup below it, in
// every hierarchy, deepest first. Cgroups still holding processes are left
// and reported by the returned error.
func removeCgroup(fsRoot, cgroupsPath string) error {
	if c := filepath.Clean("/" + cgroupsPath); c == "/" {
		return fmt.Errorf("refusing to remove the root cgroup (%q)", cgroupsPath)
	}
	var firstErr error
	for _, h := range cgroupHierarchies(fsRoot) {
		dir := filepath.Join(h, cgroupsPath)
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		var dirs []string
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil && !os.IsNotExist(err) && firstErr == nil {
				firstErr = err
			}
		}
	}
	return firstErr
}
