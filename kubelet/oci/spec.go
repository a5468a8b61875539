package oci

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
)

// SpecOpt changes a spec for one container: the containerd oci.SpecOpts
// pattern. It reads the pod, the container and the runtime's Options from
// in, and returns an error naming the field it could not apply; it must not
// leave s half-changed in a way a caller would use, since GenerateSpec
// discards s on error.
type SpecOpt func(ctx context.Context, in *Input, s *specs.Spec) error

// Input is what a SpecOpt reads: the pod and container (read-only) and the
// runtime's Options. It caches values that several options need (the
// container's environment, its resolved user), so an Input is for one spec
// and is not safe for concurrent use.
type Input struct {
	Pod       *v1.Pod
	Container *v1.Container
	Options   Options

	env     []EnvVar
	envErr  error
	envDone bool

	user     *resolvedUser
	userErr  error
	userDone bool
}

// NewInput returns the Input of container in pod with opts.
func NewInput(pod *v1.Pod, container *v1.Container, opts Options) *Input {
	if opts.HostFS == nil {
		opts.HostFS = OSHostFS{}
	}
	return &Input{Pod: pod, Container: container, Options: opts}
}

// KubeletSpecOpts returns the options GenerateSpec applies, in order, to
// turn a container into the spec the kubelet and containerd would give it.
// Callers that compose their own pipeline can use them one by one.
func KubeletSpecOpts() []SpecOpt {
	return []SpecOpt{
		WithRoot,
		WithAnnotations,
		WithHostname,
		WithProcessArgs,
		WithEnv,
		WithWorkingDir,
		WithUser,
		WithRlimits,
		WithOOMScoreAdj,
		WithResources,
		WithCgroupsPath,
		WithNamespaces,
		WithMounts,
		WithSecurityContext,
		WithSeccomp,
	}
}

// GenerateSpec returns the OCI runtime spec of container, which must be one
// of pod's containers or init containers: DefaultSpec, then
// KubeletSpecOpts, then extra (the caller's own changes, applied last).
//
// Errors are *ContainerError values naming the pod and container and
// wrapping a sentinel of this package (ErrRunAsNonRoot, ErrSubPathEscape,
// ...) or the error of one of the caller's interfaces. GenerateSpec never
// panics on a malformed pod, and returns no spec with an error.
//
// GenerateSpec does I/O through Options.HostFS: it checks hostPath types,
// creates DirectoryOrCreate/FileOrCreate paths, subPath directories and the
// termination-message file, and reads the image's /etc/passwd and /etc/group.
// It is safe for concurrent use if the Options' interfaces are.
func GenerateSpec(ctx context.Context, pod *v1.Pod, container *v1.Container, opts Options, extra ...SpecOpt) (*specs.Spec, error) {
	if pod == nil || container == nil {
		return nil, fmt.Errorf("GenerateSpec: pod and container must not be nil: %w", ErrInvalidSpec)
	}
	in := NewInput(pod, container, opts)
	s := DefaultSpec()
	if err := ApplyOpts(ctx, in, s, KubeletSpecOpts()...); err != nil {
		return nil, err
	}
	if err := ApplyOpts(ctx, in, s, extra...); err != nil {
		return nil, err
	}
	return s, nil
}

// ApplyOpts applies opts to s in order and stops at the first error, which
// it returns as a *ContainerError (unless it already is one).
func ApplyOpts(ctx context.Context, in *Input, s *specs.Spec, opts ...SpecOpt) error {
	for _, o := range opts {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := o(ctx, in, s); err != nil {
			var ce *ContainerError
			if errors.As(err, &ce) {
				return err
			}
			name := ""
			if in.Container != nil {
				name = in.Container.Name
			}
			return &ContainerError{Pod: formatPod(in.Pod), Container: name, Err: err}
		}
	}
	return nil
}

// WithRoot sets root.path to Options.RootfsPath (an absolute host path),
// or leaves the default "rootfs" (relative to the bundle) when it is empty.
func WithRoot(_ context.Context, in *Input, s *specs.Spec) error {
	if p := in.Options.RootfsPath; p != "" {
		if !filepath.IsAbs(p) {
			return invalid("Options.RootfsPath", "%q is not an absolute path", p)
		}
		s.Root.Path = filepath.Clean(p)
	}
	return nil
}

// DefaultPath is the PATH of a container whose image sets none.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// DefaultSpec returns the base spec every container starts from:
// containerd's default Linux spec as its CRI plugin uses it (no /run
// mount, a read-only cgroup mount), with the kubelet's masked and
// read-only /proc paths.
func DefaultSpec() *specs.Spec {
	caps := DefaultCapabilities()
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs"},
		Process: &specs.Process{
			Cwd: "/",
			Env: []string{DefaultPath},
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  caps,
				Permitted: append([]string(nil), caps...),
				Effective: append([]string(nil), caps...),
			},
			Rlimits: DefaultRlimits(),
		},
		Mounts: DefaultMounts(),
		Linux: &specs.Linux{
			MaskedPaths:   DefaultMaskedPaths(),
			ReadonlyPaths: DefaultReadonlyPaths(),
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.MountNamespace},
				{Type: specs.NetworkNamespace},
			},
		},
	}
}

// DefaultRlimits returns containerd's default process rlimits:
// RLIMIT_NOFILE 1024 (soft and hard).
func DefaultRlimits() []specs.POSIXRlimit {
	return []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}}
}

// DefaultMounts returns the standard mounts of a container, as containerd's
// CRI plugin sets them up: /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue,
// /sys (read-only) and /sys/fs/cgroup (read-only).
func DefaultMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	}
}

// DefaultMaskedPaths returns the kubelet's masked paths of procMount
// Default (pkg/securitycontext).
func DefaultMaskedPaths() []string {
	return []string{
		"/proc/asound",
		"/proc/acpi",
		"/proc/kcore",
		"/proc/keys",
		"/proc/latency_stats",
		"/proc/timer_list",
		"/proc/timer_stats",
		"/proc/sched_debug",
		"/proc/scsi",
		"/sys/firmware",
		"/sys/devices/virtual/powercap",
	}
}

// DefaultReadonlyPaths returns the kubelet's read-only paths of procMount
// Default.
func DefaultReadonlyPaths() []string {
	return []string{
		"/proc/bus",
		"/proc/fs",
		"/proc/irq",
		"/proc/sys",
		"/proc/sysrq-trigger",
	}
}
