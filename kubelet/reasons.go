package kubelet

// Waiting reasons of container statuses, spelled as the kubelet spells them.
const (
	ReasonContainerCreating          = "ContainerCreating"
	ReasonPodInitializing            = "PodInitializing"
	ReasonCrashLoopBackOff           = "CrashLoopBackOff"
	ReasonErrImagePull               = "ErrImagePull"
	ReasonImagePullBackOff           = "ImagePullBackOff"
	ReasonErrImageNeverPull          = "ErrImageNeverPull"
	ReasonInvalidImageName           = "InvalidImageName"
	ReasonCreateContainerConfigError = "CreateContainerConfigError"
	ReasonCreateContainerError       = "CreateContainerError"
	ReasonRunContainerError          = "RunContainerError"
	ReasonPostStartHookError         = "PostStartHookError"
)

// Terminated reasons of container statuses.
const (
	ReasonCompleted = "Completed"
	ReasonError     = "Error"
	ReasonOOMKilled = "OOMKilled"
	// ReasonContainerStatusUnknown is used when a container that was
	// running vanished from the runtime.
	ReasonContainerStatusUnknown = "ContainerStatusUnknown"
)

// Pod condition reasons, as in pkg/kubelet/status.
const (
	ReasonUnknownContainerStatuses = "UnknownContainerStatuses"
	ReasonPodCompleted             = "PodCompleted"
	ReasonPodFailed                = "PodFailed"
	ReasonContainersNotReady       = "ContainersNotReady"
	ReasonContainersNotInitialized = "ContainersNotInitialized"
	ReasonReadinessGatesNotReady   = "ReadinessGatesNotReady"
)

// Pod status reasons set by the engine.
const (
	// ReasonDeadlineExceeded: the pod ran longer than activeDeadlineSeconds.
	ReasonDeadlineExceeded = "DeadlineExceeded"
	// ReasonInvalidPod: the pod failed validation and was never started.
	ReasonInvalidPod = "InvalidPod"
)

// Labels and annotations the engine puts on sandboxes and containers. The
// keys are the kubelet's, so tools that know CRI containers recognise them.
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
	// LabelManagedBy marks objects created by a nodekit Syncer.
	LabelManagedBy = "io.nodekit.managed-by"

	AnnotationContainerHash           = "io.kubernetes.container.hash"
	AnnotationContainerRestartCount   = "io.kubernetes.container.restartCount"
	AnnotationPodTerminationGrace     = "io.kubernetes.pod.terminationGracePeriod"
	AnnotationContainerInit           = "io.nodekit.container.init"
	AnnotationContainerTerminationMsg = "io.kubernetes.container.terminationMessagePath"
)
