package kubelet

// ProbeType names one of a container's probes.
type ProbeType string

// The probe types.
const (
	LivenessProbe  ProbeType = "Liveness"
	ReadinessProbe ProbeType = "Readiness"
	StartupProbe   ProbeType = "Startup"
)

// ProbeResult is the outcome of a probe.
type ProbeResult int

// The probe results.
const (
	ProbeUnknown ProbeResult = iota
	ProbeSuccess
	ProbeFailure
)

// ProbeResults gives the engine the latest probe outcomes, per container
// instance (runtime container ID) and probe type. A prober implements it and
// calls Syncer.Trigger for the pod when a result changes, so that the status
// and the restart decisions follow at once.
//
// Without ProbeResults (Options.Probes nil) the engine treats every probe as
// passing: a running container is started and ready, and liveness never
// fails. With ProbeResults, the kubelet's rules apply: a container with a
// startup probe is not started until it succeeds; a container with a
// readiness probe is not ready until it succeeds; a liveness or startup
// failure restarts the container.
//
// Implementations must be safe for concurrent use.
type ProbeResults interface {
	// ProbeResult returns the latest result of the probe of type t for the
	// container instance containerID, and whether there is one.
	ProbeResult(containerID string, t ProbeType) (ProbeResult, bool)
}
