package runc

import (
	v1 "k8s.io/api/core/v1"
	"log/slog"
	"time"

	"github.com/nodekit/nodekit/kubelet/oci"
)

// Defaults of Options and NetworkOptions.
const (
	// DefaultNetworkName is the name of the default CNI network.
	DefaultNetworkName = "nodekit"
	// DefaultBridgeName is the bridge the default network's bridge plugin
	// creates.
	DefaultBridgeName = "cni-nodekit0"
	// DefaultSubnet is the pod subnet of the default network (containerd's
	// default CNI subnet).
	DefaultSubnet = "10.88.0.0/16"
	// DefaultShmSize is the size of a pod's /dev/shm, as containerd's.
	DefaultShmSize int64 = 64 << 20
	// DefaultCgroupFSRoot is where the cgroup hierarchies are mounted.
	DefaultCgroupFSRoot = "/sys/fs/cgroup"
	// DefaultCNICNIVersion is the CNI version of the default
	// configuration lists: the newest that Debian's plugins (1.1) speak.
	DefaultCNIVersion = "1.0.0"
)

// Options tune a Runtime. The zero value of each field means its documented
// default; Images is required.
type Options struct {
	// Images finds the images containers run (required). See
	// DirImageStore and WriteBusyboxImage.
	Images ImageStore
	// RuncPath and ConmonPath are the runc and conmon binaries; empty means
	// "runc" and "conmon" looked up on PATH.
	RuncPath   string
	ConmonPath string
	// Network configures pod networking with CNI.
	Network NetworkOptions
	// CgroupRoot is the cgroupfs directory the kubelet's pod cgroups
	// (SandboxConfig.CgroupParent, "/kubepods/...") are placed under;
	// empty means "/", the root of each hierarchy, as on a node. Tests use
	// a directory of their own.
	CgroupRoot string
	// CgroupFSRoot is where the cgroup hierarchies are mounted, for the
	// OOM-kill counters and the removal of pod cgroups; empty means
	// /sys/fs/cgroup.
	CgroupFSRoot string
	// KubepodsResources, when set, is written to the kubepods cgroup (below
	// CgroupRoot) by New, as the kubelet writes it when it starts: cpu as
	// cpu.shares (cpu.weight on cgroup v2), memory as the memory limit, pid
	// as pids.max. The kubelet writes the node's capacity less
	// --kube-reserved and --system-reserved with
	// --enforce-node-allocatable=pods (its default), the capacity
	// otherwise; the eviction thresholds stay inside the cgroup, so that
	// eviction comes before the kernel's OOM killer. nil writes nothing.
	// Other resources (hugepages, ephemeral storage) are refused.
	KubepodsResources v1.ResourceList
	// Node describes the node for spec generation (allocatable resources,
	// memory capacity, host IPs, host name).
	Node oci.NodeInfo
	// DNS is the resolver configuration of pods (cluster DNS, domain, the
	// node's resolv.conf).
	DNS oci.ResolverConfig
	// Objects supplies ConfigMaps and Secrets referred to by pods; nil
	// means none exist.
	Objects oci.ObjectSource
	// SeccompDefault makes RuntimeDefault the seccomp profile of containers
	// that set none (the kubelet's --seccomp-default).
	SeccompDefault bool
	// PauseImage is the image of the pause process that the sandbox of a
	// pod with shareProcessNamespace runs as PID 1 of the pod's PID
	// namespace, which the pod's containers then join (the kubelet's pause
	// container; for example registry.k8s.io/pause unpacked into Images,
	// whose /pause reaps the orphans of the namespace). Pods that do not
	// share their PID namespace need no pause process. Empty: the sandbox
	// of a pod with shareProcessNamespace fails to be created, with an
	// error wrapping ErrNoPauseImage.
	PauseImage string
	// PauseCommand, when set, replaces the entrypoint and cmd of the pause
	// image (tests run busybox's sh as a pause).
	PauseCommand []string
	// PidsLimit is each container's pids.max; zero means no limit.
	PidsLimit int64
	// ShmSize is the size of each pod's /dev/shm tmpfs; zero means
	// DefaultShmSize.
	ShmSize int64
	// KillTimeout bounds how long StopContainer and RemoveContainer wait for
	// a container to die after SIGKILL; zero means 10 seconds.
	KillTimeout time.Duration
	// Logger receives what the runtime cannot return as an error (cleanup
	// failures); nil discards.
	Logger *slog.Logger
}

// NetworkOptions configure the CNI network of pods that do not use the host
// network. The zero value is the default network: a bridge (DefaultBridgeName)
// with host-local addresses from DefaultSubnet, the pod's gateway on the bridge,
// no IP masquerading (so no iptables rules are written), and a loopback device.
type NetworkOptions struct {
	// ConfList replaces the default CNI configuration list (JSON) entirely;
	// BridgeName, Subnet and NetworkName are then ignored.
	ConfList []byte
	// NetworkName, BridgeName and Subnet shape the default list.
	NetworkName string
	BridgeName  string
	Subnet      string
	// PluginDirs are where CNI plugins are looked up; nil means
	// /usr/lib/cni and /opt/cni/bin.
	PluginDirs []string
	// CacheDir is libcni's cache of results; empty means <root>/cni/cache.
	CacheDir string
	// IPAMDataDir is where host-local keeps its allocations in the default
	// list; empty means <root>/cni/networks.
	IPAMDataDir string
	// InternalLoopback brings each pod's loopback interface up in the
	// runtime itself instead of running the CNI loopback plugin, as
	// containerd 2's use_internal_loopback does: one process less per pod
	// start and stop. Each sandbox records the choice, so that one made
	// with the plugin is still detached by it after a restart with this
	// set.
	InternalLoopback bool
	// NodeNetNSPath is the network namespace CNI plugins run in, that is
	// the namespace of the node side of pod networking: the bridge and the
	// host ends of the veth pairs live there. Empty means the calling
	// process's own namespace, as on a node; tests give a namespace of their
	// own so that nothing is created in the machine's.
	NodeNetNSPath string
}

func (o Options) withDefaults(root string) Options {
	if o.RuncPath == "" {
		o.RuncPath = "runc"
	}
	if o.ConmonPath == "" {
		o.ConmonPath = "conmon"
	}
	if o.CgroupRoot == "" {
		o.CgroupRoot = "/"
	}
	if o.CgroupFSRoot == "" {
		o.CgroupFSRoot = DefaultCgroupFSRoot
	}
	if o.ShmSize == 0 {
		o.ShmSize = DefaultShmSize
	}
	if o.KillTimeout == 0 {
		o.KillTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	n := &o.Network
	if n.NetworkName == "" {
		n.NetworkName = DefaultNetworkName
	}
	if n.BridgeName == "" {
		n.BridgeName = DefaultBridgeName
	}
	if n.Subnet == "" {
		n.Subnet = DefaultSubnet
	}
	if n.PluginDirs == nil {
		n.PluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
	}
	if n.CacheDir == "" {
		n.CacheDir = root + "/cni/cache"
	}
	if n.IPAMDataDir == "" {
		n.IPAMDataDir = root + "/cni/networks"
	}
	return o
}
