package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/nodekit/nodekit/examples/internal/netns"
	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/runc"
	"github.com/nodekit/nodekit/proxy"
)

// runCleanup removes everything a node left behind: its pods, its network
// namespace (or, with --host-network, the proxy's iptables rules), its
// cgroups and its state directory.
func runCleanup(ctx context.Context, args []string) error {
	cfg := &config{}
	fs := flag.NewFlagSet("cleanup", flag.ContinueOnError)
	cfg.register(fs)
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if cfg.hostNetwork && cfg.nodeIP == "" {
		cfg.nodeIP = "127.0.0.1/8" // not used by cleanup
	}
	if err := cfg.complete(); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return usageError{"cleanup needs root"}
	}
	return cleanupNode(ctx, cfg)
}

func cleanupNode(ctx context.Context, cfg *config) error {
	var errs []error
	runtimeDir := filepath.Join(cfg.stateDir, "runtime")
	if _, err := os.Stat(runtimeDir); err == nil {
		opts := runc.Options{Images: runc.DirImageStore(filepath.Join(cfg.stateDir, "images")), CgroupRoot: cfg.cgroupRoot,
			Network: runc.NetworkOptions{Subnet: cfg.podCIDR}}
		if !cfg.hostNetwork && netns.Exists(cfg.netnsName) {
			opts.Network.NodeNetNSPath = filepath.Join(netns.Dir, cfg.netnsName)
		}
		rt, err := runc.New(runtimeDir, opts)
		if err != nil {
			errs = append(errs, err)
		} else {
			sbs, err := rt.ListPodSandboxes(ctx, kubelet.SandboxFilter{})
			errs = append(errs, err)
			for _, sb := range sbs {
				errs = append(errs, rt.RemovePodSandbox(ctx, sb.ID))
			}
			cs, err := rt.ListContainers(ctx, kubelet.ContainerFilter{})
			errs = append(errs, err)
			for _, c := range cs {
				errs = append(errs, rt.RemoveContainer(ctx, c.ID))
			}
		}
	}
	if cfg.hostNetwork {
		ipt, err := proxy.NewIPTables(ctx, proxy.IPTablesOptions{Backend: proxy.BackendMode(cfg.backend)})
		if err == nil {
			errs = append(errs, proxy.Cleanup(ctx, ipt))
			ipt.Close()
		} else {
			errs = append(errs, err)
		}
	} else {
		errs = append(errs, (&netns.Namespace{Name: cfg.netnsName, Path: filepath.Join(netns.Dir, cfg.netnsName)}).Delete(ctx))
	}
	errs = append(errs, removeCgroupTree(cfg.cgroupRoot))
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return removeStateDir(cfg.stateDir)
}

// cgroupFSRoot is where the cgroup hierarchies are mounted.
const cgroupFSRoot = "/sys/fs/cgroup"

// removeCgroupTree removes the cgroup root and every cgroup below it from
// every hierarchy (cgroup v1 controllers and the unified one), deepest
// first, then the root's parents up to the top when they are empty. A cgroup
// that still holds processes makes it fail.
func removeCgroupTree(root string) error {
	root = filepath.Clean("/" + root)
	if root == "/" {
		return errors.New("refusing to remove the root cgroup")
	}
	hierarchies, err := cgroupHierarchies()
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range hierarchies {
		top := filepath.Join(h, root)
		var dirs []string
		err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return fs.SkipAll
				}
				return err
			}
			if d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		slices.Reverse(dirs)
		for _, d := range dirs {
			if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
			}
		}
		for p := filepath.Dir(root); p != "/"; p = filepath.Dir(p) {
			if unix.Rmdir(filepath.Join(h, p)) != nil {
				break // not empty, or not ours alone
			}
		}
	}
	return errors.Join(errs...)
}

// cgroupHierarchies are the mounted hierarchies under cgroupFSRoot: the
// root itself on a unified host, else each v1 controller directory and the
// unified one of a hybrid host. Co-mounted controllers (cpu,cpuacct) are
// listed once.
func cgroupHierarchies() ([]string, error) {
	if _, err := os.Stat(filepath.Join(cgroupFSRoot, "cgroup.controllers")); err == nil {
		return []string{cgroupFSRoot}, nil
	}
	entries, err := os.ReadDir(cgroupFSRoot)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		p := filepath.Join(cgroupFSRoot, e.Name())
		if e.Type()&fs.ModeSymlink != 0 || !e.IsDir() {
			continue // cpu -> cpu,cpuacct
		}
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && (st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC) {
			out = append(out, p)
		}
	}
	return out, nil
}

// removeStateDir removes a state directory once nothing is mounted below
// it: a mount left there (a pod volume, an overlay) would have os.RemoveAll
// reach into another filesystem, so they are unmounted first and the
// removal is refused if one stays.
func removeStateDir(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		_ = unix.Unmount(m, unix.MNT_DETACH)
	}
	if mounts, err = mountsUnder(dir); err != nil {
		return err
	}
	if len(mounts) > 0 {
		return fmt.Errorf("not removing %s: still mounted below it: %s", dir, strings.Join(mounts, " "))
	}
	return os.RemoveAll(dir)
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		mp := unescapeMountPath(f[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return out, sc.Err()
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
