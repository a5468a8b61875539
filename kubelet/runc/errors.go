package runc

import (
	"errors"

	"github.com/nodekit/nodekit/kubelet"
)

var (
	// ErrImageNotFound: the image store has no image of that reference.
	// Runtime.CreateContainer wraps it together with kubelet.ErrImagePull.
	ErrImageNotFound = errors.New("image not found")
	// ErrInvalidOptions: Options or the root directory given to New cannot
	// be used (a missing tool, a relative path, a bad subnet).
	ErrInvalidOptions = errors.New("invalid runtime options")
	// ErrStartFailed: the OCI runtime could not start the container's
	// process (runc create or runc start failed). The container is then
	// reported as exited with reason StartError and exit code 128, as
	// containerd reports it.
	ErrStartFailed = errors.New("container start failed")
	// ErrNetwork: the CNI plugins failed to set up or tear down the pod
	// network.
	ErrNetwork = errors.New("pod network")
	// ErrNoPauseImage: a pod shares its PID namespace
	// (shareProcessNamespace) but Options.PauseImage is not set.
	ErrNoPauseImage = errors.New("shareProcessNamespace needs a pause image (Options.PauseImage)")
	// ErrExecTimeout: an ExecSync command ran longer than its timeout and
	// was killed. It is kubelet.ErrExecTimeout, which probes count as a
	// failure.
	ErrExecTimeout = kubelet.ErrExecTimeout
)
