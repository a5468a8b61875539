package realnode

import (
	"context"
	"errors"
	"net/netip"
	"os"

	"github.com/nodekit/nodekit/examples/internal/netns"
)

// ensureNodeNetwork gives the node namespace what a node's own network
// has: a device with the node's address (a dummy, or a veth whose peer is
// down: nothing outside the machine is reachable), a default route through it (so that traffic to
// cluster IPs is routed, then DNATed by the proxy's rules), and IP
// forwarding (pods reach services and each other through the node). It is
// idempotent, so a restarted agent finds the namespace as it left it.
func ensureNodeNetwork(ctx context.Context, ns *netns.Namespace, nodeIP netip.Prefix) error {
	if _, err := ns.Run(ctx, "ip", "link", "show", NodeDevice); err != nil {
		// A dummy device where the kernel has the module; else a veth pair
		// with both ends in the node namespace and the peer left down, which
		// carries the address and the route just as well and sends nothing.
		if _, err := ns.Run(ctx, "ip", "link", "add", NodeDevice, "type", "dummy"); err != nil {
			if _, err2 := ns.Run(ctx, "ip", "link", "add", NodeDevice, "type", "veth", "peer", "name", NodeDevice+"p"); err2 != nil {
				return errors.Join(err, err2)
			}
		}
	}
	steps := [][]string{
		{"ip", "addr", "replace", nodeIP.String(), "dev", NodeDevice},
		{"ip", "link", "set", NodeDevice, "up"},
		{"ip", "route", "replace", "default", "dev", NodeDevice},
	}
	for _, s := range steps {
		if _, err := ns.Run(ctx, s[0], s[1:]...); err != nil {
			return err
		}
	}
	return ns.Do(func() error {
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644)
	})
}
