package prober

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/nodekit/nodekit/kubelet"
)

// DefaultKubeVersion is the major.minor version the prober reports in its
// User-Agent (kube-probe/1.37), the Kubernetes release whose prober it
// follows.
const DefaultKubeVersion = "1.37"

// Source is what the Manager watches and drives: the pods, their latest
// statuses and a way to ask for a fresh sync. *kubelet.Syncer implements
// it.
type Source interface {
	// Pods returns the pods held (to catch up on start).
	Pods() []*v1.Pod
	// PodStatus returns the latest status of a pod, a copy.
	PodStatus(uid types.UID) (*v1.PodStatus, bool)
	// Subscribe delivers status changes (with the pod) until ctx ends.
	Subscribe(ctx context.Context) <-chan kubelet.StatusUpdate
	// Trigger asks for a sync of the pod because a probe result changed.
	Trigger(uid types.UID)
}

var _ Source = (*kubelet.Syncer)(nil)

// Options tune a Manager. The zero value means the documented defaults.
type Options struct {
	// Clock times the probe periods, initial delays and the start jitter.
	// Default clock.RealClock{}. Probe timeouts are enforced on real
	// time (they bound network and exec calls).
	Clock clock.WithTicker
	// KubeVersion is the major.minor reported in the User-Agent of HTTP
	// and gRPC probes. Default DefaultKubeVersion.
	KubeVersion string
	// HTTPTransport, when set, sends every HTTP probe through a net/http
	// Client on it (with the kubelet's redirect policy), and the
	// transport does its own dialing: DialContext is not used for HTTP
	// probes then. By default each probe is one exchange on a new
	// connection made on the worker's goroutine, with the kubelet's
	// transport settings: no keep-alive, no proxy, no compression, TLS
	// without verification, sockets that linger 1 s at most (redirects go
	// through net/http's Client; see the package Caveats).
	HTTPTransport http.RoundTripper
	// DialContext, when set, opens every connection of the network
	// probes: httpGet (the direct exchange and the redirects followed
	// through net/http, unless HTTPTransport is set), tcpSocket and gRPC.
	// network is "tcp" and address host:port, as for net.Dialer. The
	// context carries the probe's timeout as its deadline; a dialer must
	// honour it. It is called from many workers at once, so it must be
	// safe for concurrent use. Set it when pod IPs are reachable only in
	// another network namespace than the embedding program's, as with a
	// node namespace (the dialer then connects from inside it). Default:
	// a net.Dialer with the probe timeout, without TCP keep-alive and,
	// on Linux, with SO_LINGER of 1 s (the kubelet's ProbeDialer).
	DialContext func(ctx context.Context, network, address string) (net.Conn, error)
	// Logger receives probe failures and errors (the kubelet's
	// "Unhealthy" events); default discards.
	Logger *slog.Logger
	// Coalesce, when positive, puts every worker's periodic probes on a
	// common grid of this step (counted from the Unix epoch on Clock):
	// a worker's first probe waits for the next grid point, at most one
	// step, and so does the schedule that follows a triggered probe.
	// Probes of many containers then fire at the same instants and share
	// the wake-ups of the program's threads, which is most of the CPU
	// cost of many probes besides the kernel's (see BENCHMARKS.md:
	// BenchmarkProbes/pods=1000,coalesce=100ms). Periods stay whole
	// seconds, so a step that does not divide one second is rounded
	// down to one that does (1 s / ceil(1 s / Coalesce)); steps above
	// one second count as one second. Default 0: each worker keeps the
	// kubelet's own schedule, starting at the container's start (after
	// the kubelet's start-up jitter).
	Coalesce time.Duration
	// Metrics receives the kubelet's prober metrics (prober_probe_total,
	// prober_probe_duration_seconds); nil records none.
	Metrics *Metrics
}

func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.KubeVersion == "" {
		o.KubeVersion = DefaultKubeVersion
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Coalesce > 0 {
		o.Coalesce = coalesceStep(o.Coalesce)
	}
	return o
}

// coalesceStep rounds d down to a divisor of one second.
func coalesceStep(d time.Duration) time.Duration {
	if d >= time.Second {
		return time.Second
	}
	n := (time.Second + d - 1) / d
	for time.Second%n != 0 {
		n++
	}
	return time.Second / n
}

// Manager runs the probes of the pods of a Source, as the kubelet's
// prober manager: one worker per pod, container (regular or restartable
// init) and probe type, started when the pod is first seen and stopped
// when the pod is removed. It implements kubelet.ProbeResults; give it to
// the Syncer in kubelet.Options.Probes and call Run with the Syncer.
//
// A Manager is safe for concurrent use. Only one Run may be active at a
// time.
type Manager struct {
	rt     kubelet.Runtime
	clock  clock.WithTicker
	log    *slog.Logger
	prober *prober
	start  time.Time
	// coalesce is Options.Coalesce, rounded; 0 when off.
	coalesce time.Duration
	metrics  *Metrics

	mu      sync.RWMutex
	running bool
	src     Source
	ctx     context.Context
	wg      sync.WaitGroup
	workers map[workerKey]*worker
	results map[resultKey]kubelet.ProbeResult
	owners  map[string]owner
	pods    map[types.UID]*v1.Pod
}

var _ kubelet.ProbeResults = (*Manager)(nil)

// New returns a Manager that runs exec probes through rt.
func New(rt kubelet.Runtime, opts Options) *Manager {
	opts = opts.withDefaults()
	return &Manager{
		rt:       rt,
		clock:    opts.Clock,
		log:      opts.Logger,
		prober:   newProber(rt, opts),
		start:    opts.Clock.Now(),
		coalesce: opts.Coalesce,
		metrics:  opts.Metrics,
		workers:  map[workerKey]*worker{},
		results:  map[resultKey]kubelet.ProbeResult{},
		owners:   map[string]owner{},
		pods:     map[types.UID]*v1.Pod{},
	}
}

// Run probes the pods of src until ctx ends: it follows src's status
// updates, starts workers for new pods, stops them for deleted ones and
// calls src.Trigger when a result changes, so that the Syncer restarts
// containers and updates readiness at once. When ctx ends every worker is
// stopped and Run returns nil; it returns ErrAlreadyRunning if another
// Run is active.
func (m *Manager) Run(ctx context.Context, src Source) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return ErrAlreadyRunning
	}
	m.running, m.src, m.ctx = true, src, ctx
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		for _, w := range m.workers {
			w.stop()
		}
		m.mu.Unlock()
		m.wg.Wait()
		m.mu.Lock()
		m.running, m.src, m.ctx = false, nil, nil
		m.results = map[resultKey]kubelet.ProbeResult{}
		m.owners = map[string]owner{}
		m.pods = map[types.UID]*v1.Pod{}
		m.mu.Unlock()
	}()

	updates := src.Subscribe(ctx)
	for _, pod := range src.Pods() {
		st, _ := src.PodStatus(pod.UID)
		m.observe(pod, st, false)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-updates:
			if !ok {
				return nil
			}
			m.observe(u.Pod, u.Status, u.Deleted)
		}
	}
}

// observe reacts to the latest pod and status: the kubelet calls AddPod
// on every sync of a pod that is not terminating, StopLivenessAndStartup
// when it terminates, and RemovePod once it is gone.
func (m *Manager) observe(pod *v1.Pod, st *v1.PodStatus, deleted bool) {
	if pod == nil {
		return
	}
	switch {
	case deleted:
		m.removePod(pod.UID)
		return
	case st != nil && (st.Phase == v1.PodSucceeded || st.Phase == v1.PodFailed):
		// Workers end themselves on a terminal phase; do it now.
		m.removePod(pod.UID)
		return
	case pod.DeletionTimestamp != nil:
		m.mu.Lock()
		m.pods[pod.UID] = pod
		m.mu.Unlock()
		m.stopLivenessAndStartup(pod.UID)
		return
	}
	m.addPod(pod)
	if st != nil {
		m.triggerReadiness(pod.UID, st)
	}
}

// probedContainers are the containers that get probe workers: regular
// containers and restartable init containers (sidecars).
func probedContainers(pod *v1.Pod) []*v1.Container {
	var out []*v1.Container
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == v1.ContainerRestartPolicyAlways {
			out = append(out, c)
		}
	}
	for i := range pod.Spec.Containers {
		out = append(out, &pod.Spec.Containers[i])
	}
	return out
}

func probeOf(c *v1.Container, t kubelet.ProbeType) *v1.Probe {
	switch t {
	case kubelet.LivenessProbe:
		return c.LivenessProbe
	case kubelet.ReadinessProbe:
		return c.ReadinessProbe
	case kubelet.StartupProbe:
		return c.StartupProbe
	}
	return nil
}

var probeTypes = [...]kubelet.ProbeType{kubelet.StartupProbe, kubelet.ReadinessProbe, kubelet.LivenessProbe}

// addPod is the kubelet's AddPod: a worker for every probe that has none.
// A container whose definition changed (the engine restarts such a
// container) gets new workers.
func (m *Manager) addPod(pod *v1.Pod) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.running {
		return
	}
	if old := m.pods[pod.UID]; old == pod {
		return
	}
	m.pods[pod.UID] = pod
	want := map[workerKey]bool{}
	for _, c := range probedContainers(pod) {
		for _, t := range probeTypes {
			spec := probeOf(c, t)
			if spec == nil {
				continue
			}
			key := workerKey{pod.UID, c.Name, t}
			want[key] = true
			if w, ok := m.workers[key]; ok {
				if w.container == c || apiequality.Semantic.DeepEqual(w.container, c) {
					continue
				}
				// A changed definition (the Syncer restarts such a
				// container): a worker for the new one.
				w.stop()
			}
			w := newWorker(m, key, pod, c, spec)
			m.workers[key] = w
			m.wg.Add(1)
			go w.run(m.ctx)
		}
	}
	// Probes removed from the definition lose their workers.
	for key, w := range m.workers {
		if key.podUID == pod.UID && !want[key] {
			w.stop()
			delete(m.workers, key)
		}
	}
}

// triggerReadiness runs the readiness probe of running containers that
// have no result yet at once, as the kubelet's UpdatePodStatus does, so
// that a new container becomes ready without waiting a whole period.
func (m *Manager) triggerReadiness(uid types.UID, st *v1.PodStatus) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	check := func(cs []v1.ContainerStatus) {
		for i := range cs {
			c := &cs[i]
			if c.State.Running == nil || c.ContainerID == "" {
				continue
			}
			w, ok := m.workers[workerKey{uid, c.Name, kubelet.ReadinessProbe}]
			if !ok {
				continue
			}
			if _, ok := m.results[resultKey{containerIDOf(c.ContainerID), kubelet.ReadinessProbe}]; ok {
				continue
			}
			w.trigger()
		}
	}
	check(st.InitContainerStatuses)
	check(st.ContainerStatuses)
}

// stopLivenessAndStartup is the kubelet's StopLivenessAndStartup, for a
// pod being deleted.
func (m *Manager) stopLivenessAndStartup(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, w := range m.workers {
		if key.podUID == uid && (key.probeType == kubelet.LivenessProbe || key.probeType == kubelet.StartupProbe) {
			w.stop()
		}
	}
}

// removePod is the kubelet's RemovePod: stop every worker of the pod and
// forget its results.
func (m *Manager) removePod(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key, w := range m.workers {
		if key.podUID == uid {
			w.stop()
		}
	}
	delete(m.pods, uid)
	for id, o := range m.owners {
		if o.podUID == uid {
			delete(m.owners, id)
		}
	}
}

// removeWorker is called by a worker when it exits.
func (m *Manager) removeWorker(w *worker) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cur, ok := m.workers[w.key]; ok && cur == w {
		delete(m.workers, w.key)
	}
}

// currentPod returns the latest definition of the pod.
func (m *Manager) currentPod(uid types.UID, fallback *v1.Pod) *v1.Pod {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if p, ok := m.pods[uid]; ok {
		return p
	}
	return fallback
}

// Workers returns how many probe workers are active.
func (m *Manager) Workers() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.workers)
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

// source returns the Source of the active Run.
func (m *Manager) source() Source {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.src
}

// triggerSync asks the Source for a sync of the pod, so that the status
// and restart decisions follow a changed result at once.
func (m *Manager) triggerSync(uid types.UID) {
	if src := m.source(); src != nil {
		src.Trigger(uid)
	}
}
