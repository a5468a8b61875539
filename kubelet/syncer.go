package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// Defaults of Options.
const (
	DefaultMaxConcurrentSyncs      = 32
	DefaultRelistPeriod            = time.Second
	DefaultResyncPeriod            = time.Minute
	DefaultRuntimeRequestTimeout   = 2 * time.Minute
	DefaultCrashLoopBackOffInitial = 10 * time.Second
	DefaultCrashLoopBackOffMax     = 300 * time.Second
	DefaultSyncErrorRetry          = 10 * time.Second
	// DefaultTerminationGracePeriod is the API default of
	// spec.terminationGracePeriodSeconds, applied when a pod leaves it nil.
	DefaultTerminationGracePeriod int64 = 30
	// MinimumGracePeriod is the least time a container gets between
	// SIGTERM and SIGKILL, whatever the pod asks for (the kubelet's
	// minimumGracePeriodInSeconds).
	MinimumGracePeriod int64 = 2
)

// Options tune a Syncer. The zero value means the documented defaults.
type Options struct {
	// Clock drives every timing decision (backoff, deadlines, grace
	// periods, relist). Default clock.RealClock{}; tests use
	// k8s.io/utils/clock/testing.FakeClock.
	Clock clock.WithTicker
	// MaxConcurrentSyncs bounds how many pods are synced at once. Each pod
	// is synced by one worker at a time. Default 32.
	MaxConcurrentSyncs int
	// RelistPeriod is how often Run lists the runtime to detect changes
	// (and fires due timers). Default 1s.
	RelistPeriod time.Duration
	// ResyncPeriod is how often Run syncs every pod even without a change.
	// Default 1 minute (the kubelet's syncFrequency).
	ResyncPeriod time.Duration
	// RuntimeRequestTimeout bounds every runtime call (StopContainer gets
	// its grace period on top). Default 2 minutes, as the kubelet.
	RuntimeRequestTimeout time.Duration
	// CrashLoopBackOffInitial and CrashLoopBackOffMax set the restart
	// backoff of exited containers: the first restart is immediate, then
	// Initial doubling up to Max; a container that ran for 2*Max without
	// a restart starts over. Defaults 10s and 300s. The same values apply
	// to image pull backoff (ImagePullBackOff).
	CrashLoopBackOffInitial time.Duration
	CrashLoopBackOffMax     time.Duration
	// SyncErrorRetry is how long after a failed sync (runtime error) the
	// pod is synced again. Default 10s, the kubelet's backOffPeriod.
	SyncErrorRetry time.Duration
	// HostIPs are the node's IPs, reported as hostIP/hostIPs and as the
	// pod IPs of host-network pods.
	HostIPs []string
	// CgroupDriver names pod cgroups for SandboxConfig.CgroupParent.
	// Default cgroupfs.
	CgroupDriver CgroupDriver
	// Hooks runs postStart and preStop handlers. Default a HandlerRunner
	// on the Syncer's runtime and clock.
	Hooks HookRunner
	// Probes supplies probe results; nil means probes always pass (see
	// ProbeResults).
	Probes ProbeResults
	// Logger receives sync errors and decisions; default discards.
	Logger *slog.Logger
	// Metrics receives the kubelet's engine metrics (NewMetrics); nil
	// records none.
	Metrics *Metrics
}

func (o Options) withDefaults(rt Runtime) Options {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.MaxConcurrentSyncs <= 0 {
		o.MaxConcurrentSyncs = DefaultMaxConcurrentSyncs
	}
	if o.RelistPeriod <= 0 {
		o.RelistPeriod = DefaultRelistPeriod
	}
	if o.ResyncPeriod <= 0 {
		o.ResyncPeriod = DefaultResyncPeriod
	}
	if o.RuntimeRequestTimeout <= 0 {
		o.RuntimeRequestTimeout = DefaultRuntimeRequestTimeout
	}
	if o.CrashLoopBackOffInitial <= 0 {
		o.CrashLoopBackOffInitial = DefaultCrashLoopBackOffInitial
	}
	if o.CrashLoopBackOffMax <= 0 {
		o.CrashLoopBackOffMax = DefaultCrashLoopBackOffMax
	}
	if o.CrashLoopBackOffMax < o.CrashLoopBackOffInitial {
		o.CrashLoopBackOffMax = o.CrashLoopBackOffInitial
	}
	if o.SyncErrorRetry <= 0 {
		o.SyncErrorRetry = DefaultSyncErrorRetry
	}
	if o.CgroupDriver == "" {
		o.CgroupDriver = CgroupDriverCgroupfs
	}
	if o.Hooks == nil {
		o.Hooks = &HandlerRunner{Runtime: rt, Clock: o.Clock}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// Syncer drives a Runtime until it runs the desired pods, and reports the
// pod statuses the kubelet would report.
//
// Pods are given as a whole (SetPods) or one by one (AddPod, UpdatePod,
// DeletePod). Each pod is synced by at most one worker at a time, pods are
// synced concurrently up to Options.MaxConcurrentSyncs, and updates that
// arrive while a pod is being synced are coalesced into one more sync.
// Syncs happen while Run is active, or on demand with SyncOnce.
//
// A Syncer is safe for concurrent use by multiple goroutines.
type Syncer struct {
	rt    Runtime
	opts  Options
	clock clock.WithTicker
	log   *slog.Logger
	crash backoffPolicy

	// relistMu serializes relists; seenSandboxes and seenContainers are
	// what the previous relist saw, guarded by it.
	relistMu       sync.Mutex
	seenSandboxes  map[string]observation
	seenContainers map[string]observation

	mu       sync.Mutex
	rescan   bool
	pods     map[types.UID]*podState
	orphans  map[types.UID]*podState
	declared bool
	pending  []*podState
	queue    []*podState
	workers  int
	inflight int
	idle     chan struct{}
	seq      uint64
	running  bool
	workCtx  context.Context
	kick     chan struct{}
	subs     map[*subscriber]struct{}
}

// New returns a Syncer for rt. It does nothing until pods are given and Run
// or SyncOnce is called.
func New(rt Runtime, opts Options) *Syncer {
	opts = opts.withDefaults(rt)
	idle := make(chan struct{})
	close(idle)
	return &Syncer{
		rt:     rt,
		opts:   opts,
		clock:  opts.Clock,
		log:    opts.Logger,
		crash:  backoffPolicy{initial: opts.CrashLoopBackOffInitial, max: opts.CrashLoopBackOffMax},
		pods:   map[types.UID]*podState{},
		rescan: true,

		seenSandboxes:  map[string]observation{},
		seenContainers: map[string]observation{},
		orphans:        map[types.UID]*podState{},
		idle:           idle,
		workCtx:        context.Background(),
		kick:           make(chan struct{}, 1),
		subs:           map[*subscriber]struct{}{},
	}
}

// podState is the Syncer's record of one pod. Fields above the w field are
// guarded by Syncer.mu; w is owned by the pod's worker.
type podState struct {
	uid    types.UID
	orphan bool

	pod           *v1.Pod
	hashes        podHashes
	invalid       *InvalidPodError
	removed       bool
	graceOverride *int64
	rt            *podRuntime
	rtSeq         uint64
	refresh       bool
	status        *v1.PodStatus
	statusDirty   bool
	dirty         bool
	pendingFlag   bool
	queued        bool
	working       bool
	wakeAt        time.Time
	cancel        context.CancelFunc
	grace         int64
	// settledPod and settledRT are the spec and snapshot of the last sync
	// that found nothing to do; a resync skips the pod while they are
	// current.
	settledPod *v1.Pod
	settledRT  *podRuntime
	// firstSeen is when SetPods first saw the pod; synced is set by its
	// first sync, specChanged by a change of its spec since the last one
	// (for the metrics' operation types); started once its status turned
	// Running.
	firstSeen   time.Time
	synced      bool
	specChanged bool
	started     bool

	w workerState
}

// workerState is what one pod's worker keeps between syncs.
type workerState struct {
	terminating  bool
	terminated   bool
	gracePeriod  int64
	evictReason  string
	evictMessage string
	reasons      map[string]startFailure
	crash        map[backoffKey]*backoffEntry
	imagePull    map[string]*backoffEntry
	statusRT     *podRuntime
	lastErr      error
	settledPod   *v1.Pod
	settledRT    *podRuntime
}

type backoffKey struct {
	name string
	hash uint64
}

// SetPods declares the complete set of pods the node should run. Pods not
// in the set are terminated (with their grace period) and forgotten; new
// pods are started; changed pods are updated. Until SetPods is first
// called, runtime pods the Syncer does not know are left alone; afterwards
// they are orphans and are stopped and removed.
//
// An invalid pod is not started: it gets a Failed status with reason
// InvalidPod, and SetPods returns an error joining one *InvalidPodError per
// such pod. The valid pods are applied regardless.
func (s *Syncer) SetPods(pods []*v1.Pod) error {
	var errs []error
	want := make(map[types.UID]bool, len(pods))
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.declared {
		// Objects seen before are orphans now if no pod claims them.
		s.rescan = true
	}
	s.declared = true
	for _, p := range pods {
		if p == nil {
			errs = append(errs, ValidatePod(p))
			continue
		}
		if want[p.UID] && p.UID != "" {
			errs = append(errs, fmt.Errorf("pod %s/%s: uid %q given twice: %w", p.Namespace, p.Name, p.UID, ErrInvalidPod))
			continue
		}
		want[p.UID] = true
		if err := s.addOrUpdateLocked(p); err != nil {
			errs = append(errs, err)
		}
	}
	for uid, ps := range s.pods {
		if !want[uid] && !ps.removed {
			ps.removed = true
			s.enqueueLocked(ps)
		}
	}
	return errors.Join(errs...)
}

// AddPod adds or updates one pod. An invalid new pod gets a Failed status
// (reason InvalidPod) and the *InvalidPodError is returned.
func (s *Syncer) AddPod(pod *v1.Pod) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addOrUpdateLocked(pod)
}

// UpdatePod updates a known pod (for example to set its deletion
// timestamp). An update that makes a running pod invalid is refused with an
// *InvalidPodError and the previous definition stays in force. Unknown pods
// are added.
func (s *Syncer) UpdatePod(pod *v1.Pod) error {
	return s.AddPod(pod)
}

// DeleteOptions tune DeletePod.
type DeleteOptions struct {
	// GracePeriodSeconds, when set, shortens the pod's grace period (it
	// can only shrink, as with the kubelet's eviction override).
	GracePeriodSeconds *int64
}

// DeletePod terminates the pod (preStop hooks, grace period, sidecars last)
// and then removes its containers and sandbox and forgets it. Subscribers
// see a final update with Deleted set. Deleting an unknown pod returns
// ErrUnknownPod.
func (s *Syncer) DeletePod(uid types.UID, opts DeleteOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps, ok := s.pods[uid]
	if !ok {
		return fmt.Errorf("delete pod %q: %w", uid, ErrUnknownPod)
	}
	ps.removed = true
	if g := opts.GracePeriodSeconds; g != nil {
		if ps.graceOverride == nil || *g < *ps.graceOverride {
			v := *g
			ps.graceOverride = &v
		}
		if ps.working && ps.cancel != nil && ps.grace > 0 && *g < ps.grace {
			ps.cancel()
		}
	}
	s.enqueueLocked(ps)
	return nil
}

func (s *Syncer) addOrUpdateLocked(pod *v1.Pod) error {
	if pod == nil {
		return ValidatePod(nil)
	}
	verr := ValidatePod(pod)
	ps, exists := s.pods[pod.UID]
	if verr != nil {
		var ipe *InvalidPodError
		errors.As(verr, &ipe)
		if exists && ps.invalid == nil {
			return verr
		}
		if pod.UID == "" {
			return verr
		}
		if !exists {
			ps = &podState{uid: pod.UID}
			s.pods[pod.UID] = ps
		}
		ps.pod = pod.DeepCopy()
		ps.invalid = ipe
		ps.statusDirty = true
		s.enqueueLocked(ps)
		return verr
	}
	if exists && !ps.removed && ps.invalid == nil && apiequality.Semantic.DeepEqual(ps.pod, pod) {
		return nil
	}
	if o, ok := s.orphans[pod.UID]; ok && !o.working && !o.queued {
		delete(s.orphans, pod.UID)
	}
	cp := pod.DeepCopy()
	if !exists {
		ps = &podState{uid: pod.UID, firstSeen: s.clock.Now()}
		s.pods[pod.UID] = ps
	} else if ps.working && ps.cancel != nil && ps.grace > 0 {
		if g := cp.DeletionGracePeriodSeconds; g != nil && *g < ps.grace {
			ps.cancel()
		}
	}
	ps.pod = cp
	ps.hashes = hashPod(cp)
	ps.invalid = nil
	ps.statusDirty = true
	ps.specChanged = exists
	s.enqueueLocked(ps)
	return nil
}

// PodStatus returns the latest status of the pod and whether the Syncer
// has one.
func (s *Syncer) PodStatus(uid types.UID) (*v1.PodStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ps, ok := s.pods[uid]
	if !ok || ps.status == nil {
		return nil, false
	}
	return ps.status.DeepCopy(), true
}

// Pods returns the pods the Syncer holds (desired, or terminating and not
// yet forgotten), in no particular order. The pods are shared and must not
// be modified. A prober that subscribes after pods were given uses it to
// catch up (see Subscribe).
func (s *Syncer) Pods() []*v1.Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*v1.Pod, 0, len(s.pods))
	for _, ps := range s.pods {
		if ps.pod != nil {
			out = append(out, ps.pod)
		}
	}
	return out
}

// Trigger asks for a sync of the pod and a fresh status, for example
// because a probe result changed. Unknown pods are ignored.
func (s *Syncer) Trigger(uid types.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ps, ok := s.pods[uid]; ok {
		ps.statusDirty = true
		s.enqueueLocked(ps)
	}
}

// Run syncs pods until ctx is done: it relists the runtime every
// RelistPeriod (and on container events when the runtime is an
// EventSource), syncs changed pods and pods whose timers (backoff, deadline,
// retry) are due, and syncs every pod every ResyncPeriod. It returns nil
// when ctx ends, or ErrAlreadyRunning.
func (s *Syncer) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return ErrAlreadyRunning
	}
	s.running = true
	s.workCtx = ctx
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = false
		s.workCtx = context.Background()
		s.mu.Unlock()
	}()

	var events <-chan ContainerEvent
	if es, ok := s.rt.(EventSource); ok {
		events = es.ContainerEvents(ctx)
	}
	// Relisting runs on its own goroutine so that a slow or hanging list
	// call never holds up dispatching syncs of pods that need them.
	relistDone := make(chan struct{})
	go func() {
		defer close(relistDone)
		relist := s.clock.NewTicker(s.opts.RelistPeriod)
		defer relist.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-relist.C():
				s.relist(ctx)
				s.enqueueDue(s.clock.Now())
			}
		}
	}()
	defer func() { <-relistDone }()
	resync := s.clock.NewTicker(s.opts.ResyncPeriod)
	defer resync.Stop()

	s.relist(ctx)
	s.enqueueAll()
	for {
		s.dispatch()
		select {
		case <-ctx.Done():
			return nil
		case <-resync.C():
			s.enqueueAll()
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			s.handleEvent(ev)
		case <-s.kick:
		}
	}
}

// SyncOnce lists the runtime, syncs every pod once (plus orphan cleanup),
// and waits until all of that work is done or ctx ends. It is how tests and
// benchmarks step the engine deterministically, and how an embedding
// program can drive it from its own loop instead of Run.
func (s *Syncer) SyncOnce(ctx context.Context) error {
	s.relist(ctx)
	s.enqueueAll()
	s.dispatch()
	return s.waitIdle(ctx)
}

func (s *Syncer) handleEvent(ev ContainerEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ps, ok := s.pods[ev.PodUID]; ok {
		ps.refresh = true
		s.enqueueLocked(ps)
	}
}

// callCtx bounds one runtime call.
func (s *Syncer) callCtx(ctx context.Context, extra time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.opts.RuntimeRequestTimeout+extra)
}
