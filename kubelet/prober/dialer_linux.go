package prober

import (
	"net"
	"syscall"
)

// probeDialer is the kubelet's ProbeDialer: SO_LINGER of 1 second, so a
// closed probe socket spends 1 s instead of 60 s in TIME-WAIT while still
// ending with a FIN rather than a reset. TCP keep-alive is off: a probe
// connection lives for one request, and turning keep-alive on costs four
// system calls per probe.
func probeDialer() *net.Dialer {
	return &net.Dialer{
		KeepAlive: -1,
		Control: func(network, address string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptLinger(int(fd), syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 1})
			})
			if err != nil {
				return err
			}
			return serr
		},
	}
}
