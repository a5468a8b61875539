package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/nodekit/nodekit/examples/internal/manifest"
	"github.com/nodekit/nodekit/kubelet/runc"
	"github.com/nodekit/nodekit/proxy"
)

// config is the node's flags.
type config struct {
	manifests      string
	nodeName       string
	stateDir       string
	listen         string
	hostNetwork    bool
	netnsName      string
	nodeIP         string
	podCIDR        string
	serviceCIDR    string
	cgroupRoot     string
	backend        string
	masqueradeAll  bool
	removeOnExit   bool
	poll           time.Duration
	busyboxImage   string
	busyboxPath    string
	verbose        bool
	parsedNodeIP   netip.Prefix
	parsedServices netip.Prefix
}

// nodeDevice is the dummy device carrying the node's address inside the node
// namespace, the stand-in for a node's eth0.
const nodeDevice = "node0"

func (c *config) register(fs *flag.FlagSet) {
	fs.StringVar(&c.manifests, "manifests", "", "directory of Pod and Service manifests (YAML or JSON), watched for changes (required)")
	fs.StringVar(&c.nodeName, "node-name", "nodekit", "the node's name: spec.nodeName of its pods, part of their UIDs")
	fs.StringVar(&c.stateDir, "state-dir", "", "state directory (runtime state, images, CNI addresses); default /var/lib/nodekit/<node-name>")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:10255", "address of the HTTP server (/pods, /stats/summary, /metrics, /healthz)")
	fs.BoolVar(&c.hostNetwork, "host-network", false, "run on the machine's own network: the bridge, routes and iptables rules go into the host's namespace")
	fs.StringVar(&c.netnsName, "netns", "", "name of the node's network namespace; default nodekit-<node-name> (ignored with --host-network)")
	fs.StringVar(&c.nodeIP, "node-ip", "", "the node's address with prefix length; default 10.87.0.2/24 on the node namespace's "+nodeDevice+" device (required with --host-network: an address the host has)")
	fs.StringVar(&c.podCIDR, "pod-cidr", runc.DefaultSubnet, "subnet of the pod bridge")
	fs.StringVar(&c.serviceCIDR, "service-cidr", manifest.DefaultServiceCIDR.String(), "where cluster IPs are allocated")
	fs.StringVar(&c.cgroupRoot, "cgroup-root", "", "cgroup the kubepods hierarchy goes under (the kubelet's --cgroup-root); default /nodekit/<node-name>")
	fs.StringVar(&c.backend, "iptables-backend", "", `iptables backend: "nft", "legacy", or empty for the distribution's default`)
	fs.BoolVar(&c.masqueradeAll, "masquerade-all", true, "masquerade all service traffic (needed for pod-to-service traffic to a pod on the same bridge without br_netfilter)")
	fs.BoolVar(&c.removeOnExit, "remove-on-exit", false, "on SIGINT/SIGTERM remove the pods (and the node namespace, or with --host-network the iptables rules) instead of leaving them running for the next start to adopt")
	fs.DurationVar(&c.poll, "poll", 500*time.Millisecond, "how often the manifests directory is checked for changes")
	fs.StringVar(&c.busyboxImage, "busybox-image", "", `write a busybox image under this reference (such as "busybox:latest") into the image store at start, unless it is there`)
	fs.StringVar(&c.busyboxPath, "busybox", runc.DefaultBusyboxPath, "statically linked busybox used by --busybox-image")
	fs.BoolVar(&c.verbose, "v", false, "log debug messages")
}

// complete fills defaults and checks the flags.
func (c *config) complete() error {
	if c.nodeName == "" || strings.ContainsAny(c.nodeName, "/ ") {
		return usageError{fmt.Sprintf("--node-name %q is not a valid name", c.nodeName)}
	}
	if c.stateDir == "" {
		c.stateDir = filepath.Join("/var/lib/nodekit", c.nodeName)
	}
	abs, err := filepath.Abs(c.stateDir)
	if err != nil {
		return usageError{err.Error()}
	}
	c.stateDir = abs
	if c.netnsName == "" {
		c.netnsName = "nodekit-" + c.nodeName
	}
	if c.cgroupRoot == "" {
		c.cgroupRoot = "/nodekit/" + c.nodeName
	}
	if !strings.HasPrefix(c.cgroupRoot, "/") || filepath.Clean(c.cgroupRoot) == "/" {
		return usageError{fmt.Sprintf("--cgroup-root %q must be an absolute cgroup below the root", c.cgroupRoot)}
	}
	if c.nodeIP == "" {
		if c.hostNetwork {
			return usageError{"--node-ip is required with --host-network (an address of this machine, such as 192.168.1.10/24)"}
		}
		c.nodeIP = "10.87.0.2/24"
	}
	if c.parsedNodeIP, err = netip.ParsePrefix(c.nodeIP); err != nil || !c.parsedNodeIP.Addr().Is4() {
		return usageError{fmt.Sprintf("--node-ip %q is not an IPv4 address with a prefix length", c.nodeIP)}
	}
	if _, err := netip.ParsePrefix(c.podCIDR); err != nil {
		return usageError{fmt.Sprintf("--pod-cidr: %v", err)}
	}
	if c.parsedServices, err = netip.ParsePrefix(c.serviceCIDR); err != nil || !c.parsedServices.Addr().Is4() {
		return usageError{fmt.Sprintf("--service-cidr %q is not an IPv4 prefix", c.serviceCIDR)}
	}
	switch proxy.BackendMode(c.backend) {
	case proxy.BackendAuto, proxy.BackendNFT, proxy.BackendLegacy:
	default:
		return usageError{fmt.Sprintf("--iptables-backend %q is not nft, legacy or empty", c.backend)}
	}
	return nil
}

// requirements lists what the node needs and is missing: root and the
// tools. It is checked before anything is done.
func requirements(busybox string) error {
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
		for _, dir := range cniPluginDirs {
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
	return usageError{"missing: " + strings.Join(missing, ", ") +
		"\n  On Debian/Ubuntu, as root: make tools (apt-get install runc conmon iptables containernetworking-plugins busybox-static iproute2)"}
}

// cniPluginDirs are where the runtime looks for CNI plugins by default.
var cniPluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
