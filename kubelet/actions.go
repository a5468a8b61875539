package kubelet

import (
	"fmt"
	"slices"

	v1 "k8s.io/api/core/v1"
)

// killReason says why a container is killed; it selects the grace period.
type killReason int

const (
	killReasonUnknown killReason = iota
	killReasonLivenessProbe
	killReasonStartupProbe
	killReasonFailedPostStartHook
)

type containerToKill struct {
	rec     *containerRecord
	spec    *v1.Container
	message string
	reason  killReason
}

// podActions is what one sync must do, as the kubelet's podActions.
type podActions struct {
	killPod               bool
	createSandbox         bool
	sandboxID             string
	attempt               uint32
	initContainersToStart []int
	containersToStart     []int
	containersToKill      []containerToKill
}

func (a *podActions) nothingToDo() bool {
	return !a.killPod && !a.createSandbox && len(a.initContainersToStart) == 0 &&
		len(a.containersToStart) == 0 && len(a.containersToKill) == 0
}

// podHashes are the definition hashes of a pod's containers, computed once
// per spec.
type podHashes struct {
	init    []uint64
	regular []uint64
}

func hashPod(pod *v1.Pod) podHashes {
	h := podHashes{init: make([]uint64, len(pod.Spec.InitContainers)), regular: make([]uint64, len(pod.Spec.Containers))}
	for i := range pod.Spec.InitContainers {
		h.init[i] = HashContainer(&pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		h.regular[i] = HashContainer(&pod.Spec.Containers[i])
	}
	return h
}

func isRestartableInit(c *v1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways
}

func hasRestartableInit(pod *v1.Pod) bool {
	for i := range pod.Spec.InitContainers {
		if isRestartableInit(&pod.Spec.InitContainers[i]) {
			return true
		}
	}
	return false
}

func restartPolicy(pod *v1.Pod) v1.RestartPolicy {
	if pod.Spec.RestartPolicy == "" {
		return v1.RestartPolicyAlways
	}
	return pod.Spec.RestartPolicy
}

func shouldRestartOnFailure(pod *v1.Pod) bool {
	return restartPolicy(pod) != v1.RestartPolicyNever
}

func containerSucceeded(c *v1.Container, rt *podRuntime) bool {
	s := rt.findContainer(c.Name)
	return s != nil && s.State == ContainerExited && s.ExitCode == 0
}

func isInitContainerFailed(s *containerRecord) bool {
	if s.Reason == ReasonOOMKilled {
		return true
	}
	if s.State == ContainerExited && s.ExitCode != 0 {
		return true
	}
	return s.State == ContainerUnknown
}

// shouldContainerBeRestarted is the kubelet's ShouldContainerBeRestarted.
func shouldContainerBeRestarted(c *v1.Container, pod *v1.Pod, rt *podRuntime) bool {
	if pod.DeletionTimestamp != nil {
		return false
	}
	s := rt.findContainer(c.Name)
	if s == nil {
		return true
	}
	switch s.State {
	case ContainerRunning:
		return false
	case ContainerUnknown, ContainerCreated:
		return true
	}
	switch restartPolicy(pod) {
	case v1.RestartPolicyNever:
		return false
	case v1.RestartPolicyOnFailure:
		return s.ExitCode != 0
	}
	return true
}

// podSandboxChanged is the kubelet's PodSandboxChanged: whether a new
// sandbox is needed, its attempt number and the sandbox to kill (if any).
func podSandboxChanged(pod *v1.Pod, rt *podRuntime) (bool, uint32, string) {
	if rt == nil || len(rt.sandboxes) == 0 {
		return true, 0, ""
	}
	ready := 0
	for _, s := range rt.sandboxes {
		if s.State == SandboxReady {
			ready++
		}
	}
	s := rt.sandboxes[0]
	if ready > 1 {
		return true, s.Attempt + 1, s.ID
	}
	if s.State != SandboxReady {
		return true, s.Attempt + 1, s.ID
	}
	if s.HostNetwork != pod.Spec.HostNetwork {
		return true, s.Attempt + 1, ""
	}
	if !pod.Spec.HostNetwork && len(s.IPs) == 0 && !s.NetworkPending {
		return true, s.Attempt + 1, s.ID
	}
	return false, s.Attempt, s.ID
}

func hasAnyRegularContainerCreated(pod *v1.Pod, rt *podRuntime) bool {
	for i := range pod.Spec.Containers {
		s := rt.findContainer(pod.Spec.Containers[i].Name)
		if s == nil {
			continue
		}
		switch s.State {
		case ContainerCreated, ContainerRunning, ContainerExited:
			return true
		}
	}
	return false
}

// probeState answers probe questions for computePodActions.
type probeState struct {
	results ProbeResults
}

func (p probeState) get(id string, t ProbeType) (ProbeResult, bool) {
	if p.results == nil {
		return ProbeSuccess, true
	}
	return p.results.ProbeResult(id, t)
}

// computePodActions is the kubelet's computePodActions (SidecarContainers
// semantics; ephemeral containers and in-place resize are not handled).
func computePodActions(pod *v1.Pod, rt *podRuntime, hashes podHashes, probes probeState) podActions {
	createSandbox, attempt, sandboxID := podSandboxChanged(pod, rt)
	changes := podActions{
		killPod:       createSandbox,
		createSandbox: createSandbox,
		sandboxID:     sandboxID,
		attempt:       attempt,
	}
	if createSandbox {
		if !shouldRestartOnFailure(pod) && attempt != 0 && len(rt.containers) != 0 {
			changes.createSandbox = false
			return changes
		}
		var toStart []int
		for i := range pod.Spec.Containers {
			c := &pod.Spec.Containers[i]
			if restartPolicy(pod) == v1.RestartPolicyOnFailure && containerSucceeded(c, rt) {
				continue
			}
			toStart = append(toStart, i)
		}
		if len(toStart) == 0 && hasAnyRegularContainerCreated(pod, rt) {
			changes.createSandbox = false
			return changes
		}
		if len(pod.Spec.InitContainers) != 0 {
			changes.initContainersToStart = []int{0}
			return changes
		}
		changes.containersToStart = toStart
		return changes
	}

	hasInitialized := computeInitContainerActions(pod, rt, hashes, probes, &changes)
	if changes.killPod || !hasInitialized {
		return changes
	}

	keepCount := 0
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		s := rt.findContainer(c.Name)
		if s == nil || s.State != ContainerRunning {
			if shouldContainerBeRestarted(c, pod, rt) {
				changes.containersToStart = append(changes.containersToStart, i)
				if s != nil && s.State == ContainerUnknown {
					changes.containersToKill = append(changes.containersToKill, containerToKill{
						rec: s, spec: c, reason: killReasonUnknown,
						message: fmt.Sprintf("Container is in %q state, try killing it before restart", s.State),
					})
				}
			}
			continue
		}
		var message string
		var reason killReason
		restart := shouldRestartOnFailure(pod)
		if s.hash != hashes.regular[i] {
			message = fmt.Sprintf("Container %s definition changed", c.Name)
			restart = true
		} else if res, ok := probes.get(s.ID, LivenessProbe); c.LivenessProbe != nil && ok && res == ProbeFailure {
			message = fmt.Sprintf("Container %s failed liveness probe", c.Name)
			reason = killReasonLivenessProbe
		} else if res, ok := probes.get(s.ID, StartupProbe); c.StartupProbe != nil && ok && res == ProbeFailure {
			message = fmt.Sprintf("Container %s failed startup probe", c.Name)
			reason = killReasonStartupProbe
		} else {
			keepCount++
			continue
		}
		if restart {
			message += ", will be restarted"
			changes.containersToStart = append(changes.containersToStart, i)
		}
		changes.containersToKill = append(changes.containersToKill, containerToKill{rec: s, spec: c, message: message, reason: reason})
	}
	if keepCount == 0 && len(changes.containersToStart) == 0 {
		changes.killPod = true
		changes.initContainersToStart = nil
	}
	return changes
}

// computeInitContainerActions is the kubelet's function of the same name:
// it starts the first init container not yet run, keeps restartable init
// containers (sidecars) running, and reports whether the pod is initialized.
func computeInitContainerActions(pod *v1.Pod, rt *podRuntime, hashes podHashes, probes probeState, changes *podActions) bool {
	inits := pod.Spec.InitContainers
	if len(inits) == 0 {
		return true
	}
	podHasInitialized := false
	for i := range pod.Spec.Containers {
		s := rt.findContainer(pod.Spec.Containers[i].Name)
		if s != nil && (s.State == ContainerCreated || s.State == ContainerRunning) {
			podHasInitialized = true
			break
		}
	}
	isPreviouslyInitialized := podHasInitialized
	restartOnFailure := shouldRestartOnFailure(pod)

	for i := len(inits) - 1; i >= 0; i-- {
		c := &inits[i]
		s := rt.findContainer(c.Name)
		restartable := isRestartableInit(c)
		if s == nil {
			if isPreviouslyInitialized && restartable {
				changes.initContainersToStart = append(changes.initContainersToStart, i)
			}
			continue
		}
		if isPreviouslyInitialized && !restartable {
			continue
		}
		switch s.State {
		case ContainerCreated:
			changes.initContainersToStart = append(changes.initContainersToStart, i)
		case ContainerRunning:
			if !restartable {
				break
			}
			if c.StartupProbe != nil {
				res, ok := probes.get(s.ID, StartupProbe)
				if !ok {
					break
				}
				if res != ProbeSuccess {
					if res == ProbeFailure {
						changes.containersToKill = append(changes.containersToKill, containerToKill{
							rec: s, spec: c, reason: killReasonStartupProbe,
							message: fmt.Sprintf("Init container %s failed startup probe", c.Name),
						})
						changes.initContainersToStart = append(changes.initContainersToStart, i)
					}
					break
				}
			}
			if i == len(inits)-1 {
				podHasInitialized = true
			} else if !isPreviouslyInitialized {
				changes.initContainersToStart = append(changes.initContainersToStart, i+1)
			}
			if s.hash != hashes.init[i] {
				changes.containersToKill = append(changes.containersToKill, containerToKill{
					rec: s, spec: c, message: fmt.Sprintf("Init container %s definition changed", c.Name),
				})
				changes.initContainersToStart = append(changes.initContainersToStart, i)
				break
			}
			if c.LivenessProbe != nil {
				res, ok := probes.get(s.ID, LivenessProbe)
				if !ok {
					break
				}
				if res == ProbeFailure {
					changes.containersToKill = append(changes.containersToKill, containerToKill{
						rec: s, spec: c, reason: killReasonLivenessProbe,
						message: fmt.Sprintf("Init container %s failed liveness probe", c.Name),
					})
					changes.initContainersToStart = append(changes.initContainersToStart, i)
					break
				}
			}
		case ContainerExited:
			if restartable {
				changes.initContainersToStart = append(changes.initContainersToStart, i)
				break
			}
			if isInitContainerFailed(s) {
				if !restartOnFailure {
					changes.killPod = true
					changes.initContainersToStart = nil
					return false
				}
				changes.initContainersToStart = append(changes.initContainersToStart, i)
				break
			}
			if i == len(inits)-1 {
				podHasInitialized = true
			} else {
				changes.initContainersToStart = append(changes.initContainersToStart, i+1)
			}
		default:
			if restartable {
				changes.containersToKill = append(changes.containersToKill, containerToKill{
					rec: s, spec: c, message: fmt.Sprintf("Init container is in %q state, try killing it before restart", s.State),
				})
				changes.initContainersToStart = append(changes.initContainersToStart, i)
				break
			}
			if !restartOnFailure {
				changes.killPod = true
				changes.initContainersToStart = nil
				return false
			}
			changes.containersToKill = append(changes.containersToKill, containerToKill{
				rec: s, spec: c, message: fmt.Sprintf("Init container is in %q state, try killing it before restart", s.State),
			})
			changes.initContainersToStart = append(changes.initContainersToStart, i)
		}
		if !isPreviouslyInitialized {
			isPreviouslyInitialized = true
		}
	}
	if !isPreviouslyInitialized {
		changes.initContainersToStart = append(changes.initContainersToStart, 0)
	}
	slices.Reverse(changes.initContainersToStart)
	return podHasInitialized
}
