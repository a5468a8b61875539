package proxy

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
)

// protoUDP is IPPROTO_UDP.
const protoUDP = 17

// ConntrackFlow is one entry of the kernel's connection tracking table,
// reduced to what UDP reconciliation needs: the protocol and the two
// tuples. A UDP "connection" to a service frontend keeps its DNAT
// destination (ReplySrc) as long as packets keep coming, even after the
// endpoint went away; deleting the entry lets the next packet go through
// the rules again.
type ConntrackFlow struct {
	// Proto is the IP protocol number (17 for UDP).
	Proto uint8
	// OrigSrc and OrigDst are the original direction's source and
	// destination: the client and the service frontend.
	OrigSrc, OrigDst netip.AddrPort
	// ReplySrc and ReplyDst are the reply direction's: the endpoint the
	// flow was DNATed to (the frontend itself when it was not) and the
	// client, or the node when masqueraded.
	ReplySrc, ReplyDst netip.AddrPort
}

// String renders the flow like the conntrack tool, in short.
func (f ConntrackFlow) String() string {
	return fmt.Sprintf("proto=%d src=%s dst=%s reply-src=%s reply-dst=%s", f.Proto, f.OrigSrc, f.OrigDst, f.ReplySrc, f.ReplyDst)
}

// ConntrackTable is the connection tracking table of one network
// namespace. NewNetlinkConntrack is the real one (netlink, via
// github.com/ti-mo/conntrack); FakeConntrack is a faithful in-memory one.
// Implementations must be safe for concurrent use.
type ConntrackTable interface {
	// ListUDP returns the UDP entries.
	ListUDP(ctx context.Context) ([]ConntrackFlow, error)
	// Delete deletes entries; an entry that is already gone is not an
	// error. It returns how many it deleted.
	Delete(ctx context.Context, flows []ConntrackFlow) (int, error)
}

// StaleUDPFlows returns the UDP flows whose original destination is a
// service frontend of ports (a cluster IP, external IP or load-balancer
// IP with the service port, or any address with the node port) and whose
// reply source is not one of that service port's serving endpoints. That
// includes flows of service ports without any endpoint (left from before
// the endpoints went away, or black-holed while there were none) and
// flows never DNATed; flows to other destinations are never returned, so
// reconciling after a restart does not disturb unrelated traffic.
//
// As in kube-proxy, node ports are matched by port alone.
func StaleUDPFlows(flows []ConntrackFlow, ports []UDPServicePort) []ConntrackFlow {
	byFrontend := map[netip.AddrPort]map[netip.AddrPort]bool{}
	byNodePort := map[uint16]map[netip.AddrPort]bool{}
	for _, p := range ports {
		serving := make(map[netip.AddrPort]bool, len(p.Serving))
		for _, s := range p.Serving {
			serving[unmapAddrPort(s)] = true
		}
		for _, fe := range p.Frontends {
			byFrontend[unmapAddrPort(fe)] = serving
		}
		if p.NodePort != 0 {
			byNodePort[p.NodePort] = serving
		}
	}
	var stale []ConntrackFlow
	for _, f := range flows {
		if f.Proto != protoUDP {
			continue
		}
		dst := unmapAddrPort(f.OrigDst)
		serving, ok := byFrontend[dst]
		if !ok {
			serving, ok = byNodePort[dst.Port()]
		}
		if ok && !serving[unmapAddrPort(f.ReplySrc)] {
			stale = append(stale, f)
		}
	}
	return stale
}

func unmapAddrPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// ReconcileConntrack deletes the StaleUDPFlows of ct for ports, as
// kube-proxy does after each sync that changed UDP services, and returns
// how many entries it deleted.
func ReconcileConntrack(ctx context.Context, ct ConntrackTable, ports []UDPServicePort) (int, error) {
	flows, err := ct.ListUDP(ctx)
	if err != nil {
		return 0, fmt.Errorf("listing conntrack entries: %w", err)
	}
	stale := StaleUDPFlows(flows, ports)
	if len(stale) == 0 {
		return 0, nil
	}
	n, err := ct.Delete(ctx, stale)
	if err != nil {
		return n, fmt.Errorf("deleting %d stale conntrack entries: %w", len(stale), err)
	}
	return n, nil
}

// FakeConntrack is an in-memory ConntrackTable: entries are added with
// Add, listed and deleted like the kernel's (deleting an entry that is
// not there is not an error and does not count). Safe for concurrent use.
type FakeConntrack struct {
	mu    sync.Mutex
	flows []ConntrackFlow
}

var _ ConntrackTable = (*FakeConntrack)(nil)

// Add adds entries, as traffic would. An entry equal to an existing one
// is not added twice (the kernel keys entries by their tuples).
func (c *FakeConntrack) Add(flows ...ConntrackFlow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range flows {
		if !slices.Contains(c.flows, f) {
			c.flows = append(c.flows, f)
		}
	}
}

// Flows returns a copy of all entries, in insertion order.
func (c *FakeConntrack) Flows() []ConntrackFlow {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.flows)
}

// ListUDP returns the UDP entries.
func (c *FakeConntrack) ListUDP(ctx context.Context) ([]ConntrackFlow, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []ConntrackFlow
	for _, f := range c.flows {
		if f.Proto == protoUDP {
			out = append(out, f)
		}
	}
	return out, nil
}

// Delete deletes the entries equal to flows.
func (c *FakeConntrack) Delete(ctx context.Context, flows []ConntrackFlow) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range flows {
		if i := slices.Index(c.flows, f); i >= 0 {
			c.flows = slices.Delete(c.flows, i, i+1)
			n++
		}
	}
	return n, nil
}
