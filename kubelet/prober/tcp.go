package prober

import (
	"context"
	"net"
	"strconv"
	"time"
)

// tcpProbe opens a TCP connection to host:port within timeout and closes
// it (the kubelet's DoTCPProbe): a connection is success, anything else
// failure.
func tcpProbe(ctx context.Context, host string, port int, timeout time.Duration) (outcome, string, error) {
	d := probeDialer()
	d.Timeout = timeout
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return outcomeFailure, err.Error(), nil
	}
	_ = conn.Close()
	return outcomeSuccess, "", nil
}
