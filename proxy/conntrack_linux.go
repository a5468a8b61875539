package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/mdlayher/netlink"
	"github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"
)

// NetlinkConntrack is the kernel's conntrack table, reached over netlink
// with github.com/ti-mo/conntrack (a maintained library; no conntrack
// binary needed). The netlink socket is opened inside the network
// namespace given to NewNetlinkConntrack, so it works for a proxy that
// programs another namespace than its own.
//
// NetlinkConntrack is safe for concurrent use; requests are serialised.
type NetlinkConntrack struct {
	mu   sync.Mutex
	conn *conntrack.Conn
}

var _ ConntrackTable = (*NetlinkConntrack)(nil)

// NewNetlinkConntrack opens a conntrack netlink socket in the network
// namespace mounted at netnsPath (such as /run/netns/NAME), or in the
// caller's namespace when netnsPath is empty. Close it when done.
func NewNetlinkConntrack(netnsPath string) (*NetlinkConntrack, error) {
	cfg := &netlink.Config{}
	if netnsPath != "" {
		fd, err := unix.Open(netnsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("opening network namespace %s: %w", netnsPath, err)
		}
		defer unix.Close(fd) // the socket keeps its namespace
		cfg.NetNS = fd
	}
	c, err := conntrack.Dial(cfg)
	if err != nil {
		return nil, fmt.Errorf("conntrack netlink socket: %w", err)
	}
	return &NetlinkConntrack{conn: c}, nil
}

// Close closes the socket.
func (c *NetlinkConntrack) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn.Close()
}

// ListUDP dumps the table (both families) and returns its UDP entries.
func (c *NetlinkConntrack) ListUDP(ctx context.Context) ([]ConntrackFlow, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	flows, err := c.conn.Dump(nil)
	c.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("conntrack dump: %w", err)
	}
	var out []ConntrackFlow
	for _, f := range flows {
		if f.TupleOrig.Proto.Protocol != protoUDP {
			continue
		}
		out = append(out, fromNetlinkFlow(f))
	}
	return out, nil
}

// Delete deletes entries by their tuples. Entries already gone (ENOENT)
// are skipped.
func (c *NetlinkConntrack) Delete(ctx context.Context, flows []ConntrackFlow) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, f := range flows {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		err := c.conn.Delete(toNetlinkFlow(f))
		switch {
		case err == nil:
			n++
		case errors.Is(err, unix.ENOENT):
		default:
			return n, fmt.Errorf("conntrack delete %s: %w", f, err)
		}
	}
	return n, nil
}

func fromNetlinkFlow(f conntrack.Flow) ConntrackFlow {
	ap := func(t conntrack.Tuple, src bool) netip.AddrPort {
		if src {
			return netip.AddrPortFrom(t.IP.SourceAddress.Unmap(), t.Proto.SourcePort)
		}
		return netip.AddrPortFrom(t.IP.DestinationAddress.Unmap(), t.Proto.DestinationPort)
	}
	return ConntrackFlow{
		Proto:    f.TupleOrig.Proto.Protocol,
		OrigSrc:  ap(f.TupleOrig, true),
		OrigDst:  ap(f.TupleOrig, false),
		ReplySrc: ap(f.TupleReply, true),
		ReplyDst: ap(f.TupleReply, false),
	}
}

func toNetlinkFlow(f ConntrackFlow) conntrack.Flow {
	tuple := func(src, dst netip.AddrPort) conntrack.Tuple {
		return conntrack.Tuple{
			IP:    conntrack.IPTuple{SourceAddress: src.Addr(), DestinationAddress: dst.Addr()},
			Proto: conntrack.ProtoTuple{Protocol: f.Proto, SourcePort: src.Port(), DestinationPort: dst.Port()},
		}
	}
	return conntrack.Flow{TupleOrig: tuple(f.OrigSrc, f.OrigDst), TupleReply: tuple(f.ReplySrc, f.ReplyDst)}
}
