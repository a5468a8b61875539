package prober

import "errors"

// Errors of the prober.
var (
	// ErrAlreadyRunning: Manager.Run was called while another Run is
	// active.
	ErrAlreadyRunning = errors.New("prober: already running")
	// ErrNoHandler: a probe has no action (exec, httpGet, tcpSocket or
	// grpc). The probe's result is thrown away, as the kubelet does.
	ErrNoHandler = errors.New("probe has no handler")
)
