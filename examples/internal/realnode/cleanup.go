package realnode

import (
	"bufio"
	"bytes"
	"context"
	"errors"
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

// Cleanup removes everything a node left behind: its pods, its network
// namespace (or, with HostNetwork, the proxy's iptables rules), its cgroups
// and its state directory. cfg must be completed.
func Cleanup(ctx context.Context, cfg *Config) error {
	var errs []error
	runtimeDir := filepath.Join(cfg.StateDir, "runtime")
	if _, err := os.Stat(runtimeDir); err == nil {
		opts := runc.Options{Images: runc.DirImageStore(filepath.Join(cfg.StateDir, "images")), CgroupRoot: cfg.CgroupRoot,
			Network: runc.NetworkOptions{Subnet: cfg.PodCIDR}}
		if !cfg.HostNetwork && netns.Exists(cfg.NetnsName) {
			opts.Network.NodeNetNSPath = filepath.Join(netns.Dir, cfg.NetnsName)
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
	if cfg.HostNetwork {
		ipt, err := proxy.NewIPTables(ctx, proxy.IPTablesOptions{Backend: proxy.BackendMode(cfg.Backend)})
		if err == nil {
			errs = append(errs, proxy.Cleanup(ctx, ipt))
			ipt.Close()
		} else {
			errs = append(errs, err)
		}
	} else {
		errs = append(errs, (&netns.Namespace{Name: cfg.NetnsName, Path: filepath.Join(netns.Dir, cfg.NetnsName)}).Delete(ctx))
	}
	errs = append(errs, RemoveCgroupTree(cfg.CgroupRoot))
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return RemoveStateDir(cfg.StateDir)
}

// cgroupFSRoot is where the cgroup hierarchies are mounted.
const cgroupFSRoot = "/sys/fs/cgroup"

// RemoveCgroupTree removes the cgroup root and every cgroup below it from
// every hierarchy (cgroup v1 controllers and the unified one), deepest
// first, then the root's parents up to the top when they are empty. A cgroup
// that still holds processes makes it fail.
func RemoveCgroupTree(root string) error {
	root = filepath.Clean("/" + root)
	if root == "/" {
		return errors.New("refusing to remove the root cgroup")
	}
	hierarchies, err := CgroupHierarchies()
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

// CgroupHierarchies are the mounted hierarchies under cgroupFSRoot: the
// root itself on a unified host, else each v1 controller directory and the
// unified one of a hybrid host. Co-mounted controllers (cpu,cpuacct) are
// listed once.
func CgroupHierarchies() ([]string, error) {
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

// RemoveStateDir removes a state directory once nothing is mounted below
// it: a mount left there (a pod volume, an overlay) would have os.RemoveAll
// reach into another filesystem, so they are unmounted first and the
// removal is refused if one stays.
func RemoveStateDir(dir string) error {
	mounts, err := MountsUnder(dir)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		_ = unix.Unmount(m, unix.MNT_DETACH)
	}
	if mounts, err = MountsUnder(dir); err != nil {
		return err
	}
	if len(mounts) > 0 {
		return fmt.Errorf("not removing %s: still mounted below it: %s", dir, strings.Join(mounts, " "))
	}
	return os.RemoveAll(dir)
}

// MountsUnder lists the mount points at or below dir, deepest first.
func MountsUnder(dir string) ([]string, error) {
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
