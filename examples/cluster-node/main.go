// Command cluster-node is the node agent of examples/node fed by a real
// cluster instead of a manifests directory: client-go informers deliver the
// pods bound to this node (field selector spec.nodeName), all Services and
// EndpointSlices; the pods' statuses go back to the API server as status
// patches; the Node object is registered and its Ready condition, capacity
// and Lease are kept current.
//
// Usage:
//
//	cluster-node --kubeconfig FILE --node-name NAME [flags]
//
// See README.md for how to point it at a cluster.
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
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nodekit/nodekit/examples/internal/agent"
	"github.com/nodekit/nodekit/examples/internal/realnode"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	var ue realnode.UsageError
	switch {
	case err == nil:
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "cluster-node:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "cluster-node:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cfg := &realnode.Config{}
	fs := flag.NewFlagSet("cluster-node", flag.ContinueOnError)
	cfg.Register(fs, "")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the cluster (empty: the in-cluster configuration)")
	heartbeat := fs.Duration("node-status-update-frequency", defaultHeartbeat, "how often the Node status and Lease are renewed")
	if err := fs.Parse(args); err != nil {
		return realnode.UsageError{Msg: err.Error()}
	}
	if cfg.NodeName == "" {
		return realnode.UsageError{Msg: "--node-name is required (the Node object's name)"}
	}
	if err := cfg.Complete(); err != nil {
		return err
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return realnode.UsageError{Msg: fmt.Sprintf("--kubeconfig: %v", err)}
	}
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return realnode.UsageError{Msg: fmt.Sprintf("--kubeconfig: %v", err)}
	}
	if err := realnode.Requirements(""); err != nil {
		return err
	}
	level := slog.LevelInfo
	if cfg.Verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	n, err := realnode.Start(ctx, cfg, log, func(o *agent.Options) { o.BuildEndpointSlices = false })
	if err != nil {
		return err
	}
	defer n.Close()
	cn := newClusterNode(client, cfg.NodeName, n.Agent, clusterOptions{
		NodeIPs: []netip.Addr{cfg.ParsedNodeIP.Addr()}, Machine: n.Stats.Machine(), Heartbeat: *heartbeat, Logger: log,
	})

	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: n.Agent.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	log.Info("cluster node running", "node", cfg.NodeName, "api", restCfg.Host, "listen", l.Addr().String())

	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var clusterErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		if clusterErr = cn.Run(runCtx); clusterErr != nil {
			cancel()
		}
	}()
	runErr := n.Agent.Run(runCtx)
	cancel()
	wg.Wait()
	shutdownCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	_ = srv.Shutdown(shutdownCtx)
	done()
	if err := errors.Join(runErr, clusterErr); err != nil {
		return err
	}
	if !cfg.RemoveOnExit {
		log.Info("stopped; pods left running, the next start adopts them")
		return nil
	}
	rmCtx, rmCancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer rmCancel()
	return n.Remove(rmCtx)
}
