// Command node is a Kubernetes node in one program, built from nodekit's
// three packages: it runs the pods of a manifests directory with the kubelet
// engine on runc, conmon and CNI, programs the Services with the proxy's
// iptables rules, measures everything with the stats collector, and serves
// /pods, /stats/summary, /metrics and /healthz on loopback.
//
// By default the node lives in a network namespace of its own
// ("nodekit-<node name>"), so the machine's firewall and routes are never
// touched; --host-network runs it on the machine itself.
//
// Usage:
//
//	node --manifests DIR [flags]   run the node (see README.md for the flags)
//	node demo [flags]              the demo behind "make demo"
//	node cleanup [flags]           remove everything a node left behind
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
	"os/signal"
	"syscall"
	"time"

	"github.com/nodekit/nodekit/examples/internal/agent"
	"github.com/nodekit/nodekit/examples/internal/manifest"
	"github.com/nodekit/nodekit/examples/internal/realnode"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run dispatches the subcommands and returns the exit code: 0, 1 for a
// failure, 2 for a usage error or a missing requirement.
func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case len(args) > 0 && args[0] == "demo":
		err = runDemo(ctx, args[1:], os.Stdout)
	case len(args) > 0 && args[0] == "cleanup":
		err = runCleanup(ctx, args[1:])
	default:
		err = runNode(ctx, args)
	}
	var ue realnode.UsageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "node:", err)
		return 2
	default:
		fmt.Fprintln(os.Stderr, "node:", err)
		return 1
	}
}

func runNode(ctx context.Context, args []string) error {
	cfg := &realnode.Config{}
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	cfg.Register(fs, "nodekit")
	manifests := fs.String("manifests", "", "directory of Pod and Service manifests (YAML or JSON), watched for changes (required)")
	serviceCIDR := fs.String("service-cidr", manifest.DefaultServiceCIDR.String(), "where cluster IPs are allocated")
	poll := fs.Duration("poll", 500*time.Millisecond, "how often the manifests directory is checked for changes")
	if err := fs.Parse(args); err != nil {
		return realnode.UsageError{Msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return realnode.UsageError{Msg: fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if *manifests == "" {
		return realnode.UsageError{Msg: "--manifests is required"}
	}
	if err := cfg.Complete(); err != nil {
		return err
	}
	services, err := netip.ParsePrefix(*serviceCIDR)
	if err != nil || !services.Addr().Is4() {
		return realnode.UsageError{Msg: fmt.Sprintf("--service-cidr %q is not an IPv4 prefix", *serviceCIDR)}
	}
	busybox := ""
	if cfg.BusyboxImage != "" {
		busybox = cfg.BusyboxPath
	}
	if err := realnode.Requirements(busybox); err != nil {
		return err
	}
	if st, err := os.Stat(*manifests); err != nil || !st.IsDir() {
		return realnode.UsageError{Msg: fmt.Sprintf("--manifests %s is not a directory", *manifests)}
	}
	level := slog.LevelInfo
	if cfg.Verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	n, err := realnode.Start(ctx, cfg, log, func(o *agent.Options) { o.BuildEndpointSlices = true })
	if err != nil {
		return err
	}
	defer n.Close()
	src := manifest.NewSource(*manifests, manifest.Options{NodeName: cfg.NodeName, ServiceCIDR: services})
	set, err := src.Load()
	if set == nil {
		return err
	}
	if err != nil {
		log.Error("manifests", "err", err)
	}
	apply := func(set *manifest.Set) {
		n.Agent.SetServices(set.Services)
		if err := n.Agent.SetPods(set.Pods); err != nil {
			log.Error("invalid pods", "err", err)
		}
	}
	apply(set)

	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: n.Agent.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	log.Info("node running", "node", cfg.NodeName, "listen", l.Addr().String(), "netns", cfg.NetnsName, "hostNetwork", cfg.HostNetwork,
		"nodeIP", cfg.ParsedNodeIP.Addr(), "pods", len(set.Pods), "services", len(set.Services))

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_ = src.Run(runCtx, *poll, func(set *manifest.Set, err error) {
			if err != nil {
				log.Error("manifests", "err", err)
			}
			if set != nil {
				apply(set)
			}
		})
	}()
	runErr := n.Agent.Run(runCtx)
	shutdownCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	_ = srv.Shutdown(shutdownCtx)
	done()
	if runErr != nil {
		return runErr
	}
	if !cfg.RemoveOnExit {
		log.Info("stopped; pods left running, the next start adopts them")
		return nil
	}
	log.Info("stopping: removing pods")
	rmCtx, rmCancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer rmCancel()
	if err := n.Remove(rmCtx); err != nil {
		return err
	}
	log.Info("removed the pods, the node's namespace or rules, its cgroups and runtime state")
	return nil
}

// runCleanup removes everything a node left behind: its pods, its network
// namespace (or, with --host-network, the proxy's iptables rules), its
// cgroups and its state directory.
func runCleanup(ctx context.Context, args []string) error {
	cfg := &realnode.Config{}
	fs := flag.NewFlagSet("cleanup", flag.ContinueOnError)
	cfg.Register(fs, "nodekit")
	if err := fs.Parse(args); err != nil {
		return realnode.UsageError{Msg: err.Error()}
	}
	if cfg.HostNetwork && cfg.NodeIP == "" {
		cfg.NodeIP = "127.0.0.1/8" // not used by cleanup
	}
	if err := cfg.Complete(); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return realnode.UsageError{Msg: "cleanup needs root"}
	}
	return realnode.Cleanup(ctx, cfg)
}
