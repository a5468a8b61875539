package runc

import (
	"context"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/nodekit/nodekit/kubelet/oci"
)

// DefaultBusyboxPath is where Debian's busybox-static package installs the
// statically linked busybox.
const DefaultBusyboxPath = "/bin/busybox"

// WriteBusyboxImage writes a small image into store under ref, for tests and
// examples: a root filesystem holding busybox (a statically linked binary
// such as Debian's busybox-static, copied from busyboxPath) with a symbolic
// link per applet in /bin, /etc/passwd with root and nobody (65534),
// /etc/group, empty /proc, /sys, /dev, /root and /tmp (mode 1777), and an
// image configuration running "sh" with a default PATH. An existing image of
// that reference is replaced.
func WriteBusyboxImage(ctx context.Context, store DirImageStore, ref, busyboxPath string) error {
	if err := checkImageRef(ref); err != nil {
		return err
	}
	if busyboxPath == "" {
		busyboxPath = DefaultBusyboxPath
	}
	if err := checkStatic(busyboxPath); err != nil {
		return fmt.Errorf("busybox image: %w", err)
	}
	out, err := exec.CommandContext(ctx, busyboxPath, "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox image: list applets of %s: %w", busyboxPath, err)
	}
	dir := store.ImageDir(ref)
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("busybox image: %w", err)
	}
	rootfs := filepath.Join(tmp, "rootfs")
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "root", "tmp", "var", "run"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			return fmt.Errorf("busybox image: %w", err)
		}
	}
	if err := os.Chmod(filepath.Join(rootfs, "tmp"), 0o1777|os.ModeSticky); err != nil {
		return fmt.Errorf("busybox image: %w", err)
	}
	if err := copyFile(busyboxPath, filepath.Join(rootfs, "bin", "busybox"), 0o755); err != nil {
		return fmt.Errorf("busybox image: %w", err)
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" || strings.Contains(applet, "/") {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", applet)); err != nil {
			return fmt.Errorf("busybox image: %w", err)
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(rootfs, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("busybox image: %w", err)
		}
	}
	cfg, err := json.Marshal(imageConfigFile{Config: oci.ImageConfig{
		Env: []string{oci.DefaultPath},
		Cmd: []string{"sh"},
	}})
	if err != nil {
		return fmt.Errorf("busybox image: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "config.json"), cfg, 0o644); err != nil {
		return fmt.Errorf("busybox image: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("busybox image: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("busybox image: %w", err)
	}
	return nil
}

// checkStatic refuses an executable that needs a dynamic loader: the image
// holds no shared libraries.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked; a statically linked busybox (Debian's busybox-static) is needed: %w", path, ErrInvalidOptions)
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
