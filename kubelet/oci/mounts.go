package oci

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
)

// Container paths of the kubelet-managed files.
const (
	etcHostsPath    = "/etc/hosts"
	etcHostnamePath = "/etc/hostname"
	resolvConfPath  = "/etc/resolv.conf"
	devShmPath      = "/dev/shm"
)

// WithMounts adds the container's mounts to the standard ones, as the
// kubelet's makeMounts and containerd's WithMounts do:
//
//   - each volumeMount: a bind mount of the volume's host directory
//     (VolumeHostPath), or of its subPath (subPathExpr expanded with the
//     container's environment) resolved with ResolveSubPath;
//     read-only if the mount asks or the volume is a configMap, secret,
//     downwardAPI or projected volume; with the mount's propagation;
//   - /etc/hosts (read-write) when the pod has an IP or uses the host
//     network and the container does not mount /etc/hosts itself;
//     like /etc/hostname and /etc/resolv.conf below, only when the file
//     exists (WritePodFiles writes them), as containerd does;
//   - the termination-message file at terminationMessagePath (created,
//     mode 0666, in the Layout's container directory);
//   - /etc/hostname and /etc/resolv.conf (read-only with
//     readOnlyRootFilesystem) and /dev/shm (the host's with hostIPC, else
//     the sandbox's), unless the container mounts those paths.
//
// A standard mount at the same destination as one of these is dropped, and
// every standard mount under /dev when the container mounts /dev. The added
// mounts follow the standard ones, ordered by depth so a parent is mounted
// before its children.
func WithMounts(ctx context.Context, in *Input, s *specs.Spec) error {
	pod, c := in.Pod, in.Container
	if len(c.VolumeDevices) > 0 {
		return invalid("volumeDevices", "raw block volumes are not supported")
	}
	var mounts []specs.Mount
	mounted := func(dst string) bool {
		return slices.ContainsFunc(mounts, func(m specs.Mount) bool { return m.Destination == dst })
	}
	for i := range c.VolumeMounts {
		m, err := volumeMount(ctx, in, i)
		if err != nil {
			return err
		}
		mounts = append(mounts, m)
	}

	files := in.podFiles()
	exists := func(p string) bool {
		if p == "" {
			return false
		}
		_, err := in.Options.HostFS.Stat(p)
		return err == nil
	}
	if exists(files.HostsPath) && !mounted(etcHostsPath) && (len(in.podIPs()) > 0 || pod.Spec.HostNetwork || in.Options.PodNetworkPending) {
		mounts = append(mounts, bindMount(files.HostsPath, etcHostsPath, false, "rprivate"))
	}
	if c.TerminationMessagePath != "" && in.Options.Layout != nil {
		if !path.IsAbs(c.TerminationMessagePath) {
			return invalid("terminationMessagePath", "%q is not an absolute path", c.TerminationMessagePath)
		}
		if in.Options.ContainerID == "" {
			return fmt.Errorf("terminationMessagePath: Options.ContainerID is empty: %w", ErrMissingOption)
		}
		hfs := in.Options.HostFS
		dir := in.Options.Layout.ContainerDir(pod.UID, c.Name)
		if err := hfs.MkdirAll(dir, 0o750); err != nil {
			return fmt.Errorf("terminationMessagePath: %w", err)
		}
		file := in.Options.Layout.TerminationMessagePath(pod.UID, c.Name, in.Options.ContainerID)
		if err := hfs.CreateFile(file, 0o666); err != nil {
			return fmt.Errorf("terminationMessagePath: %w", err)
		}
		if err := hfs.Chmod(file, 0o666); err != nil {
			return fmt.Errorf("terminationMessagePath: %w", err)
		}
		mounts = append(mounts, bindMount(file, path.Clean(c.TerminationMessagePath), false, "rprivate"))
	}
	readOnlyRoot := c.SecurityContext != nil && isTrue(c.SecurityContext.ReadOnlyRootFilesystem)
	if exists(files.HostnamePath) && !mounted(etcHostnamePath) {
		mounts = append(mounts, bindMount(files.HostnamePath, etcHostnamePath, readOnlyRoot, "rprivate"))
	}
	if exists(files.ResolvConfPath) && !mounted(resolvConfPath) {
		mounts = append(mounts, bindMount(files.ResolvConfPath, resolvConfPath, readOnlyRoot, "rprivate"))
	}
	if !mounted(devShmPath) {
		switch {
		case pod.Spec.HostIPC:
			mounts = append(mounts, bindMount(devShmPath, devShmPath, false, "rprivate"))
		case in.Options.Sandbox.ShmPath != "":
			mounts = append(mounts, bindMount(in.Options.Sandbox.ShmPath, devShmPath, false, "rprivate"))
		}
	}

	// Sort by depth, stable, as containerd's orderedMounts.
	sort.SliceStable(mounts, func(i, j int) bool {
		return depth(mounts[i].Destination) < depth(mounts[j].Destination)
	})
	devMounted := mounted("/dev")
	defaults := s.Mounts[:0:0]
	for _, d := range s.Mounts {
		if mounted(d.Destination) || (devMounted && strings.HasPrefix(d.Destination, "/dev/")) {
			continue
		}
		defaults = append(defaults, d)
	}
	s.Mounts = append(defaults, mounts...)
	// A shared or slave mount needs a root that propagates too. containerd
	// writes "rshared"/"rslave", which runc accepts but the runtime-spec
	// schema does not; the schema's "shared"/"slave" are used.
	for _, m := range mounts {
		if slices.Contains(m.Options, "rshared") {
			s.Linux.RootfsPropagation = "shared"
		} else if slices.Contains(m.Options, "rslave") && s.Linux.RootfsPropagation != "shared" {
			s.Linux.RootfsPropagation = "slave"
		}
	}
	return nil
}

func depth(p string) int {
	return len(strings.Split(path.Clean(p), "/"))
}

// podFiles returns Options.Files, else the Layout's, else none.
func (in *Input) podFiles() PodFiles {
	if in.Options.Files != nil {
		return *in.Options.Files
	}
	if in.Options.Layout != nil {
		return in.Options.Layout.PodFiles(in.Pod.UID)
	}
	return PodFiles{}
}

// bindMount returns containerd's bind mount of src at dst.
func bindMount(src, dst string, readOnly bool, propagation string) specs.Mount {
	rw := "rw"
	if readOnly {
		rw = "ro"
	}
	return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: []string{"rbind", propagation, rw}}
}

// volumeMount returns the mount of container.VolumeMounts[i].
func volumeMount(ctx context.Context, in *Input, i int) (specs.Mount, error) {
	pod, c := in.Pod, in.Container
	vm := &c.VolumeMounts[i]
	field := fmt.Sprintf("volumeMounts[%d] (%s)", i, vm.Name)
	vol := findVolume(pod, vm.Name)
	if vol == nil {
		return specs.Mount{}, invalid(field, "cannot find volume %q to mount into container %q", vm.Name, c.Name)
	}
	if !path.IsAbs(vm.MountPath) {
		return specs.Mount{}, invalid(field+".mountPath", "%q is not an absolute path", vm.MountPath)
	}
	hostPath, err := VolumeHostPath(pod, vol, in.Options)
	if err != nil {
		return specs.Mount{}, fmt.Errorf("%s: %w", field, err)
	}
	subPath := vm.SubPath
	if vm.SubPathExpr != "" {
		vars, err := in.ContainerEnv(ctx)
		if err != nil {
			return specs.Mount{}, err
		}
		subPath, err = expandSubPathExpr(vm.SubPathExpr, vars)
		if err != nil {
			return specs.Mount{}, fmt.Errorf("%s.subPathExpr: %w", field, err)
		}
	}
	switch {
	case subPath != "" && in.Options.BindSubPaths:
		if in.Options.Layout == nil {
			return specs.Mount{}, fmt.Errorf("%s: BindSubPaths needs a Layout (Options.Layout): %w", field, ErrMissingOption)
		}
		target := in.Options.Layout.SubPathTarget(pod.UID, vol.Name, c.Name, i)
		if err := BindSubPath(hostPath, subPath, target); err != nil {
			return specs.Mount{}, fmt.Errorf("%s: %w", field, err)
		}
		hostPath = target
	case subPath != "":
		hostPath, err = ResolveSubPath(in.Options.HostFS, hostPath, subPath)
		if err != nil {
			return specs.Mount{}, fmt.Errorf("%s: %w", field, err)
		}
	}
	propagation := "rprivate"
	if vm.MountPropagation != nil {
		switch *vm.MountPropagation {
		case v1.MountPropagationNone:
		case v1.MountPropagationHostToContainer:
			propagation = "rslave"
		case v1.MountPropagationBidirectional:
			if c.SecurityContext == nil || !isTrue(c.SecurityContext.Privileged) {
				return specs.Mount{}, invalid(field+".mountPropagation", "Bidirectional requires a privileged container")
			}
			propagation = "rshared"
		default:
			return specs.Mount{}, invalid(field+".mountPropagation", "invalid mode %q", *vm.MountPropagation)
		}
	}
	readOnly := vm.ReadOnly || readOnlyVolume(vol)
	m := bindMount(hostPath, path.Clean(vm.MountPath), readOnly, propagation)
	if vm.RecursiveReadOnly != nil {
		switch *vm.RecursiveReadOnly {
		case v1.RecursiveReadOnlyDisabled:
		case v1.RecursiveReadOnlyEnabled, v1.RecursiveReadOnlyIfPossible:
			if !vm.ReadOnly {
				return specs.Mount{}, invalid(field+".recursiveReadOnly", "requires readOnly")
			}
			if propagation != "rprivate" {
				return specs.Mount{}, invalid(field+".recursiveReadOnly", "requires mountPropagation None")
			}
			m.Options = append(m.Options, "rro")
		default:
			return specs.Mount{}, invalid(field+".recursiveReadOnly", "invalid mode %q", *vm.RecursiveReadOnly)
		}
	}
	return m, nil
}

// expandSubPathExpr is the kubelet's ExpandContainerVolumeMounts: every
// reference must name a variable with a non-empty value.
func expandSubPathExpr(expr string, vars []EnvVar) (string, error) {
	env := envMap(vars)
	var missing []string
	out := Expand(expr, func(name string) string {
		v, ok := env[name]
		if !ok || v == "" {
			if !slices.Contains(missing, name) {
				missing = append(missing, name)
			}
		}
		return v
	})
	if len(missing) > 0 {
		sort.Strings(missing)
		return "", invalid("subPathExpr", "missing value for %s", strings.Join(missing, ", "))
	}
	return out, nil
}

func findVolume(pod *v1.Pod, name string) *v1.Volume {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == name {
			return &pod.Spec.Volumes[i]
		}
	}
	return nil
}

// readOnlyVolume reports the volume types the kubelet always mounts
// read-only.
func readOnlyVolume(vol *v1.Volume) bool {
	return vol.ConfigMap != nil || vol.Secret != nil || vol.DownwardAPI != nil || vol.Projected != nil
}

// VolumeHostPath returns the host directory a volume of pod is mounted from,
// preparing it as the kubelet's volume plugins do:
//
//   - emptyDir: the Layout's directory, created with mode 0777 (a Memory
//     medium volume is the same directory; the runtime mounts a tmpfs there
//     first, see EmptyDirTmpfs);
//   - hostPath: its path, checked and created with CheckHostPath;
//   - configMap, secret, downwardAPI, projected: the Layout's directory,
//     which must already hold the files (WriteVolume);
//   - any other type: Options.VolumePaths[name].
func VolumeHostPath(pod *v1.Pod, vol *v1.Volume, opts Options) (string, error) {
	hfs := opts.HostFS
	if hfs == nil {
		hfs = OSHostFS{}
	}
	if p, ok := opts.VolumePaths[vol.Name]; ok {
		if !path.IsAbs(p) {
			return "", invalid("Options.VolumePaths["+vol.Name+"]", "%q is not an absolute path", p)
		}
		return path.Clean(p), nil
	}
	if vol.HostPath != nil {
		if err := CheckHostPath(hfs, vol.HostPath); err != nil {
			return "", err
		}
		return path.Clean(vol.HostPath.Path), nil
	}
	plugin := volumePlugin(vol)
	if plugin == "" {
		return "", invalid("volume "+vol.Name, "volume type is not supported; give its host path in Options.VolumePaths")
	}
	if opts.Layout == nil {
		return "", fmt.Errorf("volume %s (%s): no Layout (Options.Layout): %w", vol.Name, volumeKind(vol), ErrMissingOption)
	}
	dir := opts.Layout.VolumeDir(pod.UID, plugin, vol.Name)
	if vol.EmptyDir != nil {
		if vol.EmptyDir.Medium != v1.StorageMediumDefault && vol.EmptyDir.Medium != v1.StorageMediumMemory {
			return "", invalid("volume "+vol.Name+".emptyDir.medium", "unsupported medium %q", vol.EmptyDir.Medium)
		}
		fi, err := hfs.Stat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := hfs.MkdirAll(dir, 0o750); err != nil {
				return "", fmt.Errorf("volume %s (emptyDir): %w", vol.Name, err)
			}
			if err := hfs.Chmod(dir, 0o777); err != nil {
				return "", fmt.Errorf("volume %s (emptyDir): %w", vol.Name, err)
			}
		case err != nil:
			return "", fmt.Errorf("volume %s (emptyDir): %w", vol.Name, err)
		case !fi.IsDir():
			return "", invalid("volume "+vol.Name, "emptyDir path %s is not a directory", dir)
		}
		return dir, nil
	}
	fi, err := hfs.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("volume %s (%s): its files have not been written (WriteVolume): %w", vol.Name, volumeKind(vol), err)
	}
	if !fi.IsDir() {
		return "", invalid("volume "+vol.Name, "%s is not a directory", dir)
	}
	return dir, nil
}
