package kubelet

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Errors a Runtime reports (wrapped, inspected with errors.Is).
var (
	// ErrNotFound: the sandbox or container does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a container with the same name and attempt exists
	// in the sandbox.
	ErrAlreadyExists = errors.New("already exists")
	// ErrInvalidState: the operation is not valid in the object's current
	// state (starting a container twice, creating a container in a sandbox
	// that is not Ready, exec in a container that is not running).
	ErrInvalidState = errors.New("invalid state")
	// ErrImagePull: the image could not be pulled or found. The pod status
	// shows ErrImagePull, then ImagePullBackOff while the engine backs off.
	ErrImagePull = errors.New("ErrImagePull")
	// ErrImageNeverPull: the image is absent and imagePullPolicy is Never.
	ErrImageNeverPull = errors.New("ErrImageNeverPull")
	// ErrInvalidImageName: the image reference cannot be parsed.
	ErrInvalidImageName = errors.New("InvalidImageName")
	// ErrCreateContainerConfig: the container's configuration cannot be
	// realised (for example runAsNonRoot with a root image).
	ErrCreateContainerConfig = errors.New("CreateContainerConfigError")
	// ErrExecTimeout: an ExecSync command ran longer than its timeout and
	// was killed. Probes count it as a failure (the kubelet's exec probe
	// timeout), not as an error.
	ErrExecTimeout = errors.New("exec timed out")
)

// Errors of the Syncer.
var (
	// ErrInvalidPod: the pod would be rejected by the API server's
	// validation (or by the engine's own checks). It is wrapped by
	// *InvalidPodError.
	ErrInvalidPod = errors.New("invalid pod")
	// ErrAlreadyRunning: Run was called while another Run is active.
	ErrAlreadyRunning = errors.New("syncer is already running")
	// ErrUnknownPod: the UID names no pod the Syncer knows.
	ErrUnknownPod = errors.New("unknown pod")
)

// InvalidPodError reports why a pod was refused. It wraps ErrInvalidPod.
type InvalidPodError struct {
	UID       types.UID
	Namespace string
	Name      string
	Errs      field.ErrorList
}

// Error names the pod and every invalid field.
func (e *InvalidPodError) Error() string {
	return fmt.Sprintf("invalid pod %s/%s (uid %q): %v", e.Namespace, e.Name, e.UID, e.Errs.ToAggregate())
}

// Unwrap returns ErrInvalidPod.
func (e *InvalidPodError) Unwrap() error { return ErrInvalidPod }
