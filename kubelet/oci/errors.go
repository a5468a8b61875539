package oci

import (
	"errors"
	"fmt"

	v1 "k8s.io/api/core/v1"
)

// Sentinel errors. Errors returned by this package wrap one of them (or an
// error from the caller's interfaces) and can be classified with errors.Is.
var (
	// ErrInvalidSpec reports a pod or container field this package cannot
	// turn into a runtime spec: a bad quantity, an unknown capability, an
	// unsupported field path, a volume mount naming no volume, and so on.
	ErrInvalidSpec = errors.New("invalid pod spec")
	// ErrRunAsNonRoot reports a container with runAsNonRoot that would run
	// as root, or as a user that cannot be proven non-root. The kubelet
	// reports it as CreateContainerConfigError.
	ErrRunAsNonRoot = errors.New("runAsNonRoot violated")
	// ErrNoCommand reports a container with neither command/args nor an
	// image entrypoint/cmd.
	ErrNoCommand = errors.New("no command specified")
	// ErrUserNotFound reports a user or group name that the image's
	// /etc/passwd or /etc/group does not define.
	ErrUserNotFound = errors.New("user not found in image")
	// ErrSubPathEscape reports a subPath that is absolute, contains "..",
	// or resolves through symbolic links to a place outside its volume.
	ErrSubPathEscape = errors.New("subPath escapes its volume")
	// ErrHostPathType reports a hostPath volume whose path does not have
	// the type the volume requires.
	ErrHostPathType = errors.New("hostPath type check failed")
	// ErrObjectNotFound reports a ConfigMap or Secret (or a key of one) that
	// the ObjectSource does not have. Sources wrap it so that optional
	// references can be skipped as the kubelet skips them.
	ErrObjectNotFound = errors.New("object not found")
	// ErrMissingOption reports an Options field that the pod needs but the
	// caller left empty (a container ID, a volume layout, an object source).
	ErrMissingOption = errors.New("missing option")
)

// ContainerError is the error GenerateSpec returns: it names the pod and the
// container, and the field that could not be turned into a spec. It is a
// plain value, safe to share between goroutines once returned.
type ContainerError struct {
	// Pod is the pod in the kubelet's format "name_namespace(uid)".
	Pod string
	// Container is the container's name.
	Container string
	// Err is the underlying error, naming the field.
	Err error
}

// Error formats the error with the pod and the container.
func (e *ContainerError) Error() string {
	return fmt.Sprintf("pod %q, container %q: %v", e.Pod, e.Container, e.Err)
}

// Unwrap returns the underlying error.
func (e *ContainerError) Unwrap() error { return e.Err }

// formatPod formats a pod as the kubelet's format.Pod: name_namespace(uid).
func formatPod(pod *v1.Pod) string {
	if pod == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}

// invalid returns an ErrInvalidSpec error naming field.
func invalid(field string, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), ErrInvalidSpec)
}
