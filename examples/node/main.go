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
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run dispatches the subcommands and returns the exit code.
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
	var ue usageError
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

// usageError is a bad flag or a missing requirement, reported before the
// program did anything.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }
