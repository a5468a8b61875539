package kubelet

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/types"

	v1 "k8s.io/api/core/v1"
)

// Runtime is the container runtime the Syncer drives. It is shaped after the
// CRI RuntimeService, reduced to what the sync engine needs: pod sandboxes,
// containers, listing and exec. Every method takes ctx first and must return
// when ctx is done; the Syncer bounds each call with Options.RuntimeRequestTimeout.
//
// Errors: an unknown sandbox or container is reported with an error wrapping
// ErrNotFound. CreateContainer reports image problems by wrapping ErrImagePull
// (or ErrImageNeverPull, ErrInvalidImageName) and a container configuration the
// runtime refuses (for example runAsNonRoot with a root image) by wrapping
// ErrCreateContainerConfig, so that the engine can report the kubelet's Waiting
// reasons.
//
// Values returned by a Runtime are owned by the caller but must be treated as
// read-only: in particular the Labels and Annotations maps may be shared with
// the runtime's own records. Implementations must be safe for concurrent use.
type Runtime interface {
	// Name is the runtime type, used as the scheme of container IDs in the
	// pod status ("<name>://<id>").
	Name() string

	// RunPodSandbox creates and starts a pod sandbox (network namespace, IPs)
	// and returns its ID. The sandbox is Ready when it returns without error.
	// A runtime may finish the pod network afterwards (its status then has
	// no IPs yet), provided that CreateContainer still generates specs with
	// the right IPs and StartContainer starts no process before the
	// network is there; the engine takes the IPs of a later status.
	RunPodSandbox(ctx context.Context, config *SandboxConfig) (string, error)
	// StopPodSandbox stops every container of the sandbox (forcibly) and
	// tears down its network. The sandbox becomes NotReady. Stopping a
	// stopped sandbox is not an error; an unknown one wraps ErrNotFound.
	StopPodSandbox(ctx context.Context, sandboxID string) error
	// RemovePodSandbox removes the sandbox and all of its containers,
	// forcibly. Removing an unknown sandbox is not an error.
	RemovePodSandbox(ctx context.Context, sandboxID string) error
	// PodSandboxStatus reports one sandbox.
	PodSandboxStatus(ctx context.Context, sandboxID string) (*SandboxStatus, error)
	// ListPodSandboxes lists sandboxes matching the filter.
	ListPodSandboxes(ctx context.Context, filter SandboxFilter) ([]*SandboxStatus, error)

	// CreateContainer creates a container inside a Ready sandbox, in the
	// Created state, and returns its ID.
	CreateContainer(ctx context.Context, sandboxID string, config *ContainerConfig) (string, error)
	// StartContainer starts a Created container.
	StartContainer(ctx context.Context, containerID string) error
	// StopContainer sends SIGTERM (or the image's stop signal), waits up to
	// gracePeriod for the container to exit, then sends SIGKILL. It returns
	// once the container has exited. Stopping an exited container is not an
	// error.
	StopContainer(ctx context.Context, containerID string, gracePeriod time.Duration) error
	// RemoveContainer removes a container, forcibly if it is running.
	// Removing an unknown container is not an error.
	RemoveContainer(ctx context.Context, containerID string) error
	// ContainerStatus reports one container.
	ContainerStatus(ctx context.Context, containerID string) (*ContainerStatus, error)
	// ListContainers lists containers matching the filter, with their full
	// status (state, exit code, reason and times).
	ListContainers(ctx context.Context, filter ContainerFilter) ([]*ContainerStatus, error)

	// ExecSync runs cmd inside a running container and waits for it, at
	// most timeout (zero means no limit besides ctx). A command that ran
	// and exited non-zero is not an error: its exit code is in the result.
	// A command still running after timeout is killed and the error wraps
	// ErrExecTimeout (or context.DeadlineExceeded).
	ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (ExecResult, error)
}

// EventSource is implemented by runtimes that can report container state
// changes as they happen (like the CRI's GetContainerEvents). When the Runtime
// given to New implements it, the Syncer reacts to container exits at once and
// relists only as a fallback (Options.RelistPeriod).
type EventSource interface {
	// ContainerEvents delivers events until ctx is done, then closes the
	// channel. Events may be dropped under pressure; the Syncer's relist
	// repairs anything missed.
	ContainerEvents(ctx context.Context) <-chan ContainerEvent
}

// ContainerEventType says what happened to a container.
type ContainerEventType string

// The container event types.
const (
	ContainerCreatedEvent ContainerEventType = "Created"
	ContainerStartedEvent ContainerEventType = "Started"
	ContainerStoppedEvent ContainerEventType = "Stopped"
	ContainerDeletedEvent ContainerEventType = "Deleted"
)

// ContainerEvent reports a change of one container of one pod.
type ContainerEvent struct {
	Type        ContainerEventType
	ContainerID string
	SandboxID   string
	PodUID      types.UID
}

// SandboxState is the state of a pod sandbox.
type SandboxState string

// The sandbox states.
const (
	SandboxReady    SandboxState = "Ready"
	SandboxNotReady SandboxState = "NotReady"
)

// ContainerState is the state of a container, as in the CRI.
type ContainerState string

// The container states.
const (
	ContainerCreated ContainerState = "Created"
	ContainerRunning ContainerState = "Running"
	ContainerExited  ContainerState = "Exited"
	ContainerUnknown ContainerState = "Unknown"
)

// SandboxConfig describes the pod sandbox to create.
type SandboxConfig struct {
	// PodUID, PodName and PodNamespace identify the pod.
	PodUID       types.UID
	PodName      string
	PodNamespace string
	// Attempt counts sandbox (re)creations of this pod, from 0.
	Attempt uint32
	// Hostname is the pod's hostname (spec.hostname or the pod name).
	Hostname string
	// HostNetwork, HostPID and HostIPC select the host namespaces.
	HostNetwork bool
	HostPID     bool
	HostIPC     bool
	// CgroupParent is the pod cgroup in cgroupfs form (see PodCgroupName).
	CgroupParent string
	// Labels and Annotations are stored by the runtime and returned
	// verbatim in SandboxStatus; the Syncer uses them to recognise its pods.
	Labels      map[string]string
	Annotations map[string]string
	// Pod is the whole pod, read-only, for runtimes that need more (DNS
	// config, sysctls, security context).
	Pod *v1.Pod
}

// SandboxStatus reports a pod sandbox.
type SandboxStatus struct {
	ID           string
	PodUID       types.UID
	PodName      string
	PodNamespace string
	Attempt      uint32
	State        SandboxState
	CreatedAt    time.Time
	// IPs are the pod's IPs, primary first. Empty for host-network pods and
	// for sandboxes that are not Ready.
	IPs         []string
	HostNetwork bool
	// NetworkPending is set while the runtime is still setting up the
	// sandbox's network after RunPodSandbox returned (IPs is empty until
	// then): unlike a ready sandbox that has no IP, such a sandbox is not
	// replaced.
	NetworkPending bool
	Labels         map[string]string
	Annotations    map[string]string
}

// ContainerConfig describes the container to create.
type ContainerConfig struct {
	// Name is the container's name in the pod spec.
	Name string
	// Attempt is the restart count of this container: 0 for the first
	// instance, then one more than the previous instance.
	Attempt uint32
	// PodUID is the UID of the owning pod.
	PodUID types.UID
	// Image is the image reference to run.
	Image string
	// Labels and Annotations are stored by the runtime and returned
	// verbatim in ContainerStatus. The Syncer keeps the container's
	// definition hash and restart count there, so that a new Syncer (after
	// a restart of the embedding program) adopts the container with its
	// history.
	Labels      map[string]string
	Annotations map[string]string
	// Pod and Container are the full specs, read-only.
	Pod       *v1.Pod
	Container *v1.Container
	// InitContainer is true for init containers (restartable or not).
	InitContainer bool
	// PodIPs are the IPs of the sandbox, primary first.
	PodIPs []string
}

// ContainerStatus reports a container.
type ContainerStatus struct {
	ID        string
	SandboxID string
	PodUID    types.UID
	// Name and Attempt are the metadata given at creation.
	Name    string
	Attempt uint32
	State   ContainerState
	// CreatedAt is always set; StartedAt once the container was started;
	// FinishedAt, ExitCode, Reason and Message once it has exited.
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	ExitCode   int32
	// Reason is "Completed", "Error" or "OOMKilled" (or a runtime-specific
	// start failure reason such as "StartError") for exited containers.
	Reason  string
	Message string
	// Image is the image as requested; ImageRef the resolved reference
	// (digest or ID) reported as imageID in the pod status.
	Image       string
	ImageRef    string
	Labels      map[string]string
	Annotations map[string]string
}

// SandboxFilter selects sandboxes in ListPodSandboxes. Zero fields match all.
type SandboxFilter struct {
	PodUID types.UID
	State  SandboxState
}

// ContainerFilter selects containers in ListContainers. Zero fields match all.
type ContainerFilter struct {
	PodUID    types.UID
	SandboxID string
	State     ContainerState
}

// ExecResult is the outcome of ExecSync.
type ExecResult struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}
