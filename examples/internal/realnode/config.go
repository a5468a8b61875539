package realnode

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/kubelet/runc"
	"github.com/nodekit/nodekit/proxy"
)

// Config is a node's flags. It is plain data: fill it (Register), then
// call Complete once before sharing it.
type Config struct {
	NodeName      string
	StateDir      string
	Listen        string
	HostNetwork   bool
	NetnsName     string
	NodeIP        string
	PodCIDR       string
	CgroupRoot    string
	Backend       string
	MasqueradeAll bool
	RemoveOnExit  bool
	BusyboxImage  string
	BusyboxPath   string
	PauseImage    string
	PauseCommand  string
	ProbeCoalesce time.Duration
	Verbose       bool
	// KubeReserved and SystemReserved are the kubelet's flags of the same
	// names ("cpu=100m,memory=256Mi,pid=1000"); EnforceNodeAllocatable is
	// its --enforce-node-allocatable, "pods" or "" (none).
	KubeReserved           string
	SystemReserved         string
	EnforceNodeAllocatable string

	// ParsedNodeIP is NodeIP, parsed by Complete.
	ParsedNodeIP netip.Prefix
	// Reserved is KubeReserved and SystemReserved together, parsed by
	// Complete.
	Reserved v1.ResourceList
}

// NodeDevice is the device carrying the node's address inside the node
// namespace, the stand-in for a node's eth0.
const NodeDevice = "node0"

// DefaultNodeIP is the node's address in its own namespace.
const DefaultNodeIP = "10.87.0.2/24"

// UsageError is a bad flag or a missing requirement, reported before the
// program did anything (programs exit with status 2 on it). It is an
// immutable value.
type UsageError struct{ Msg string }

// Error returns the message.
func (e UsageError) Error() string { return e.Msg }

// Register adds the node's flags to fs, with defaultName as the default
// node name.
func (c *Config) Register(fs *flag.FlagSet, defaultName string) {
	fs.StringVar(&c.NodeName, "node-name", defaultName, "the node's name")
	fs.StringVar(&c.StateDir, "state-dir", "", "state directory (runtime state, images, CNI addresses); default /var/lib/nodekit/<node-name>")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:10255", "address of the HTTP server (/pods, /stats/summary, /metrics, /healthz)")
	fs.BoolVar(&c.HostNetwork, "host-network", false, "run on the machine's own network: the bridge, routes and iptables rules go into the host's namespace")
	fs.StringVar(&c.NetnsName, "netns", "", "name of the node's network namespace; default nodekit-<node-name> (ignored with --host-network)")
	fs.StringVar(&c.NodeIP, "node-ip", "", "the node's address with prefix length; default "+DefaultNodeIP+" on the node namespace's "+NodeDevice+" device (required with --host-network: an address the host has)")
	fs.StringVar(&c.PodCIDR, "pod-cidr", runc.DefaultSubnet, "subnet of the pod bridge")
	fs.StringVar(&c.CgroupRoot, "cgroup-root", "", "cgroup the kubepods hierarchy goes under (the kubelet's --cgroup-root); default /nodekit/<node-name>")
	fs.StringVar(&c.Backend, "iptables-backend", "", `iptables backend: "nft", "legacy", or empty for the distribution's default`)
	fs.BoolVar(&c.MasqueradeAll, "masquerade-all", true, "masquerade all service traffic (needed for pod-to-service traffic to a pod on the same bridge without br_netfilter)")
	fs.BoolVar(&c.RemoveOnExit, "remove-on-exit", false, "on SIGINT/SIGTERM remove the pods (and the node namespace, or with --host-network the iptables rules) instead of leaving them running for the next start to adopt")
	fs.StringVar(&c.BusyboxImage, "busybox-image", "", `write a busybox image under this reference (such as "busybox:latest") into the image store at start, unless it is there`)
	fs.StringVar(&c.BusyboxPath, "busybox", runc.DefaultBusyboxPath, "statically linked busybox used by --busybox-image")
	fs.StringVar(&c.PauseImage, "pause-image", "", "image of the pause process of pods with shareProcessNamespace (such pods are refused without one)")
	fs.StringVar(&c.PauseCommand, "pause-command", "", `command of the pause process, words separated by spaces, replacing the pause image's (for a busybox image: "sleep 2147483647", which does not reap orphans as registry.k8s.io/pause does)`)
	fs.DurationVar(&c.ProbeCoalesce, "probe-coalesce", 0, "run the probes of all pods on a common grid of this step (such as 100ms) to share wake-ups; 0 keeps the kubelet's own timing")
	fs.BoolVar(&c.Verbose, "v", false, "log debug messages")
	fs.StringVar(&c.KubeReserved, "kube-reserved", "", "resources reserved for the node's own agents, such as cpu=100m,memory=256Mi,pid=1000 (cpu, memory and pid)")
	fs.StringVar(&c.SystemReserved, "system-reserved", "", "resources reserved for the system, in the form of --kube-reserved")
	fs.StringVar(&c.EnforceNodeAllocatable, "enforce-node-allocatable", "pods", `"pods" limits the kubepods cgroup to the machine's capacity less the reserved resources; "" limits it to the capacity`)
}

// Complete fills defaults and checks the flags.
func (c *Config) Complete() error {
	if c.NodeName == "" || strings.ContainsAny(c.NodeName, "/ ") {
		return UsageError{fmt.Sprintf("--node-name %q is not a valid name", c.NodeName)}
	}
	if c.StateDir == "" {
		c.StateDir = filepath.Join("/var/lib/nodekit", c.NodeName)
	}
	abs, err := filepath.Abs(c.StateDir)
	if err != nil {
		return UsageError{err.Error()}
	}
	c.StateDir = abs
	if c.NetnsName == "" {
		c.NetnsName = "nodekit-" + c.NodeName
	}
	if c.CgroupRoot == "" {
		c.CgroupRoot = "/nodekit/" + c.NodeName
	}
	if !strings.HasPrefix(c.CgroupRoot, "/") || filepath.Clean(c.CgroupRoot) == "/" {
		return UsageError{fmt.Sprintf("--cgroup-root %q must be an absolute cgroup below the root", c.CgroupRoot)}
	}
	if c.NodeIP == "" {
		if c.HostNetwork {
			return UsageError{"--node-ip is required with --host-network (an address of this machine, such as 192.168.1.10/24)"}
		}
		c.NodeIP = DefaultNodeIP
	}
	if c.ParsedNodeIP, err = netip.ParsePrefix(c.NodeIP); err != nil || !c.ParsedNodeIP.Addr().Is4() {
		return UsageError{fmt.Sprintf("--node-ip %q is not an IPv4 address with a prefix length", c.NodeIP)}
	}
	if _, err := netip.ParsePrefix(c.PodCIDR); err != nil {
		return UsageError{fmt.Sprintf("--pod-cidr: %v", err)}
	}
	if c.PauseCommand != "" && c.PauseImage == "" {
		return UsageError{"--pause-command needs --pause-image"}
	}
	if c.ProbeCoalesce < 0 {
		return UsageError{fmt.Sprintf("--probe-coalesce %s is negative", c.ProbeCoalesce)}
	}
	switch c.EnforceNodeAllocatable {
	case "pods", "":
	default:
		return UsageError{fmt.Sprintf("--enforce-node-allocatable %q is not pods or empty (system-reserved and kube-reserved cgroups are not made)", c.EnforceNodeAllocatable)}
	}
	kube, err := parseReserved("kube-reserved", c.KubeReserved)
	if err != nil {
		return err
	}
	system, err := parseReserved("system-reserved", c.SystemReserved)
	if err != nil {
		return err
	}
	for name, q := range system {
		sum := kube[name].DeepCopy()
		sum.Add(q)
		kube[name] = sum
	}
	c.Reserved = kube
	switch proxy.BackendMode(c.Backend) {
	case proxy.BackendAuto, proxy.BackendNFT, proxy.BackendLegacy:
	default:
		return UsageError{fmt.Sprintf("--iptables-backend %q is not nft, legacy or empty", c.Backend)}
	}
	return nil
}

// CNIPluginDirs are where the runtime looks for CNI plugins by default.
var CNIPluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// Requirements lists what a node needs and is missing: root and the tools
// (and the static busybox at busybox, when not empty). Programs check it
// before doing anything.
func Requirements(busybox string) error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (run it with sudo)")
	}
	for _, tool := range []string{"runc", "conmon", "ip", "iptables", "iptables-restore", "iptables-save"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	for _, plugin := range []string{"bridge", "host-local", "loopback"} {
		found := false
		for _, dir := range CNIPluginDirs {
			if st, err := os.Stat(filepath.Join(dir, plugin)); err == nil && st.Mode().IsRegular() {
				found = true
			}
		}
		if !found {
			missing = append(missing, "CNI plugin "+plugin+" (in /usr/lib/cni or /opt/cni/bin)")
		}
	}
	if busybox != "" {
		if _, err := os.Stat(busybox); err != nil {
			missing = append(missing, "a static busybox at "+busybox)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return UsageError{"missing: " + strings.Join(missing, ", ") +
		"\n  On Debian/Ubuntu, as root: make tools (apt-get install runc conmon iptables containernetworking-plugins busybox-static iproute2)"}
}
