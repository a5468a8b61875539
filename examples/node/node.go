package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/nodekit/nodekit/examples/internal/agent"
	"github.com/nodekit/nodekit/examples/internal/manifest"
	"github.com/nodekit/nodekit/examples/internal/netns"
	"github.com/nodekit/nodekit/kubelet/oci"
	"github.com/nodekit/nodekit/kubelet/runc"
	"github.com/nodekit/nodekit/proxy"
	"github.com/nodekit/nodekit/stats"
)

// node is a running node's parts.
type node struct {
	cfg       *config
	log       *slog.Logger
	ns        *netns.Namespace // nil with --host-network
	rt        *runc.Runtime
	ipt       *proxy.IPTables
	conntrack *proxy.NetlinkConntrack
	health    *proxy.HealthCheckServer
	agent     *agent.Agent
}

func runNode(ctx context.Context, args []string) error {
	cfg := &config{}
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	cfg.register(fs)
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if cfg.manifests == "" {
		return usageError{"--manifests is required"}
	}
	if err := cfg.complete(); err != nil {
		return err
	}
	busybox := ""
	if cfg.busyboxImage != "" {
		busybox = cfg.busyboxPath
	}
	if err := requirements(busybox); err != nil {
		return err
	}
	if st, err := os.Stat(cfg.manifests); err != nil || !st.IsDir() {
		return usageError{fmt.Sprintf("--manifests %s is not a directory", cfg.manifests)}
	}
	level := slog.LevelInfo
	if cfg.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	n, err := startNode(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer n.close()
	src := manifest.NewSource(cfg.manifests, manifest.Options{NodeName: cfg.nodeName, ServiceCIDR: cfg.parsedServices})
	set, err := src.Load()
	if set == nil {
		return err
	}
	if err != nil {
		log.Error("manifests", "err", err)
	}
	n.apply(set)

	l, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: n.agent.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	log.Info("node running", "node", cfg.nodeName, "listen", l.Addr().String(), "netns", cfg.netnsName, "hostNetwork", cfg.hostNetwork,
		"nodeIP", cfg.parsedNodeIP.Addr(), "pods", len(set.Pods), "services", len(set.Services))

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_ = src.Run(runCtx, cfg.poll, func(set *manifest.Set, err error) {
			if err != nil {
				log.Error("manifests", "err", err)
			}
			if set != nil {
				n.apply(set)
			}
		})
	}()
	runErr := n.agent.Run(runCtx)
	shutdownCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	_ = srv.Shutdown(shutdownCtx)
	done()
	if runErr != nil {
		return runErr
	}
	if !cfg.removeOnExit {
		log.Info("stopped; pods left running, the next start adopts them")
		return nil
	}
	log.Info("stopping: removing pods")
	rmCtx, rmCancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer rmCancel()
	return n.remove(rmCtx)
}

// apply hands a manifests set to the agent.
func (n *node) apply(set *manifest.Set) {
	n.agent.SetServices(set.Services)
	if err := n.agent.SetPods(set.Pods); err != nil {
		n.log.Error("invalid pods", "err", err)
	}
}

// startNode prepares the node's network namespace, image store, runtime,
// iptables and stats, and creates the agent.
func startNode(ctx context.Context, cfg *config, log *slog.Logger) (_ *node, err error) {
	n := &node{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	if err := os.MkdirAll(cfg.stateDir, 0o700); err != nil {
		return nil, err
	}
	nodeIP := cfg.parsedNodeIP.Addr()
	netnsPath := ""
	if !cfg.hostNetwork {
		ns, created, err := netns.Open(ctx, cfg.netnsName)
		if err != nil {
			return nil, err
		}
		n.ns, netnsPath = ns, ns.Path
		if err := ensureNodeNetwork(ctx, ns, cfg.parsedNodeIP); err != nil {
			return nil, err
		}
		log.Info("node network namespace", "name", ns.Name, "created", created)
	}
	images := runc.DirImageStore(filepath.Join(cfg.stateDir, "images"))
	if cfg.busyboxImage != "" {
		if _, err := images.Resolve(ctx, cfg.busyboxImage); errors.Is(err, runc.ErrImageNotFound) {
			if err := runc.WriteBusyboxImage(ctx, images, cfg.busyboxImage, cfg.busyboxPath); err != nil {
				return nil, fmt.Errorf("busybox image: %w", err)
			}
			log.Info("wrote busybox image", "ref", cfg.busyboxImage)
		} else if err != nil {
			return nil, err
		}
	}
	n.rt, err = runc.New(filepath.Join(cfg.stateDir, "runtime"), runc.Options{
		Images:     images,
		CgroupRoot: cfg.cgroupRoot,
		Network:    runc.NetworkOptions{Subnet: cfg.podCIDR, NodeNetNSPath: netnsPath},
		Node:       oci.NodeInfo{HostIPs: []string{nodeIP.String()}},
		Logger:     log.With("component", "runc"),
	})
	if err != nil {
		return nil, err
	}
	n.ipt, err = proxy.NewIPTables(ctx, proxy.IPTablesOptions{Backend: proxy.BackendMode(cfg.backend), NetNS: netnsPath})
	if err != nil {
		return nil, err
	}
	n.conntrack, err = proxy.NewNetlinkConntrack(netnsPath)
	if err != nil {
		return nil, err
	}
	hcOpts := proxy.HealthCheckOptions{Addresses: []netip.Addr{nodeIP}}
	if n.ns != nil {
		hcOpts.Listen = n.ns.Listen
	}
	n.health = proxy.NewHealthCheckServer(hcOpts)
	fsys, err := stats.NewFS("/proc", "/sys/fs/cgroup")
	if err != nil {
		return nil, err
	}
	statsOpts := stats.Options{}
	if n.ns != nil {
		statsOpts.NodePID = -1 // no process of ours lives in the node namespace
	}
	collector, err := stats.NewCollector(fsys, statsOpts)
	if err != nil {
		return nil, err
	}
	n.agent, err = agent.New(agent.Options{
		NodeName:            cfg.nodeName,
		NodeIPs:             []netip.Addr{nodeIP},
		Runtime:             n.rt,
		Proxy:               proxy.Options{MasqueradeAll: cfg.masqueradeAll},
		Netfilter:           n.ipt,
		ProxySync:           proxy.SyncerOptions{Conntrack: n.conntrack, HealthChecks: n.health},
		Stats:               collector,
		Targets:             runcTargets(n.rt),
		RunStats:            true,
		BuildEndpointSlices: true,
		Logger:              log,
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// close releases what startNode opened (not the pods, rules or namespace).
func (n *node) close() {
	if n.health != nil {
		n.health.Close()
	}
	if n.conntrack != nil {
		_ = n.conntrack.Close()
	}
	if n.ipt != nil {
		n.ipt.Close()
	}
}

// remove removes the pods and what holds them: the node namespace (with
// its bridge and rules), or on the host network the proxy's iptables rules;
// then the cgroups and the runtime's state.
func (n *node) remove(ctx context.Context) error {
	var errs []error
	if err := n.agent.RemoveAll(ctx); err != nil {
		errs = append(errs, err)
	}
	if n.ns != nil {
		n.close()
		errs = append(errs, n.ns.Delete(ctx))
	} else {
		errs = append(errs, proxy.Cleanup(ctx, n.ipt))
	}
	errs = append(errs, removeCgroupTree(n.cfg.cgroupRoot))
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Only once the pods are gone: the runtime's directory holds their
	// mounts until then.
	return removeStateDir(filepath.Join(n.cfg.stateDir, "runtime"))
}
