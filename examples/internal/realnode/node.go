package realnode

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/nodekit/nodekit/examples/internal/agent"
	"github.com/nodekit/nodekit/examples/internal/netns"
	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/oci"
	"github.com/nodekit/nodekit/kubelet/prober"
	"github.com/nodekit/nodekit/kubelet/runc"
	"github.com/nodekit/nodekit/proxy"
	"github.com/nodekit/nodekit/stats"
)

// Node is a running node's parts. Its fields are set by Start and not
// changed afterwards (Close clears the ones it releases); see the package
// doc for when its methods may be called.
type Node struct {
	Config *Config
	// NS is the node's network namespace; nil with HostNetwork.
	NS        *netns.Namespace
	Runtime   *runc.Runtime
	IPTables  *proxy.IPTables
	Conntrack *proxy.NetlinkConntrack
	Health    *proxy.HealthCheckServer
	Stats     *stats.Collector
	Agent     *agent.Agent
	// Resources are the node's capacity, allocatable resources and what
	// its kubepods cgroup got.
	Resources NodeResources
	log       *slog.Logger
}

// Start prepares the node's network namespace, image store, runtime,
// iptables and stats, and creates the agent (not running yet). tune, when
// not nil, adjusts the agent's options before it is created.
func Start(ctx context.Context, cfg *Config, log *slog.Logger, tune func(*agent.Options)) (_ *Node, err error) {
	n := &Node{Config: cfg, log: log}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, err
	}
	nodeIP := cfg.ParsedNodeIP.Addr()
	netnsPath := ""
	if !cfg.HostNetwork {
		ns, created, err := netns.Open(ctx, cfg.NetnsName)
		if err != nil {
			return nil, err
		}
		n.NS, netnsPath = ns, ns.Path
		if err := ensureNodeNetwork(ctx, ns, cfg.ParsedNodeIP); err != nil {
			return nil, err
		}
		log.Info("node network namespace", "name", ns.Name, "created", created)
	}
	images := runc.DirImageStore(filepath.Join(cfg.StateDir, "images"))
	if cfg.BusyboxImage != "" {
		if _, err := images.Resolve(ctx, cfg.BusyboxImage); errors.Is(err, runc.ErrImageNotFound) {
			if err := runc.WriteBusyboxImage(ctx, images, cfg.BusyboxImage, cfg.BusyboxPath); err != nil {
				return nil, fmt.Errorf("busybox image: %w", err)
			}
			log.Info("wrote busybox image", "ref", cfg.BusyboxImage)
		} else if err != nil {
			return nil, err
		}
	}
	fsys, err := stats.NewFS("/proc", "/sys/fs/cgroup")
	if err != nil {
		return nil, err
	}
	machine, err := fsys.Machine()
	if err != nil {
		return nil, err
	}
	rlimit, err := fsys.Rlimit()
	if err != nil {
		log.Warn("task limit unknown: the kubepods cgroup gets no pids limit", "err", err)
	}
	if n.Resources, err = nodeResources(machine, rlimit.MaxPID, cfg.Reserved, cfg.EnforceNodeAllocatable == "pods"); err != nil {
		return nil, err
	}
	log.Info("node resources", "capacity", n.Resources.Capacity, "kubepods", n.Resources.Kubepods, "allocatable", n.Resources.Allocatable)
	n.Runtime, err = runc.New(filepath.Join(cfg.StateDir, "runtime"), runc.Options{
		Images:            images,
		CgroupRoot:        cfg.CgroupRoot,
		KubepodsResources: n.Resources.Kubepods,
		Network:           runc.NetworkOptions{Subnet: cfg.PodCIDR, NodeNetNSPath: netnsPath},
		Node:              oci.NodeInfo{HostIPs: []string{nodeIP.String()}, Allocatable: n.Resources.Allocatable, MemoryCapacity: int64(machine.MemoryCapacityBytes)},
		PauseImage:        cfg.PauseImage,
		PauseCommand:      strings.Fields(cfg.PauseCommand),
		Logger:            log.With("component", "runc"),
	})
	if err != nil {
		return nil, err
	}
	n.IPTables, err = proxy.NewIPTables(ctx, proxy.IPTablesOptions{Backend: proxy.BackendMode(cfg.Backend), NetNS: netnsPath})
	if err != nil {
		return nil, err
	}
	n.Conntrack, err = proxy.NewNetlinkConntrack(netnsPath)
	if err != nil {
		return nil, err
	}
	hcOpts := proxy.HealthCheckOptions{Addresses: []netip.Addr{nodeIP}}
	if n.NS != nil {
		hcOpts.Listen = n.NS.Listen
	}
	n.Health = proxy.NewHealthCheckServer(hcOpts)
	statsOpts := stats.Options{}
	if n.NS != nil {
		statsOpts.NodePID = -1 // no process of ours lives in the node namespace
	}
	n.Stats, err = stats.NewCollector(fsys, statsOpts)
	if err != nil {
		return nil, err
	}
	opts := agent.Options{
		NodeName:  cfg.NodeName,
		NodeIPs:   []netip.Addr{nodeIP},
		Runtime:   n.Runtime,
		Proxy:     proxy.Options{MasqueradeAll: cfg.MasqueradeAll},
		Netfilter: n.IPTables,
		ProxySync: proxy.SyncerOptions{Conntrack: n.Conntrack, HealthChecks: n.Health},
		Stats:     n.Stats,
		Targets:   RuncTargets(n.Runtime),
		RunStats:  true,
		Logger:    log,
		Prober:    prober.Options{Coalesce: cfg.ProbeCoalesce},
	}
	if n.NS != nil {
		// Probes (httpGet, tcpSocket, gRPC) and httpGet hooks go to pod
		// IPs, which only the node namespace reaches: they dial from
		// inside it.
		opts.Prober.DialContext = n.NS.Dial
		transport := &http.Transport{DialContext: n.NS.Dial, DisableKeepAlives: true, DisableCompression: true,
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // as the kubelet's hook handler
		opts.Engine.Hooks = &kubelet.HandlerRunner{Runtime: n.Runtime, HTTPClient: &http.Client{Transport: transport}}
	}
	if tune != nil {
		tune(&opts)
	}
	n.Agent, err = agent.New(opts)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// Close releases what Start opened (not the pods, rules or namespace).
func (n *Node) Close() {
	if n.Health != nil {
		n.Health.Close()
		n.Health = nil
	}
	if n.Conntrack != nil {
		_ = n.Conntrack.Close()
		n.Conntrack = nil
	}
	if n.IPTables != nil {
		n.IPTables.Close()
		n.IPTables = nil
	}
}

// Remove removes the pods and what holds them: the node namespace (with
// its bridge and rules), or on the host network the proxy's iptables rules;
// then the cgroups and the runtime's state. The agent's Run must have
// returned.
func (n *Node) Remove(ctx context.Context) error {
	var errs []error
	if err := n.Agent.RemoveAll(ctx); err != nil {
		errs = append(errs, err)
	}
	if n.NS != nil {
		n.Close()
		errs = append(errs, n.NS.Delete(ctx))
	} else {
		errs = append(errs, proxy.Cleanup(ctx, n.IPTables))
	}
	errs = append(errs, RemoveCgroupTree(n.Config.CgroupRoot))
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Only once the pods are gone: the runtime's directory holds their
	// mounts until then.
	return RemoveStateDir(filepath.Join(n.Config.StateDir, "runtime"))
}
