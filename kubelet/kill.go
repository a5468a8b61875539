package kubelet

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// effectiveGracePeriod is the pod worker's calculateEffectiveGracePeriod:
// the grace period of a terminating pod can only shrink. The deletion grace
// period wins over the spec, an override (DeletePod) wins if shorter, and
// the result is at least 1 second.
func effectiveGracePeriod(w *workerState, pod *v1.Pod, override *int64) int64 {
	g := w.gracePeriod
	overridden := false
	if d := pod.DeletionGracePeriodSeconds; d != nil && (g == 0 || *d < g) {
		g = *d
		overridden = true
	}
	if override != nil && (g == 0 || *override < g) {
		g = *override
		overridden = true
	}
	if !overridden && g == 0 {
		g = specGracePeriod(pod)
	}
	if g < 1 {
		g = 1
	}
	w.gracePeriod = g
	return g
}

// containerGracePeriod is the kubelet's setTerminationGracePeriod: the
// deletion grace period, else the probe's terminationGracePeriodSeconds for
// probe kills, else the pod's.
func containerGracePeriod(pod *v1.Pod, c *v1.Container, reason killReason) int64 {
	if d := pod.DeletionGracePeriodSeconds; d != nil {
		return *d
	}
	if c != nil {
		switch reason {
		case killReasonStartupProbe:
			if c.StartupProbe != nil && c.StartupProbe.TerminationGracePeriodSeconds != nil {
				return *c.StartupProbe.TerminationGracePeriodSeconds
			}
		case killReasonLivenessProbe:
			if c.LivenessProbe != nil && c.LivenessProbe.TerminationGracePeriodSeconds != nil {
				return *c.LivenessProbe.TerminationGracePeriodSeconds
			}
		}
	}
	return specGracePeriod(pod)
}

// killContainer is the kubelet's killContainer: preStop hook within the
// grace period, wait for its turn (sidecars), then StopContainer with what
// is left of the grace period, at least MinimumGracePeriod.
func (s *Syncer) killContainer(ctx context.Context, pod *v1.Pod, rec *containerRecord, spec *v1.Container, reason killReason, override *int64, ordering *terminationOrdering) error {
	var grace int64
	if pod != nil {
		grace = containerGracePeriod(pod, spec, reason)
	} else if v, err := strconv.ParseInt(rec.Annotations[AnnotationPodTerminationGrace], 10, 64); err == nil {
		grace = v
	} else {
		grace = MinimumGracePeriod
	}
	if override != nil {
		grace = *override
	}
	if pod != nil && spec != nil && spec.Lifecycle != nil && spec.Lifecycle.PreStop != nil && grace > 0 {
		grace -= s.runPreStop(ctx, pod, rec, spec, grace)
	}
	if ordering != nil && grace > 0 {
		grace -= ordering.waitForTurn(ctx, rec.Name, grace)
	}
	if grace < MinimumGracePeriod {
		grace = MinimumGracePeriod
	}
	d := time.Duration(grace) * time.Second
	cctx, cancel := s.callCtx(ctx, d)
	err := s.rt.StopContainer(cctx, rec.ID, d)
	cancel()
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("stop container %q (%s): %w", rec.Name, rec.ID, err)
	}
	if ordering != nil {
		ordering.containerTerminated(rec.Name)
	}
	return nil
}

// runPreStop runs the preStop hook for at most grace seconds and returns
// the whole seconds it took.
func (s *Syncer) runPreStop(ctx context.Context, pod *v1.Pod, rec *containerRecord, spec *v1.Container, grace int64) int64 {
	start := s.clock.Now()
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	podIP := s.podIP(pod.UID)
	go func() {
		defer close(done)
		if _, err := s.opts.Hooks.RunHook(hctx, HookTarget{Pod: pod, Container: spec, ContainerID: rec.ID, PodIP: podIP}, spec.Lifecycle.PreStop); err != nil {
			s.log.Info("preStop hook failed", "pod", pod.Namespace+"/"+pod.Name, "container", spec.Name, "err", err)
		}
	}()
	timer := s.clock.NewTimer(time.Duration(grace) * time.Second)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C():
	case <-ctx.Done():
	}
	return int64(s.clock.Since(start).Seconds())
}

// killPod stops every running container (regular ones first, sidecars
// after them in reverse order) and then every sandbox of the pod.
func (s *Syncer) killPod(ctx context.Context, pod *v1.Pod, rt *podRuntime, override *int64) error {
	running := rt.runningContainers()
	var ordering *terminationOrdering
	if hasRestartableInit(pod) {
		names := make(map[string]bool, len(running))
		for _, c := range running {
			names[c.Name] = true
		}
		ordering = newTerminationOrdering(pod, names, s.clock)
	}
	errs := make([]error, len(running))
	var wg sync.WaitGroup
	for i, c := range running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			spec := containerSpec(pod.Spec.Containers, c.Name)
			if spec == nil {
				spec = containerSpec(pod.Spec.InitContainers, c.Name)
			}
			errs[i] = s.killContainer(ctx, pod, c, spec, killReasonUnknown, override, ordering)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kill pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	for _, sb := range rt.sandboxes {
		if sb.State != SandboxReady {
			continue
		}
		cctx, cancel := s.callCtx(ctx, 0)
		err := s.rt.StopPodSandbox(cctx, sb.ID)
		cancel()
		if err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("stop sandbox of pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
	}
	return nil
}

// terminationOrdering is the kubelet's: a sidecar waits until every
// regular container and every later sidecar has stopped, or its grace
// period runs out.
type terminationOrdering struct {
	clock      clock.Clock
	prereqs    map[string][]chan struct{}
	terminated map[string]chan struct{}
	once       map[string]*sync.Once
}

func newTerminationOrdering(pod *v1.Pod, running map[string]bool, clk clock.Clock) *terminationOrdering {
	to := &terminationOrdering{
		clock:      clk,
		prereqs:    map[string][]chan struct{}{},
		terminated: map[string]chan struct{}{},
		once:       map[string]*sync.Once{},
	}
	var mains []chan struct{}
	for _, c := range pod.Spec.Containers {
		ch := make(chan struct{})
		to.terminated[c.Name] = ch
		to.once[c.Name] = &sync.Once{}
		mains = append(mains, ch)
		if !running[c.Name] {
			close(ch)
		}
	}
	previous := ""
	for i := len(pod.Spec.InitContainers) - 1; i >= 0; i-- {
		ic := &pod.Spec.InitContainers[i]
		ch := make(chan struct{})
		to.terminated[ic.Name] = ch
		to.once[ic.Name] = &sync.Once{}
		if !running[ic.Name] {
			close(ch)
		}
		if isRestartableInit(ic) {
			to.prereqs[ic.Name] = append(to.prereqs[ic.Name], mains...)
			if previous != "" {
				to.prereqs[ic.Name] = append(to.prereqs[ic.Name], to.terminated[previous])
			}
			previous = ic.Name
		}
	}
	return to
}

// waitForTurn blocks until name may stop, and returns the whole seconds
// waited.
func (o *terminationOrdering) waitForTurn(ctx context.Context, name string, grace int64) int64 {
	if grace <= 0 || len(o.prereqs[name]) == 0 {
		return 0
	}
	start := o.clock.Now()
	timer := o.clock.NewTimer(time.Duration(grace) * time.Second)
	defer timer.Stop()
	for _, ch := range o.prereqs[name] {
		select {
		case <-ch:
		case <-timer.C():
			return int64(o.clock.Since(start).Seconds())
		case <-ctx.Done():
			return int64(o.clock.Since(start).Seconds())
		}
	}
	return int64(o.clock.Since(start).Seconds())
}

func (o *terminationOrdering) containerTerminated(name string) {
	if ch, ok := o.terminated[name]; ok {
		o.once[name].Do(func() {
			select {
			case <-ch:
			default:
				close(ch)
			}
		})
	}
}

// podIP returns the primary IP of the pod's latest status.
func (s *Syncer) podIP(uid types.UID) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ps, ok := s.pods[uid]; ok && ps.status != nil {
		return ps.status.PodIP
	}
	return ""
}
