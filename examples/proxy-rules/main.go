// Command proxy-rules prints the iptables-restore payload kube-proxy's
// iptables mode would write on one node for the Services and
// EndpointSlices in YAML files, without root and without touching the
// firewall.
//
//	proxy-rules --node-name node-a --node-ip 192.168.1.10 \
//	    --cluster-cidr 10.244.0.0/16 services.yaml slices.yaml
//
// Files may hold several YAML documents separated by "---", and "kind:
// List" documents (as printed by "kubectl get svc,endpointslices -A -o
// yaml"). Objects of other kinds are ignored. Invalid objects are reported
// on stderr and left out of the rules.
//
// With --kubeconfig it follows a live cluster instead, through client-go
// informers (with kube-proxy's label selector), and prints a payload each
// time the rules change: full ones, or with --partial the partial payloads
// that bring the previous one up to date. Interrupt it to stop.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"

	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/proxy"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "proxy-rules:", err)
		os.Exit(1)
	}
}

// config holds the command line.
type config struct {
	opts       proxy.Options
	files      []string
	kubeconfig string
	partial    bool
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("proxy-rules", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodeName := fs.String("node-name", "", "this node's name, to find local endpoints")
	nodeIP := fs.String("node-ip", "", "this node's IP address(es), comma-separated")
	clusterCIDR := fs.String("cluster-cidr", "", "pod CIDR of the cluster, for local traffic detection")
	masqueradeAll := fs.Bool("masquerade-all", false, "masquerade all traffic to service IPs")
	ipv6 := fs.Bool("ipv6", false, "generate ip6tables rules instead of iptables rules")
	zone := fs.String("node-zone", "", "this node's topology.kubernetes.io/zone, for topology hints")
	randomFully := fs.Bool("random-fully", false, "add --random-fully to the MASQUERADE rule")
	kubeconfig := fs.String("kubeconfig", "", "follow the cluster of this kubeconfig file instead of reading YAML files")
	partial := fs.Bool("partial", false, "with --kubeconfig, print partial payloads after the first full one")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	c := &config{files: fs.Args(), kubeconfig: *kubeconfig, partial: *partial}
	c.opts = proxy.Options{NodeName: *nodeName, NodeZone: *zone, MasqueradeAll: *masqueradeAll, RandomFully: *randomFully}
	if *ipv6 {
		c.opts.IPFamily = v1.IPv6Protocol
	}
	if *nodeIP != "" {
		for _, s := range strings.Split(*nodeIP, ",") {
			ip, err := netip.ParseAddr(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("--node-ip: %w", err)
			}
			c.opts.NodeIPs = append(c.opts.NodeIPs, ip)
		}
	}
	if *clusterCIDR != "" {
		p, err := netip.ParsePrefix(*clusterCIDR)
		if err != nil {
			return nil, fmt.Errorf("--cluster-cidr: %w", err)
		}
		c.opts.ClusterCIDR = p
	}
	if c.kubeconfig == "" && len(c.files) == 0 {
		return nil, errors.New("no input: give YAML files or --kubeconfig")
	}
	if c.kubeconfig != "" && len(c.files) > 0 {
		return nil, errors.New("give either YAML files or --kubeconfig, not both")
	}
	return c, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	p, err := proxy.New(c.opts)
	if err != nil {
		return err
	}
	if c.kubeconfig != "" {
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
		defer stop()
		return followKubeconfig(ctx, p, c, stdout, stderr)
	}
	objs, err := readFiles(c.files)
	if err != nil {
		return err
	}
	if err := p.SetState(objs.services, objs.slices); err != nil {
		for _, e := range p.Errors() {
			fmt.Fprintln(stderr, "skipped:", e)
		}
	}
	plan, err := p.Plan(true)
	if err != nil {
		return err
	}
	_, err = stdout.Write(plan.Payload())
	return err
}
