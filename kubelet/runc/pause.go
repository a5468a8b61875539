package runc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/internal/cgrouplayout"
	"github.com/nodekit/nodekit/kubelet/oci"
)

// pauseName is the container name the pause process is logged and
// monitored under, the kubelet's name for the sandbox container.
const pauseName = "POD"

// sharesPIDNamespace reports whether the pod's containers share one PID
// namespace, which a pause process must then hold as its PID 1.
func sharesPIDNamespace(pod *v1.Pod) bool {
	return pod != nil && !pod.Spec.HostPID && pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace
}

// pauseDir is the bundle of a sandbox's pause container.
func (r *Runtime) pauseDir(sandboxID string) string {
	return filepath.Join(r.sandboxDir(sandboxID), "pause")
}

// pidNamespacePath is the PID namespace the containers of sb join: the
// pause process's, or "" (a namespace of their own, or the host's).
func pidNamespacePath(sb *sandboxRecord) string {
	if sb.Pause == nil || sb.Pause.PID <= 0 {
		return ""
	}
	return "/proc/" + strconv.Itoa(sb.Pause.PID) + "/ns/pid"
}

// startPause runs the pause process of a sandbox that shares its PID
// namespace: a runc container of Options.PauseImage in a new PID namespace
// and the sandbox's other namespaces, monitored by conmon like any
// container. The record is saved before conmon runs, so that a failure or
// a crash leaves runc state that RemovePodSandbox deletes.
func (r *Runtime) startPause(ctx context.Context, sb *sandboxRecord) error {
	if r.opts.PauseImage == "" {
		return ErrNoPauseImage
	}
	img, err := r.opts.Images.Resolve(ctx, r.opts.PauseImage)
	if err != nil {
		return fmt.Errorf("pause image %q: %w", r.opts.PauseImage, err)
	}
	args := r.opts.PauseCommand
	if len(args) == 0 {
		args = append(slices.Clone(img.Config.Entrypoint), img.Config.Cmd...)
	}
	if len(args) == 0 {
		return fmt.Errorf("pause image %q has neither entrypoint nor cmd, and Options.PauseCommand is empty: %w", r.opts.PauseImage, ErrInvalidOptions)
	}
	id, err := newID()
	if err != nil {
		return err
	}
	bundle := r.pauseDir(sb.ID)
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.MkdirAll(bundle, 0o711); err != nil {
		return err
	}
	if _, err := mountRootfs(img.RootfsPath, bundle, rootfs); err != nil {
		return err
	}
	spec, err := r.pauseSpec(sb, id, rootfs, args, img.Config)
	if err != nil {
		return err
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(bundle, fileSpec), data, 0o600); err != nil {
		return err
	}
	sb.Pause = &pauseRecord{ID: id}
	if err := writeJSON(filepath.Join(r.sandboxDir(sb.ID), fileSandbox), sb); err != nil {
		return err
	}
	c := &containerRecord{ID: id, Name: pauseName, LogPath: filepath.Join(bundle, "pause.log")}
	conmonPID, pid, err := r.runConmon(ctx, c, bundle)
	if err != nil {
		return fmt.Errorf("pause process: %w", err)
	}
	sb.Pause.PID, sb.Pause.ConmonPID = pid, conmonPID
	if _, err := r.runc(ctx, "start", id); err != nil {
		return fmt.Errorf("pause process: %w", err)
	}
	return nil
}

// pauseSpec is the runtime spec of a pause process: the command as PID 1 of
// a new PID namespace, in the sandbox's network, IPC and UTS namespaces
// and in the pod's cgroup, with a read-only root, no capabilities and no
// new privileges, as the image's user if it is numeric (registry.k8s.io/pause
// runs as 65535) and root otherwise.
func (r *Runtime) pauseSpec(sb *sandboxRecord, id, rootfs string, args []string, img oci.ImageConfig) (*specs.Spec, error) {
	opts := r.specOptions(sb, id)
	user, err := numericUser(img.User)
	if err != nil {
		return nil, fmt.Errorf("pause image %q: %w", r.opts.PauseImage, err)
	}
	env := img.Env
	if len(env) == 0 {
		env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	}
	ns := []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}}
	for _, n := range []specs.LinuxNamespace{
		{Type: specs.NetworkNamespace, Path: opts.Sandbox.NetworkNamespacePath},
		{Type: specs.IPCNamespace, Path: opts.Sandbox.IPCNamespacePath},
		{Type: specs.UTSNamespace, Path: opts.Sandbox.UTSNamespacePath},
	} {
		if n.Path != "" {
			ns = append(ns, n)
		}
	}
	return &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args:            args,
			Env:             env,
			Cwd:             "/",
			User:            user,
			NoNewPrivileges: true,
			Capabilities:    &specs.LinuxCapabilities{},
		},
		Root: &specs.Root{Path: rootfs, Readonly: true},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		},
		Annotations: map[string]string{
			"io.kubernetes.cri.container-type": "sandbox",
			"io.kubernetes.cri.sandbox-id":     sb.ID,
			"io.kubernetes.pod.name":           sb.PodName,
			"io.kubernetes.pod.namespace":      sb.PodNamespace,
			"io.kubernetes.pod.uid":            string(sb.PodUID),
		},
		Linux: &specs.Linux{
			CgroupsPath:   oci.CgroupsPath(cgrouplayout.DriverCgroupfs, opts.CgroupParent, id, ""),
			Namespaces:    ns,
			MaskedPaths:   oci.DefaultMaskedPaths(),
			ReadonlyPaths: oci.DefaultReadonlyPaths(),
		},
	}, nil
}

// numericUser parses an image user of the form "uid" or "uid:gid"; an
// empty user is root, and a name (which would need the image's passwd file)
// is refused.
func numericUser(s string) (specs.User, error) {
	if s == "" {
		return specs.User{}, nil
	}
	u, g, _ := strings.Cut(s, ":")
	uid, err := strconv.ParseUint(u, 10, 32)
	if err != nil {
		return specs.User{}, fmt.Errorf("user %q is not numeric: %w", s, ErrInvalidOptions)
	}
	gid := uid
	if g != "" {
		if gid, err = strconv.ParseUint(g, 10, 32); err != nil {
			return specs.User{}, fmt.Errorf("group of user %q is not numeric: %w", s, ErrInvalidOptions)
		}
	}
	return specs.User{UID: uint32(uid), GID: uint32(gid)}, nil
}

// pauseExited reports whether the pause process of sb has exited (conmon
// wrote its exit file): the sandbox is then not ready, as the CRI reports
// a sandbox whose pause container died, and the engine makes a new one.
func (r *Runtime) pauseExited(sb *sandboxRecord) bool {
	if sb.Pause == nil || sb.Pause.PID <= 0 {
		return false
	}
	_, err := os.Stat(r.exitFile(sb.Pause.ID))
	return err == nil
}

// stopPause kills the pause process (which kills whatever is left in the
// pod's PID namespace) and waits for it to be gone.
func (r *Runtime) stopPause(ctx context.Context, sb *sandboxRecord) error {
	if sb.Pause == nil || sb.Pause.PID <= 0 {
		return nil // not started: RemovePodSandbox deletes what runc made
	}
	if _, err := os.Stat(filepath.Join(r.runcRoot(), sb.Pause.ID)); err != nil {
		return nil // deleted
	}
	if !r.pauseExited(sb) {
		if _, err := r.runc(ctx, "kill", sb.Pause.ID, "SIGKILL"); err != nil && processAlive(sb.Pause.PID) {
			return fmt.Errorf("kill pause process: %w", err)
		}
	}
	// Gone once conmon reaped it and wrote its exit file, after which
	// conmon ends: a zombie still holds its cgroup.
	if !r.pauseExited(sb) {
		waitPID(ctx, sb.Pause.ConmonPID, r.opts.KillTimeout)
	}
	waitPID(ctx, sb.Pause.PID, r.opts.KillTimeout)
	if processAlive(sb.Pause.PID) {
		return fmt.Errorf("pause process %d did not exit within %s of SIGKILL", sb.Pause.PID, r.opts.KillTimeout)
	}
	return nil
}

// removePause deletes the pause container's runc state, waits for its
// conmon and removes its exit file and attach link; the bundle goes with
// the sandbox directory.
func (r *Runtime) removePause(ctx context.Context, sb *sandboxRecord) error {
	if sb.Pause == nil {
		return nil
	}
	if err := r.stopPause(ctx, sb); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(r.runcRoot(), sb.Pause.ID)); err == nil {
		if out, err := r.runc(ctx, "delete", "--force", sb.Pause.ID); err != nil && !strings.Contains(string(out), "does not exist") {
			return fmt.Errorf("delete pause container: %w", err)
		}
	}
	waitPID(ctx, sb.Pause.ConmonPID, r.opts.KillTimeout)
	var errs []error
	for _, p := range []string{r.exitFile(sb.Pause.ID), filepath.Join(r.root, dirAttach, sb.Pause.ID)} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
