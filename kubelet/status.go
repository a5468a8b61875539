package kubelet

import (
	"sort"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// getPhase is the kubelet's getPhase: the pod phase from its container
// statuses (init and regular), the restart policy and whether the pod is
// terminal (its containers will not be restarted any more).
func getPhase(pod *v1.Pod, info []v1.ContainerStatus, podIsTerminal bool) v1.PodPhase {
	spec := &pod.Spec
	pendingInitialization := 0
	failedInitialization := 0
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		if isRestartableInit(c) {
			continue
		}
		s, ok := findStatus(info, c.Name)
		if !ok {
			pendingInitialization++
			continue
		}
		switch {
		case s.State.Running != nil:
			pendingInitialization++
		case s.State.Terminated != nil:
			if s.State.Terminated.ExitCode != 0 {
				failedInitialization++
			}
		case s.State.Waiting != nil:
			if s.LastTerminationState.Terminated != nil {
				if s.LastTerminationState.Terminated.ExitCode != 0 {
					failedInitialization++
				}
			} else {
				pendingInitialization++
			}
		default:
			pendingInitialization++
		}
	}

	unknown, running, waiting, stopped, succeeded := 0, 0, 0, 0, 0
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		if !isRestartableInit(c) {
			continue
		}
		s, ok := findStatus(info, c.Name)
		if !ok {
			unknown++
			continue
		}
		switch {
		case s.State.Running != nil:
			if s.Started == nil || !*s.Started {
				pendingInitialization++
			}
			running++
		case s.State.Terminated != nil:
		case s.State.Waiting != nil:
			if s.LastTerminationState.Terminated == nil {
				pendingInitialization++
				waiting++
			}
		default:
			pendingInitialization++
			unknown++
		}
	}
	for i := range spec.Containers {
		s, ok := findStatus(info, spec.Containers[i].Name)
		if !ok {
			unknown++
			continue
		}
		switch {
		case s.State.Running != nil:
			running++
		case s.State.Terminated != nil:
			stopped++
			if s.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case s.State.Waiting != nil:
			if s.LastTerminationState.Terminated != nil {
				stopped++
			} else {
				waiting++
			}
		default:
			unknown++
		}
	}

	policy := restartPolicy(pod)
	if failedInitialization > 0 && policy == v1.RestartPolicyNever {
		return v1.PodFailed
	}
	switch {
	case pendingInitialization > 0 && !hasAnyRegularContainerStarted(spec, info):
		fallthrough
	case waiting > 0:
		return v1.PodPending
	case running > 0 && unknown == 0:
		return v1.PodRunning
	case running == 0 && stopped > 0 && unknown == 0:
		if podIsTerminal {
			if stopped == succeeded {
				return v1.PodSucceeded
			}
			return v1.PodFailed
		}
		if policy == v1.RestartPolicyAlways {
			return v1.PodRunning
		}
		if stopped == succeeded {
			return v1.PodSucceeded
		}
		if policy == v1.RestartPolicyNever {
			return v1.PodFailed
		}
		return v1.PodRunning
	default:
		return v1.PodPending
	}
}

// startFailure is a reason-cache entry: why the last start of a container
// failed, shown as its Waiting reason while it should be restarted.
type startFailure struct {
	reason  string
	message string
}

// statusInput is everything generateStatus reads.
type statusInput struct {
	pod           *v1.Pod
	rt            *podRuntime
	old           *v1.PodStatus // the last status generated, or nil
	reasons       map[string]startFailure
	probes        ProbeResults
	podIsTerminal bool
	evictReason   string
	evictMessage  string
	runtimeName   string
	hostIPs       []string
	now           metav1.Time
}

// generateStatus is the kubelet's generateAPIPodStatus followed by the
// status manager's bookkeeping (start time, condition transition times).
func generateStatus(in *statusInput) *v1.PodStatus {
	pod := in.pod
	old := in.old
	if old == nil {
		old = &pod.Status
	}
	s := &v1.PodStatus{}
	if !pod.Spec.HostNetwork {
		for _, ip := range in.rt.podIPs() {
			s.PodIPs = append(s.PodIPs, v1.PodIP{IP: ip})
		}
	}
	if len(in.hostIPs) > 0 {
		s.HostIP = in.hostIPs[0]
		for _, ip := range in.hostIPs {
			s.HostIPs = append(s.HostIPs, v1.HostIP{IP: ip})
		}
		if pod.Spec.HostNetwork {
			s.PodIPs = s.PodIPs[:0]
			for _, ip := range in.hostIPs {
				s.PodIPs = append(s.PodIPs, v1.PodIP{IP: ip})
			}
		}
	}
	if len(s.PodIPs) > 0 {
		s.PodIP = s.PodIPs[0].IP
	}
	s.QOSClass = QOSClass(pod)
	hasInit := len(pod.Spec.InitContainers) > 0
	s.ContainerStatuses = convertContainerStatuses(in, old.ContainerStatuses, pod.Spec.Containers, hasInit, false)
	s.InitContainerStatuses = convertContainerStatuses(in, old.InitContainerStatuses, pod.Spec.InitContainers, hasInit, true)
	applyProbeResults(pod, s, in.probes)

	all := make([]v1.ContainerStatus, 0, len(s.ContainerStatuses)+len(s.InitContainerStatuses))
	all = append(append(all, s.ContainerStatuses...), s.InitContainerStatuses...)
	s.Phase = getPhase(pod, all, in.podIsTerminal)
	if s.Phase != v1.PodFailed && s.Phase != v1.PodSucceeded {
		switch {
		case old.Phase == v1.PodFailed || old.Phase == v1.PodSucceeded:
			s.Phase = old.Phase
		case pod.Status.Phase == v1.PodFailed || pod.Status.Phase == v1.PodSucceeded:
			s.Phase = pod.Status.Phase
		}
	}
	if s.Phase == old.Phase {
		s.Reason, s.Message = old.Reason, old.Message
		if s.Reason == "" {
			s.Reason = pod.Status.Reason
		}
		if s.Message == "" {
			s.Message = pod.Status.Message
		}
	}
	if in.evictReason != "" {
		s.Phase = v1.PodFailed
		s.Reason, s.Message = in.evictReason, in.evictMessage
	}
	if pod.Status.Phase == v1.PodFailed || pod.Status.Phase == v1.PodSucceeded {
		s.Phase = pod.Status.Phase
	}

	s.Conditions = make([]v1.PodCondition, 0, len(pod.Status.Conditions)+5)
	for _, c := range pod.Status.Conditions {
		if !kubeletOwnedCondition(c.Type) {
			s.Conditions = append(s.Conditions, c)
		}
	}
	allInitFirst := make([]v1.ContainerStatus, 0, len(all))
	allInitFirst = append(append(allInitFirst, s.InitContainerStatuses...), s.ContainerStatuses...)
	s.Conditions = append(s.Conditions, podReadyToStartContainersCondition(pod, in.rt))
	s.Conditions = append(s.Conditions, podInitializedCondition(&pod.Spec, allInitFirst, s.Phase))
	s.Conditions = append(s.Conditions, podReadyCondition(&pod.Spec, s.Conditions, allInitFirst, s.Phase))
	s.Conditions = append(s.Conditions, containersReadyCondition(&pod.Spec, allInitFirst, s.Phase))
	s.Conditions = append(s.Conditions, v1.PodCondition{Type: v1.PodScheduled, Status: v1.ConditionTrue})
	for i := range s.Conditions {
		c := &s.Conditions[i]
		if !kubeletOwnedCondition(c.Type) {
			continue
		}
		c.LastTransitionTime = in.now
		for _, oc := range old.Conditions {
			if oc.Type == c.Type && oc.Status == c.Status {
				c.LastTransitionTime = oc.LastTransitionTime
			}
		}
		if pod.Generation != 0 {
			c.ObservedGeneration = pod.Generation
		}
	}
	if pod.Generation != 0 {
		s.ObservedGeneration = pod.Generation
	}
	switch {
	case old.StartTime != nil && !old.StartTime.IsZero():
		s.StartTime = old.StartTime.DeepCopy()
	case pod.Status.StartTime != nil && !pod.Status.StartTime.IsZero():
		s.StartTime = pod.Status.StartTime.DeepCopy()
	default:
		t := in.now
		s.StartTime = &t
	}
	return s
}

// convertContainerStatuses is the kubelet's convertToAPIContainerStatuses.
func convertContainerStatuses(in *statusInput, previous []v1.ContainerStatus, containers []v1.Container, hasInit, isInit bool) []v1.ContainerStatus {
	if len(containers) == 0 {
		return nil
	}
	pod := in.pod
	convert := func(cs *containerRecord, old *v1.ContainerStatus) *v1.ContainerStatus {
		cid := in.runtimeName + "://" + cs.ID
		st := &v1.ContainerStatus{
			Name:         cs.Name,
			RestartCount: int32(cs.restartCount),
			Image:        cs.Image,
			ImageID:      cs.ImageRef,
			ContainerID:  cid,
		}
		switch {
		case cs.State == ContainerRunning:
			st.State.Running = &v1.ContainerStateRunning{StartedAt: metav1.NewTime(cs.StartedAt)}
		case cs.State == ContainerCreated:
			st.State.Waiting = &v1.ContainerStateWaiting{}
		case cs.State == ContainerExited:
			reason := cs.Reason
			if reason == "" {
				reason = ReasonError
				if cs.ExitCode == 0 {
					reason = ReasonCompleted
				}
			}
			st.State.Terminated = &v1.ContainerStateTerminated{
				ExitCode:    cs.ExitCode,
				Reason:      reason,
				Message:     cs.Message,
				StartedAt:   metav1.NewTime(cs.StartedAt),
				FinishedAt:  metav1.NewTime(cs.FinishedAt),
				ContainerID: cid,
			}
		case cs.State == ContainerUnknown && old != nil && old.State.Running != nil:
			st.State.Terminated = &v1.ContainerStateTerminated{
				Reason:   ReasonContainerStatusUnknown,
				Message:  "The container could not be located when the pod was terminated",
				ExitCode: 137,
			}
			st.RestartCount = old.RestartCount + 1
		default:
			st.State.Waiting = &v1.ContainerStateWaiting{}
		}
		return st
	}

	oldStatuses := make(map[string]v1.ContainerStatus, len(previous))
	for _, s := range previous {
		oldStatuses[s.Name] = s
	}
	defaultWaiting := v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: ReasonContainerCreating}}
	if hasInit {
		defaultWaiting = v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: ReasonPodInitializing}}
	}
	statuses := make(map[string]*v1.ContainerStatus, len(containers))
	for i := range containers {
		c := &containers[i]
		st := &v1.ContainerStatus{Name: c.Name, Image: c.Image, State: defaultWaiting}
		if old, ok := oldStatuses[c.Name]; ok {
			if old.State.Terminated != nil {
				cp := old
				st = &cp
			} else {
				st.RestartCount = old.RestartCount
				st.LastTerminationState = old.LastTerminationState
			}
		}
		statuses[c.Name] = st
	}

	for i := range containers {
		c := &containers[i]
		if in.rt.findContainer(c.Name) != nil {
			continue
		}
		old, ok := oldStatuses[c.Name]
		if !ok || old.State.Terminated != nil || old.State.Running == nil {
			continue
		}
		st := statuses[c.Name]
		isDefault := st.State.Waiting != nil && st.State.Waiting.Reason == defaultWaiting.Waiting.Reason
		if !isDefault || st.LastTerminationState.Terminated != nil {
			continue
		}
		st.LastTerminationState.Terminated = &v1.ContainerStateTerminated{
			Reason:   ReasonContainerStatusUnknown,
			Message:  "The container could not be located when the pod was deleted.  The container used to be Running",
			ExitCode: 137,
		}
		if pod.DeletionTimestamp == nil {
			st.RestartCount++
		}
	}

	seen := make(map[string]int, len(containers))
	for _, cs := range in.rt.containers {
		if _, ok := statuses[cs.Name]; !ok || seen[cs.Name] >= 2 {
			continue
		}
		var oldPtr *v1.ContainerStatus
		if old, ok := oldStatuses[cs.Name]; ok {
			oldPtr = &old
		}
		st := convert(cs, oldPtr)
		if seen[cs.Name] == 0 {
			statuses[cs.Name] = st
		} else {
			statuses[cs.Name].LastTerminationState = st.State
		}
		seen[cs.Name]++
	}

	for i := range containers {
		c := &containers[i]
		if isInit {
			if s := in.rt.findContainer(c.Name); s != nil && s.State == ContainerExited && s.ExitCode == 0 {
				continue
			}
		}
		if !shouldContainerBeRestarted(c, pod, in.rt) {
			continue
		}
		st := statuses[c.Name]
		r, ok := in.reasons[c.Name]
		if !ok {
			continue
		}
		if st.State.Terminated != nil {
			st.LastTerminationState = st.State
		}
		st.State = v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: r.reason, Message: r.message}}
	}

	out := make([]v1.ContainerStatus, 0, len(containers))
	if isInit {
		for i := range containers {
			out = append(out, *statuses[containers[i].Name])
		}
		return out
	}
	for _, st := range statuses {
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// applyProbeResults is the prober manager's UpdatePodStatus: it sets
// started and ready on every container status.
func applyProbeResults(pod *v1.Pod, s *v1.PodStatus, probes ProbeResults) {
	started := func(spec *v1.Container, st *v1.ContainerStatus) bool {
		if st.State.Running == nil {
			return false
		}
		if spec == nil || spec.StartupProbe == nil || probes == nil {
			return true
		}
		res, ok := probes.ProbeResult(containerIDOf(st.ContainerID), StartupProbe)
		return ok && res == ProbeSuccess
	}
	ready := func(spec *v1.Container, st *v1.ContainerStatus) bool {
		if st.State.Running == nil {
			return false
		}
		if spec == nil || spec.ReadinessProbe == nil || probes == nil {
			return true
		}
		res, ok := probes.ProbeResult(containerIDOf(st.ContainerID), ReadinessProbe)
		return ok && res == ProbeSuccess
	}
	for i := range s.ContainerStatuses {
		st := &s.ContainerStatuses[i]
		spec := containerSpec(pod.Spec.Containers, st.Name)
		b := started(spec, st)
		st.Started = &b
		if b {
			st.Ready = ready(spec, st)
		}
	}
	for i := range s.InitContainerStatuses {
		st := &s.InitContainerStatuses[i]
		spec := containerSpec(pod.Spec.InitContainers, st.Name)
		b := started(spec, st)
		st.Started = &b
		if spec == nil || !isRestartableInit(spec) {
			st.Ready = st.State.Terminated != nil && st.State.Terminated.ExitCode == 0
			continue
		}
		if b {
			st.Ready = ready(spec, st)
		}
	}
}

func containerSpec(cs []v1.Container, name string) *v1.Container {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

// containerIDOf strips the "<runtime>://" scheme of a status container ID.
func containerIDOf(s string) string {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == ':' && s[i+1] == '/' && s[i+2] == '/' {
			return s[i+3:]
		}
	}
	return s
}
