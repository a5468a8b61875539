package runc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// mountRootfs gives a container its own writable root filesystem at target:
// an overlay whose lower layer is the image's root filesystem (never written)
// and whose upper and work directories are the bundle's. When the kernel
// refuses the overlay (no overlay module, an upper directory on a filesystem
// overlayfs cannot use), the image is copied instead: slower and bigger, but
// the image stays untouched all the same. It reports whether an overlay was
// used.
func mountRootfs(lower, bundle, target string) (overlay bool, err error) {
	upper, work := filepath.Join(bundle, "upper"), filepath.Join(bundle, "work")
	for _, d := range []string{upper, work, target} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return false, fmt.Errorf("rootfs: %w", err)
		}
	}
	data := "lowerdir=" + escapeOverlayPath(lower) + ",upperdir=" + escapeOverlayPath(upper) + ",workdir=" + escapeOverlayPath(work)
	err = unix.Mount("overlay", target, "overlay", 0, data)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, unix.ENODEV) && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EOPNOTSUPP) {
		return false, fmt.Errorf("rootfs: mount overlay on %s: %w", target, err)
	}
	out, cerr := exec.Command("cp", "-a", "--reflink=auto", lower+"/.", target).CombinedOutput()
	if cerr != nil {
		return false, fmt.Errorf("rootfs: overlay refused (%v), copy failed: %w: %s", err, cerr, bytes.TrimSpace(out))
	}
	return false, nil
}

// escapeOverlayPath escapes the characters overlayfs' option parser treats
// specially.
func escapeOverlayPath(p string) string {
	return strings.NewReplacer(`\`, `\\`, `,`, `\,`, `:`, `\:`).Replace(p)
}

// mountTmpfs mounts a tmpfs of size bytes (0: the kernel default) with mode
// and the mount flags on dir, creating dir.
func mountTmpfs(dir string, size int64, mode os.FileMode, flags uintptr) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data := fmt.Sprintf("mode=%o", mode.Perm()|modeSticky(mode))
	if size > 0 {
		data += fmt.Sprintf(",size=%d", size)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", flags, data); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	return nil
}

func modeSticky(m os.FileMode) os.FileMode {
	if m&os.ModeSticky != 0 {
		return 0o1000
	}
	return 0
}

// mountPointsUnder returns the mount points of this process's mount namespace
// at or below dir, deepest first, from mountinfo (normally
// /proc/self/mountinfo).
func mountPointsUnder(mountinfo []byte, dir string) []string {
	dir = filepath.Clean(dir)
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space) in a
// mountinfo path.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isMountPoint reports whether dir is a mount point of this process's mount
// namespace.
func isMountPoint(dir string) (bool, error) {
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("read mountinfo: %w", err)
	}
	dir = filepath.Clean(dir)
	for _, mp := range mountPointsUnder(info, dir) {
		if mp == dir {
			return true, nil
		}
	}
	return false, nil
}

// unmountUnder unmounts everything mounted at or below dir, deepest first,
// each mount as often as it is stacked.
func unmountUnder(dir string) error {
	for range 16 {
		info, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return fmt.Errorf("read mountinfo: %w", err)
		}
		mps := mountPointsUnder(info, dir)
		if len(mps) == 0 {
			return nil
		}
		for _, mp := range mps {
			if err := unix.Unmount(mp, 0); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
					return fmt.Errorf("unmount %s: %w", mp, err)
				}
			}
		}
	}
	return fmt.Errorf("unmount below %s: mounts keep reappearing", dir)
}

// removeAllUnmounted unmounts everything below dir and removes it.
func removeAllUnmounted(dir string) error {
	if err := unmountUnder(dir); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}
