package oci

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/kubelet"
)

// DefaultSystemdScopePrefix is the middle part of a systemd cgroupsPath
// ("<slice>:<prefix>:<id>"), as containerd writes "cri-containerd".
const DefaultSystemdScopePrefix = "cri-nodekit"

// Options is what the runtime knows about a container besides its pod: its
// ID, its image, the sandbox it joins, where the pod's files live on the host,
// and the node. The zero value of each field means the documented default;
// fields marked required make GenerateSpec fail with ErrMissingOption when a
// pod needs them and they are empty.
//
// Options is plain data: GenerateSpec only reads it, so one value may serve
// concurrent calls as long as no one modifies it (its interfaces must then
// be safe for concurrent use).
type Options struct {
	// ContainerID is the runtime's ID of the container (required). It names
	// the container's cgroup and its termination-message file.
	ContainerID string
	// Image is the image's configuration: entrypoint, cmd, env, user and
	// working directory.
	Image ImageConfig
	// RootfsPath is the container's root filesystem on the host. It becomes
	// root.path and is where a named user is looked up (etc/passwd,
	// etc/group). Empty means "rootfs", relative to the bundle, and no user
	// lookup (numeric users only).
	RootfsPath string
	// Sandbox names the namespaces and /dev/shm of the pod sandbox.
	Sandbox Sandbox

	// CgroupDriver selects the cgroupsPath form; zero means cgroupfs.
	CgroupDriver kubelet.CgroupDriver
	// CgroupParent overrides the pod cgroup (in the driver's form, as
	// kubelet.PodCgroupName returns it); empty means the kubelet's layout.
	CgroupParent string
	// SystemdScopePrefix is the middle part of a systemd cgroupsPath; empty
	// means DefaultSystemdScopePrefix.
	SystemdScopePrefix string
	// PidsLimit is the container's pids.max; zero means no limit.
	PidsLimit int64
	// NoSwapLimit leaves memory.swap unset. By default a memory limit also
	// limits memory+swap to the same value, so the container cannot swap
	// (the kubelet's NoSwap behaviour and containerd's default). Set it on
	// cgroup v1 hosts without swap accounting (no memory.memsw files).
	NoSwapLimit bool
	// Rlimits replaces the default process rlimits; nil means
	// DefaultRlimits().
	Rlimits []specs.POSIXRlimit

	// Node describes the node: allocatable resources (the default of
	// resourceFieldRef limits), memory capacity (for oom_score_adj), host
	// IPs and host name.
	Node NodeInfo
	// PodIPs are the sandbox's IPs, primary first; nil means
	// pod.Status.PodIPs.
	PodIPs []string
	// PodNetworkPending tells that the pod's sandbox is still getting its
	// IPs, which a runtime may let happen while it creates containers:
	// the kubelet-managed /etc/hosts is then mounted as for a pod with
	// IPs (the runtime rewrites the file in place once they are known,
	// before any container starts), and an environment variable or a
	// downward API file that needs status.podIP or status.podIPs is
	// refused with ErrMissingOption. NeedsPodIPs tells beforehand whether
	// a container needs them.
	PodNetworkPending bool

	// ClusterDomain is the kubelet's --cluster-domain, for the fully
	// qualified host name of pods with a subdomain and setHostnameAsFQDN.
	ClusterDomain string

	// Layout is where the pod's volumes and kubelet-managed files live on
	// the host; required when the container mounts volumes or has a
	// terminationMessagePath.
	Layout *Layout
	// VolumePaths maps volume names to host paths for volume types this
	// package does not lay out itself (persistentVolumeClaim, CSI, ...).
	VolumePaths map[string]string
	// BindSubPaths makes each subPath a bind mount from an open file
	// descriptor (BindSubPath) at the Layout's SubPathTarget, and the spec
	// mounts that target, closing the race between resolving a subPath and
	// runc's mount, as the kubelet does. It works on the real filesystem
	// (not HostFS) and needs root; the runtime releases the mounts with
	// UnbindSubPaths(Layout.SubPathsDir(uid)) when the pod goes. By default
	// the resolved path is mounted directly (see the package Caveats).
	BindSubPaths bool
	// HostFS is the host filesystem seen through the calls this package
	// makes; nil means OSHostFS{}.
	HostFS HostFS
	// Objects supplies ConfigMaps and Secrets for env, envFrom; required
	// when the container refers to any.
	Objects ObjectSource
	// Files are the kubelet-managed /etc/hosts, /etc/hostname and
	// /etc/resolv.conf of the pod; nil means the Layout's paths when a
	// Layout is set, and no such mounts otherwise.
	Files *PodFiles

	// SeccompDefault makes RuntimeDefault the seccomp profile of containers
	// that set none, as the kubelet's --seccomp-default. By default they run
	// Unconfined, as the kubelet's default.
	SeccompDefault bool
	// SeccompProfiles loads Localhost seccomp profiles; required when a
	// container uses one.
	SeccompProfiles SeccompProfileLoader
	// AllCapabilities are the capabilities of a privileged container and
	// of "ALL" in capabilities.add; nil means BoundingCapabilities(), those
	// this process may grant, as containerd's cap.Current().
	AllCapabilities []string
	// HostDevices are the devices a privileged container gets (see
	// ListHostDevices); nil means none besides runc's defaults.
	HostDevices []specs.LinuxDevice

	// RestartCount is the container's restart count, recorded in the
	// annotations.
	RestartCount int
	// Annotations are added to the spec's annotations (for example those of
	// kubelet.ContainerConfig); they never replace the keys this package
	// sets.
	Annotations map[string]string
}

// Sandbox describes the pod sandbox a container joins. An empty namespace
// path means a new namespace of that kind for the container (hostNetwork,
// hostIPC and hostPID mean the host's, whatever the paths). It is plain
// data, read-only to this package.
type Sandbox struct {
	// ID is the sandbox's ID, recorded in the annotations.
	ID string
	// NetworkNamespacePath, IPCNamespacePath, UTSNamespacePath and
	// PIDNamespacePath are the sandbox's namespaces, for example
	// /run/netns/<name> or /proc/<pid>/ns/ipc. The PID namespace is joined
	// only when the pod shares its process namespace.
	NetworkNamespacePath string
	IPCNamespacePath     string
	UTSNamespacePath     string
	PIDNamespacePath     string
	// ShmPath is the sandbox's /dev/shm on the host, bind-mounted into each
	// container; empty means a private tmpfs per container.
	ShmPath string
}

// NodeInfo describes the node a pod runs on. It is plain data, read-only to
// this package.
type NodeInfo struct {
	// Hostname is the node's host name: the hostname of hostNetwork pods.
	// Empty means os.Hostname().
	Hostname string
	// Allocatable is the node's allocatable resources. A resourceFieldRef
	// to an unset cpu, memory or ephemeral-storage limit reads it, as in
	// the kubelet.
	Allocatable v1.ResourceList
	// MemoryCapacity is the node's memory in bytes, for the Burstable
	// oom_score_adj; zero means Allocatable's memory, and without that the
	// machine's (sysinfo(2)).
	MemoryCapacity int64
	// HostIPs are the node's IPs (status.hostIP, status.hostIPs); nil means
	// pod.Status.HostIPs.
	HostIPs []string
}

// PodFiles are the host paths of the kubelet-managed files of a pod. An
// empty path means no mount: the image's file stays. It is plain data.
type PodFiles struct {
	// HostsPath is mounted at /etc/hosts (read-write, as the kubelet does)
	// when the pod has an IP or uses the host network and the container does
	// not mount /etc/hosts itself.
	HostsPath string
	// HostnamePath is mounted at /etc/hostname.
	HostnamePath string
	// ResolvConfPath is mounted at /etc/resolv.conf.
	ResolvConfPath string
}
