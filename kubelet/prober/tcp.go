package prober

import (
	"context"
	"net"
	"strconv"
	"time"
)

// tcpProbe opens a TCP connection to host:port within timeout and closes
// it (the kubelet's DoTCPProbe): a connection is success, anything else
// failure. A nil dial is the probe dialer.
func tcpProbe(ctx context.Context, dial dialFunc, host string, port int, timeout time.Duration) (outcome, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if dial == nil {
		d := probeDialer()
		d.Timeout = timeout
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return outcomeFailure, err.Error(), nil
	}
	_ = conn.Close()
	return outcomeSuccess, "", nil
}
