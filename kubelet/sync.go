package kubelet

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// syncInput is what a sync reads from podState, copied under the lock.
type syncInput struct {
	pod         *v1.Pod
	hashes      podHashes
	invalid     *InvalidPodError
	removed     bool
	override    *int64
	rt          *podRuntime
	refresh     bool
	statusDirty bool
	lastStatus  *v1.PodStatus
	// syncType is the operation type of kubelet_pod_worker_duration_seconds.
	syncType string
}

// errBackingOff marks a start skipped because of CrashLoopBackOff or
// ImagePullBackOff.
var errBackingOff = errors.New("backing off")

// syncResult is the outcome of one sync, applied under the lock.
type syncResult struct {
	wake time.Time
	err  error
	// settledPod and settledRT are set when the sync found nothing to do
	// for this spec and runtime snapshot (see enqueueAll).
	settledPod *v1.Pod
	settledRT  *podRuntime
}

// prepareSyncLocked copies what a sync reads. s.mu must be held.
func (s *Syncer) prepareSyncLocked(ps *podState, in *syncInput) (context.Context, context.CancelFunc) {
	*in = syncInput{
		pod: ps.pod, hashes: ps.hashes, invalid: ps.invalid, removed: ps.removed,
		override: ps.graceOverride, rt: ps.rt, refresh: ps.refresh,
		statusDirty: ps.statusDirty, lastStatus: ps.status,
	}
	switch {
	case !ps.synced:
		in.syncType = syncTypeCreate
	case ps.specChanged:
		in.syncType = syncTypeUpdate
	default:
		in.syncType = syncTypeSync
	}
	ps.synced, ps.specChanged = true, false
	ps.refresh = false
	ps.statusDirty = false
	// Only a terminating pod's sync can be cancelled (when its grace
	// period shrinks); others run on the shared context without the cost
	// of a cancel context per sync.
	if ps.orphan || in.removed || in.pod == nil || in.pod.DeletionTimestamp != nil || ps.w.terminating {
		ctx, cancel := context.WithCancel(s.workCtx)
		ps.cancel = cancel
		return ctx, cancel
	}
	return s.workCtx, nil
}

// runSync performs one sync of a pod (or orphan cleanup), without the lock.
func (s *Syncer) runSync(ctx context.Context, ps *podState, in *syncInput) syncResult {
	if ps.orphan {
		return syncResult{err: s.cleanupOrphan(ctx, ps)}
	}
	ps.w.settledPod, ps.w.settledRT = nil, nil
	wake, err := s.syncPod(ctx, ps, in)
	return syncResult{wake: wake, err: err, settledPod: ps.w.settledPod, settledRT: ps.w.settledRT}
}

// finishSyncLocked records the outcome of a sync. s.mu must be held.
func (s *Syncer) finishSyncLocked(ps *podState, res syncResult) {
	if ps.cancel != nil {
		ps.cancel()
		ps.cancel = nil
	}
	ps.grace = 0
	ps.settledPod, ps.settledRT = res.settledPod, res.settledRT
	if res.err != nil {
		s.log.Error("sync pod", "uid", ps.uid, "err", res.err)
		ps.w.lastErr = res.err
		ps.refresh = true
		if ps.orphan {
			return
		}
		setWakeLocked(ps, s.clock.Now().Add(s.opts.SyncErrorRetry))
		if errors.Is(res.err, context.Canceled) && s.workCtx.Err() == nil {
			// Cancelled because the grace period shrank: go again now.
			ps.dirty = true
		}
	} else {
		ps.w.lastErr = nil
	}
	setWakeLocked(ps, res.wake)
}

// syncPod is one pass of the pod worker: sync a running pod (the kubelet's
// SyncPod), or terminate it, or remove it.
func (s *Syncer) syncPod(ctx context.Context, ps *podState, in *syncInput) (time.Time, error) {
	w := &ps.w
	pod := in.pod
	now := s.clock.Now()
	if in.invalid != nil {
		s.publish(ps, invalidStatus(pod, in.invalid, in.lastStatus, now))
		if in.removed {
			s.forget(ps)
		}
		return time.Time{}, nil
	}
	rt := in.rt
	if rt == nil || in.refresh {
		var err error
		if rt, err = s.fetchPod(ctx, ps); err != nil {
			return time.Time{}, err
		}
	}
	var wake time.Time
	if !w.terminating {
		switch {
		case in.removed || pod.DeletionTimestamp != nil:
			w.terminating = true
		case in.lastStatus != nil && (in.lastStatus.Phase == v1.PodSucceeded || in.lastStatus.Phase == v1.PodFailed):
			w.terminating = true
		case pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed:
			// The API already reports the pod terminal: never (re)start it.
			w.terminating = true
		case deadlineExceeded(pod, in.lastStatus, now):
			w.terminating = true
			w.evictReason = ReasonDeadlineExceeded
			w.evictMessage = "Pod was active on the node longer than the specified deadline"
		}
	}
	if !w.terminating {
		defer s.opts.Metrics.observeSync(in.syncType, time.Now())
		actions := computePodActions(pod, rt, in.hashes, probeState{s.opts.Probes})
		acted := false
		if !actions.nothingToDo() {
			acted = true
			var err error
			wake, err = s.executeActions(ctx, ps, pod, in.hashes, rt, &actions)
			nrt, ferr := s.fetchPod(ctx, ps)
			if ferr != nil {
				return wake, errors.Join(err, ferr)
			}
			rt = nrt
			if err != nil && !errors.Is(err, errBackingOff) {
				s.publishStatus(ps, pod, rt, in, false)
				return wake, err
			}
		}
		var status *v1.PodStatus
		if acted || in.statusDirty || rt != w.statusRT || in.lastStatus == nil {
			status = s.publishStatus(ps, pod, rt, in, false)
		} else {
			status = in.lastStatus
		}
		if status.Phase != v1.PodSucceeded && status.Phase != v1.PodFailed {
			collected, err := s.collectGarbage(ctx, pod, rt, false)
			if err != nil {
				return wake, err
			}
			if !acted && !collected {
				w.settledPod, w.settledRT = pod, rt
			}
			if d := pod.Spec.ActiveDeadlineSeconds; d != nil && status.StartTime != nil {
				wake = earliest(wake, status.StartTime.Add(time.Duration(*d)*time.Second))
			}
			return wake, nil
		}
		in.lastStatus = status
		w.terminating = true
	}

	if !w.terminated {
		grace := effectiveGracePeriod(w, pod, in.override)
		s.mu.Lock()
		ps.grace = grace
		s.mu.Unlock()
		if err := s.killPod(ctx, pod, rt, &grace); err != nil {
			return time.Time{}, err
		}
		nrt, err := s.fetchPod(ctx, ps)
		if err != nil {
			return time.Time{}, err
		}
		rt = nrt
		if len(rt.runningContainers()) > 0 {
			return time.Time{}, fmt.Errorf("pod %s/%s: containers still running after termination", pod.Namespace, pod.Name)
		}
		w.terminated = true
	}
	s.publishStatus(ps, pod, rt, in, true)
	if in.removed {
		if err := s.removePodObjects(ctx, rt); err != nil {
			return time.Time{}, err
		}
		s.forget(ps)
		return time.Time{}, nil
	}
	collected, err := s.collectGarbage(ctx, pod, rt, true)
	if err == nil && !collected {
		w.settledPod, w.settledRT = pod, rt
	}
	return time.Time{}, err
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func deadlineExceeded(pod *v1.Pod, last *v1.PodStatus, now time.Time) bool {
	d := pod.Spec.ActiveDeadlineSeconds
	if d == nil || last == nil || last.StartTime == nil {
		return false
	}
	return now.Sub(last.StartTime.Time) >= time.Duration(*d)*time.Second
}

// invalidStatus is the status of a pod that failed validation.
func invalidStatus(pod *v1.Pod, err *InvalidPodError, last *v1.PodStatus, now time.Time) *v1.PodStatus {
	st := &v1.PodStatus{
		Phase:   v1.PodFailed,
		Reason:  ReasonInvalidPod,
		Message: err.Errs.ToAggregate().Error(),
		Conditions: []v1.PodCondition{
			{Type: v1.PodReady, Status: v1.ConditionFalse, Reason: ReasonPodFailed},
			{Type: v1.ContainersReady, Status: v1.ConditionFalse, Reason: ReasonPodFailed},
		},
		QOSClass: QOSClass(pod),
	}
	t := metav1.NewTime(now)
	if last != nil && last.StartTime != nil {
		t = *last.StartTime
	}
	st.StartTime = &t
	for i := range st.Conditions {
		st.Conditions[i].LastTransitionTime = t
	}
	return st
}

// publishStatus generates the pod's status and publishes it if it changed.
func (s *Syncer) publishStatus(ps *podState, pod *v1.Pod, rt *podRuntime, in *syncInput, terminal bool) *v1.PodStatus {
	w := &ps.w
	st := generateStatus(&statusInput{
		pod:           pod,
		rt:            rt,
		old:           in.lastStatus,
		reasons:       w.reasons,
		probes:        s.opts.Probes,
		podIsTerminal: terminal,
		evictReason:   w.evictReason,
		evictMessage:  w.evictMessage,
		runtimeName:   s.rt.Name(),
		hostIPs:       s.opts.HostIPs,
		now:           metav1.NewTime(s.clock.Now()),
	})
	w.statusRT = rt
	in.lastStatus = st
	s.publish(ps, st)
	return st
}

// publish stores st as the pod's status and notifies subscribers if it
// differs from the previous one.
func (s *Syncer) publish(ps *podState, st *v1.PodStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ps.status != nil && apiequality.Semantic.DeepEqual(ps.status, st) {
		return
	}
	ps.status = st
	if !ps.started && st.Phase == v1.PodRunning {
		ps.started = true
		if !ps.firstSeen.IsZero() {
			s.opts.Metrics.observePodStart(s.clock.Since(ps.firstSeen))
		}
	}
	if _, ok := s.pods[ps.uid]; !ok || ps.pod == nil {
		return
	}
	s.notifyLocked(StatusUpdate{UID: ps.uid, Namespace: ps.pod.Namespace, Name: ps.pod.Name, Status: st, Pod: ps.pod})
}

// forget drops a removed pod.
func (s *Syncer) forget(ps *podState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.pods[ps.uid]; ok && cur == ps {
		delete(s.pods, ps.uid)
		s.notifyLocked(StatusUpdate{UID: ps.uid, Namespace: ps.pod.Namespace, Name: ps.pod.Name, Status: ps.status, Deleted: true, Pod: ps.pod})
	}
}

// executeActions is the second half of the kubelet's SyncPod: kill what
// must die, create the sandbox, start init containers and containers. It
// returns when the next attempt is due if a start is backing off.
func (s *Syncer) executeActions(ctx context.Context, ps *podState, pod *v1.Pod, hashes podHashes, rt *podRuntime, a *podActions) (time.Time, error) {
	if a.killPod {
		if err := s.killPod(ctx, pod, rt, nil); err != nil {
			return time.Time{}, err
		}
		if a.createSandbox {
			for _, c := range rt.containers {
				if c.init {
					cctx, cancel := s.callCtx(ctx, 0)
					err := s.rt.RemoveContainer(cctx, c.ID)
					cancel()
					if err != nil {
						return time.Time{}, fmt.Errorf("purge init container %q of pod %s/%s: %w", c.Name, pod.Namespace, pod.Name, err)
					}
				}
			}
		}
	} else {
		for _, k := range a.containersToKill {
			if err := s.killContainer(ctx, pod, k.rec, k.spec, k.reason, nil, nil); err != nil {
				return time.Time{}, err
			}
		}
	}
	if !a.createSandbox && len(a.initContainersToStart) == 0 && len(a.containersToStart) == 0 {
		return time.Time{}, nil
	}

	sandboxID := a.sandboxID
	podIPs := rt.podIPs()
	if a.createSandbox {
		cfg := &SandboxConfig{
			PodUID:       pod.UID,
			PodName:      pod.Name,
			PodNamespace: pod.Namespace,
			Attempt:      a.attempt,
			Hostname:     podHostname(pod),
			HostNetwork:  pod.Spec.HostNetwork,
			HostPID:      pod.Spec.HostPID,
			HostIPC:      pod.Spec.HostIPC,
			CgroupParent: PodCgroupName(pod, s.opts.CgroupDriver),
			Labels:       podLabels(pod),
			Annotations:  map[string]string{AnnotationPodTerminationGrace: strconv.FormatInt(specGracePeriod(pod), 10)},
			Pod:          pod,
		}
		cctx, cancel := s.callCtx(ctx, 0)
		runStart := time.Now()
		id, err := s.rt.RunPodSandbox(cctx, cfg)
		cancel()
		s.opts.Metrics.sandboxRun(runStart, err)
		if err != nil {
			return time.Time{}, fmt.Errorf("create sandbox for pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		cctx, cancel = s.callCtx(ctx, 0)
		st, err := s.rt.PodSandboxStatus(cctx, id)
		cancel()
		if err != nil {
			return time.Time{}, fmt.Errorf("status of new sandbox of pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		sandboxID = id
		podIPs = st.IPs
	}

	var wake time.Time
	var firstErr error
	start := func(c *v1.Container, hash uint64, init bool) error {
		next, err := s.startContainer(ctx, ps, pod, rt, sandboxID, podIPs, c, hash, init)
		wake = earliest(wake, next)
		if err != nil && (firstErr == nil || errors.Is(firstErr, errBackingOff)) {
			firstErr = err
		}
		return err
	}
	for _, i := range a.initContainersToStart {
		c := &pod.Spec.InitContainers[i]
		if err := start(c, hashes.init[i], true); err != nil {
			if isRestartableInit(c) {
				continue
			}
			return wake, firstErr
		}
	}
	for _, i := range a.containersToStart {
		_ = start(&pod.Spec.Containers[i], hashes.regular[i], false)
	}
	return wake, firstErr
}

func podHostname(pod *v1.Pod) string {
	if pod.Spec.Hostname != "" {
		return pod.Spec.Hostname
	}
	return pod.Name
}

func podLabels(pod *v1.Pod) map[string]string {
	return map[string]string{
		LabelPodName:      pod.Name,
		LabelPodNamespace: pod.Namespace,
		LabelPodUID:       string(pod.UID),
		LabelManagedBy:    managerName,
	}
}

// specGracePeriod is spec.terminationGracePeriodSeconds with the API default.
func specGracePeriod(pod *v1.Pod) int64 {
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return *g
	}
	return DefaultTerminationGracePeriod
}

// startContainer is the kubelet's start closure of SyncPod plus
// startContainer: backoff, create, start, postStart hook, with the outcome
// recorded in the reason cache.
func (s *Syncer) startContainer(ctx context.Context, ps *podState, pod *v1.Pod, rt *podRuntime, sandboxID string, podIPs []string, c *v1.Container, hash uint64, init bool) (time.Time, error) {
	w := &ps.w
	now := s.clock.Now()
	fail := func(reason, msg string) {
		if w.reasons == nil {
			w.reasons = map[string]startFailure{}
		}
		w.reasons[c.Name] = startFailure{reason: reason, message: msg}
	}

	if last := rt.newestExited(c.Name); last != nil {
		key := backoffKey{name: c.Name, hash: hash}
		e := w.crash[key]
		if s.crash.inBackoffSince(e, last.FinishedAt, now) {
			fail(ReasonCrashLoopBackOff, fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", e.backoff, c.Name, formatPod(pod)))
			return last.FinishedAt.Add(e.backoff), errBackingOff
		}
		if w.crash == nil {
			w.crash = map[backoffKey]*backoffEntry{}
		}
		w.crash[key] = s.crash.next(e, last.FinishedAt, now)
	}
	if e := w.imagePull[c.Image]; s.crash.inBackoffSinceUpdate(e, now) {
		fail(ReasonImagePullBackOff, fmt.Sprintf("Back-off pulling image %q", c.Image))
		return e.lastUpdate.Add(e.backoff), errBackingOff
	}

	restartCount := 0
	if prev := rt.findContainer(c.Name); prev != nil {
		restartCount = prev.restartCount + 1
	}
	labels := podLabels(pod)
	labels[LabelContainerName] = c.Name
	annotations := map[string]string{
		AnnotationContainerHash:         strconv.FormatUint(hash, 16),
		AnnotationContainerRestartCount: strconv.Itoa(restartCount),
		AnnotationPodTerminationGrace:   strconv.FormatInt(specGracePeriod(pod), 10),
	}
	if init {
		annotations[AnnotationContainerInit] = "true"
	}
	if c.TerminationMessagePath != "" {
		annotations[AnnotationContainerTerminationMsg] = c.TerminationMessagePath
	}
	cfg := &ContainerConfig{
		Name:          c.Name,
		Attempt:       uint32(restartCount),
		PodUID:        pod.UID,
		Image:         c.Image,
		Labels:        labels,
		Annotations:   annotations,
		Pod:           pod,
		Container:     c,
		InitContainer: init,
		PodIPs:        podIPs,
	}
	s.opts.Metrics.containerStarting(init)
	cctx, cancel := s.callCtx(ctx, 0)
	id, err := s.rt.CreateContainer(cctx, sandboxID, cfg)
	cancel()
	if err != nil {
		s.opts.Metrics.containerStartFailed(init, err)
		switch {
		case errors.Is(err, ErrImagePull):
			if w.imagePull == nil {
				w.imagePull = map[string]*backoffEntry{}
			}
			e := s.crash.next(w.imagePull[c.Image], now, now)
			w.imagePull[c.Image] = e
			fail(ReasonErrImagePull, err.Error())
			return now.Add(e.backoff), fmt.Errorf("container %q of pod %s/%s: %w", c.Name, pod.Namespace, pod.Name, err)
		case errors.Is(err, ErrImageNeverPull):
			fail(ReasonErrImageNeverPull, err.Error())
		case errors.Is(err, ErrInvalidImageName):
			fail(ReasonInvalidImageName, err.Error())
		case errors.Is(err, ErrCreateContainerConfig):
			fail(ReasonCreateContainerConfigError, err.Error())
		default:
			fail(ReasonCreateContainerError, err.Error())
		}
		return time.Time{}, fmt.Errorf("create container %q of pod %s/%s: %w", c.Name, pod.Namespace, pod.Name, err)
	}
	delete(w.imagePull, c.Image)
	cctx, cancel = s.callCtx(ctx, 0)
	err = s.rt.StartContainer(cctx, id)
	cancel()
	if err != nil {
		s.opts.Metrics.containerStartFailed(init, err)
		fail(ReasonRunContainerError, err.Error())
		return time.Time{}, fmt.Errorf("start container %q of pod %s/%s: %w", c.Name, pod.Namespace, pod.Name, err)
	}
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		if len(podIPs) == 0 && !pod.Spec.HostNetwork {
			// A runtime may have set up the pod network after
			// RunPodSandbox returned (the runc runtime does): the
			// started container's sandbox has its IPs now.
			cctx, cancel := s.callCtx(ctx, 0)
			if st, err := s.rt.PodSandboxStatus(cctx, sandboxID); err == nil {
				podIPs = st.IPs
			}
			cancel()
		}
		podIP := ""
		if len(podIPs) > 0 {
			podIP = podIPs[0]
		}
		hctx, cancel := s.callCtx(ctx, 0)
		msg, herr := s.opts.Hooks.RunHook(hctx, HookTarget{Pod: pod, Container: c, ContainerID: id, PodIP: podIP}, c.Lifecycle.PostStart)
		cancel()
		if herr != nil {
			rec := &containerRecord{ContainerStatus: &ContainerStatus{ID: id, Name: c.Name}}
			if kerr := s.killContainer(ctx, pod, rec, c, killReasonFailedPostStartHook, nil, nil); kerr != nil {
				s.log.Error("kill container after failed postStart hook", "pod", pod.Name, "container", c.Name, "err", kerr)
			}
			if msg == "" {
				msg = herr.Error()
			}
			fail(ReasonPostStartHookError, msg)
			return time.Time{}, fmt.Errorf("postStart hook of container %q of pod %s/%s: %w", c.Name, pod.Namespace, pod.Name, herr)
		}
	}
	delete(w.reasons, c.Name)
	return time.Time{}, nil
}
