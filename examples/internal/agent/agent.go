package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodekit/nodekit/examples/internal/endpointslice"
	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/prober"
	"github.com/nodekit/nodekit/proxy"
	"github.com/nodekit/nodekit/stats"
)

// TargetsFunc returns the cgroups of a pod the stats collector should watch
// (a pod-level target and one per running container), from the pod with its
// current status. It is called after every change of the node.
type TargetsFunc func(ctx context.Context, pod *v1.Pod) ([]stats.Target, error)

// Options configure an Agent. NodeName, Runtime and Netfilter are required.
type Options struct {
	// NodeName is the node's name: spec.nodeName of its pods and the
	// proxy's node name.
	NodeName string
	// NodeIPs are the node's addresses (host IPs of pods, node port
	// addresses of the proxy).
	NodeIPs []netip.Addr
	// Runtime runs the pods.
	Runtime kubelet.Runtime
	// Engine tunes the kubelet.Syncer; HostIPs default to NodeIPs, and
	// Probes is the agent's prober.
	Engine kubelet.Options
	// Prober tunes the prober (package kubelet/prober) that runs the pods'
	// liveness, readiness and startup probes.
	Prober prober.Options
	// Proxy configures the proxy.Proxier; NodeName and NodeIPs default to
	// the agent's.
	Proxy proxy.Options
	// Netfilter is where the proxy's rules go.
	Netfilter proxy.Netfilter
	// ProxySync tunes the proxy.Syncer; its Metrics are set by the agent.
	ProxySync proxy.SyncerOptions
	// Stats, when set, is the collector the pods' cgroups are registered
	// in, by Targets. Its Run is the caller's (or Run's, see RunStats).
	Stats *stats.Collector
	// Targets names the cgroups of a pod; required with Stats.
	Targets TargetsFunc
	// RunStats makes Run run the Stats collector's loop too.
	RunStats bool
	// BuildEndpointSlices builds the EndpointSlices of the Services from
	// the agent's own pods (a node without a control plane). When false,
	// slices are given with SetEndpointSlices.
	BuildEndpointSlices bool
	// Registry receives every metric; nil means a new registry (see
	// Registry()).
	Registry *prometheus.Registry
	// Debounce is how long the agent waits after a change for more changes
	// before it rebuilds slices and targets. Default 50ms.
	Debounce time.Duration
	// Logger receives what the agent cannot return; nil discards.
	Logger *slog.Logger
}

// Agent is one node: pods, services and stats. See the package doc.
type Agent struct {
	opts    Options
	engine  *kubelet.Syncer
	prober  *prober.Manager
	proxier *proxy.Proxier
	psync   *proxy.Syncer
	reg     *prometheus.Registry
	log     *slog.Logger
	kick    chan struct{}

	mu   sync.Mutex
	pods map[types.UID]*v1.Pod
	// terminating are pods dropped from the desired set that the engine is
	// still stopping, with a deletion timestamp as the API server would
	// set: their endpoints stay in the slices as terminating until the
	// engine reports them gone.
	terminating map[types.UID]*v1.Pod
	services    []*v1.Service
	slices      []*discovery.EndpointSlice
	haveSvcs    bool
	havePods    bool
	haveSlices  bool
	targets     map[string]stats.Target
	running     bool
	lastSync    proxy.SyncResult
	// lastInvalid is the proxy's last report of invalid objects, logged
	// only when it changes.
	lastInvalid string
	synced      bool
}

// New returns an Agent. It does nothing until Run.
func New(opts Options) (*Agent, error) {
	if opts.NodeName == "" || opts.Runtime == nil || opts.Netfilter == nil {
		return nil, errors.New("agent: NodeName, Runtime and Netfilter are required")
	}
	if opts.Stats != nil && opts.Targets == nil {
		return nil, errors.New("agent: Targets is required with Stats")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Debounce <= 0 {
		opts.Debounce = 50 * time.Millisecond
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.Engine.HostIPs == nil {
		for _, ip := range opts.NodeIPs {
			opts.Engine.HostIPs = append(opts.Engine.HostIPs, ip.String())
		}
	}
	if opts.Engine.Logger == nil {
		opts.Engine.Logger = opts.Logger.With("component", "kubelet")
	}
	if opts.Proxy.NodeName == "" {
		opts.Proxy.NodeName = opts.NodeName
	}
	if opts.Proxy.NodeIPs == nil {
		opts.Proxy.NodeIPs = opts.NodeIPs
	}
	if opts.Prober.Logger == nil {
		opts.Prober.Logger = opts.Logger.With("component", "prober")
	}
	if opts.Engine.Metrics == nil {
		emetrics, err := kubelet.NewMetrics(opts.Registry)
		if err != nil {
			return nil, fmt.Errorf("agent: engine metrics: %w", err)
		}
		opts.Engine.Metrics = emetrics
	}
	if opts.Prober.Metrics == nil {
		pmetrics, err := prober.NewMetrics(opts.Registry)
		if err != nil {
			return nil, fmt.Errorf("agent: prober metrics: %w", err)
		}
		opts.Prober.Metrics = pmetrics
	}
	pm := prober.New(opts.Runtime, opts.Prober)
	opts.Engine.Probes = pm
	p, err := proxy.New(opts.Proxy)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	a := &Agent{
		opts:        opts,
		prober:      pm,
		engine:      kubelet.New(opts.Runtime, opts.Engine),
		proxier:     p,
		reg:         opts.Registry,
		log:         opts.Logger,
		kick:        make(chan struct{}, 1),
		pods:        map[types.UID]*v1.Pod{},
		terminating: map[types.UID]*v1.Pod{},
		targets:     map[string]stats.Target{},
	}
	m, err := proxy.NewMetrics(a.reg)
	if err != nil {
		return nil, fmt.Errorf("agent: proxy metrics: %w", err)
	}
	ps := opts.ProxySync
	ps.Metrics = m
	onSync := ps.OnSync
	ps.OnSync = func(r proxy.SyncResult) {
		a.mu.Lock()
		a.lastSync, a.synced = r, true
		a.mu.Unlock()
		if r.Err != nil {
			a.log.Error("proxy sync failed", "err", r.Err)
		}
		if onSync != nil {
			onSync(r)
		}
	}
	a.psync = proxy.NewSyncer(p, opts.Netfilter, ps)
	if opts.Stats != nil {
		pc, err := stats.NewPrometheusCollector(opts.Stats, stats.PrometheusOptions{})
		if err != nil {
			return nil, fmt.Errorf("agent: stats metrics: %w", err)
		}
		if err := a.reg.Register(pc); err != nil {
			return nil, fmt.Errorf("agent: stats metrics: %w", err)
		}
	}
	if err := a.reg.Register(newEngineCollector(a)); err != nil {
		return nil, fmt.Errorf("agent: engine metrics: %w", err)
	}
	return a, nil
}

// Engine returns the kubelet engine, for callers that subscribe to status
// changes (examples/cluster-node writes them to the API server).
func (a *Agent) Engine() *kubelet.Syncer { return a.engine }

// Registry returns the registry every metric is on.
func (a *Agent) Registry() *prometheus.Registry { return a.reg }

// SetPods declares the complete set of pods of the node. Invalid pods are
// reported in the error (and get a Failed status); the others are applied.
// A pod left out is terminated with its grace period; until the engine has
// removed it, it stays visible (Pods, EndpointSlices) with a deletion
// timestamp, as a pod being deleted through the API server is.
func (a *Agent) SetPods(pods []*v1.Pod) error {
	m := make(map[types.UID]*v1.Pod, len(pods))
	for _, p := range pods {
		m[p.UID] = p
	}
	now := metav1.Now()
	a.mu.Lock()
	for uid, p := range a.pods {
		if _, kept := m[uid]; kept {
			continue
		}
		if _, known := a.engine.PodStatus(uid); !known {
			continue
		}
		c := p.DeepCopy()
		if c.DeletionTimestamp == nil {
			c.DeletionTimestamp = &now
			c.DeletionGracePeriodSeconds = c.Spec.TerminationGracePeriodSeconds
		}
		a.terminating[uid] = c
	}
	for uid := range m {
		delete(a.terminating, uid)
	}
	a.pods, a.havePods = m, true
	a.mu.Unlock()
	err := a.engine.SetPods(pods)
	a.changed()
	return err
}

// SetServices declares the complete set of Services.
func (a *Agent) SetServices(services []*v1.Service) {
	a.mu.Lock()
	a.services, a.haveSvcs = slices.Clone(services), true
	a.mu.Unlock()
	a.changed()
}

// SetEndpointSlices declares the complete set of EndpointSlices, for agents
// whose slices are made elsewhere (Options.BuildEndpointSlices false).
func (a *Agent) SetEndpointSlices(s []*discovery.EndpointSlice) {
	a.mu.Lock()
	a.slices, a.haveSlices = slices.Clone(s), true
	a.mu.Unlock()
	a.changed()
}

func (a *Agent) changed() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// Pods returns the node's pods, each with its latest status, sorted by
// namespace and name. The pods are copies.
func (a *Agent) Pods() []*v1.Pod {
	a.mu.Lock()
	out := make([]*v1.Pod, 0, len(a.pods)+len(a.terminating))
	for _, p := range a.pods {
		out = append(out, p)
	}
	for uid, p := range a.terminating {
		if _, known := a.engine.PodStatus(uid); !known {
			delete(a.terminating, uid) // gone without a Deleted update
			continue
		}
		out = append(out, p)
	}
	a.mu.Unlock()
	for i, p := range out {
		c := p.DeepCopy()
		if st, ok := a.engine.PodStatus(p.UID); ok {
			c.Status = *st
		}
		out[i] = c
	}
	slices.SortFunc(out, func(x, y *v1.Pod) int {
		return cmp.Or(strings.Compare(x.Namespace, y.Namespace), strings.Compare(x.Name, y.Name))
	})
	return out
}

// EndpointSlices returns the slices the proxy was last given.
func (a *Agent) EndpointSlices() []*discovery.EndpointSlice {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.slices)
}

// Run runs the engine, the prober, the proxy's sync loop, the reconciliation of slices
// and stats targets (and the stats loop with RunStats) until ctx is done.
// Pods keep running when it returns; see RemoveAll.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.running {
		a.mu.Unlock()
		return errors.New("agent: Run is already active")
	}
	a.running = true
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.running = false
		a.mu.Unlock()
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	run("kubelet", a.engine.Run)
	run("prober", func(ctx context.Context) error { return a.prober.Run(ctx, a.engine) })
	run("proxy", a.psync.Run)
	if a.opts.Stats != nil && a.opts.RunStats {
		run("stats", a.opts.Stats.Run)
	}
	updates := a.engine.Subscribe(ctx)
	run("status", func(ctx context.Context) error {
		for u := range updates {
			if u.Deleted {
				a.mu.Lock()
				delete(a.terminating, u.UID)
				a.mu.Unlock()
			}
			a.changed()
		}
		return nil
	})
	run("reconcile", a.reconcileLoop)
	wg.Wait()
	close(errs)
	return <-errs
}

func (a *Agent) reconcileLoop(ctx context.Context) error {
	// A resync every few seconds catches containers that started between a
	// status update and their cgroup appearing.
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.kick:
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(a.opts.Debounce):
			}
		case <-tick.C:
		}
		a.Reconcile(ctx)
	}
}

// Reconcile rebuilds the EndpointSlices, hands Services and slices to the
// proxy and asks it to sync, and brings the stats targets up to date. Run
// calls it after every change; tests call it to step the agent.
func (a *Agent) Reconcile(ctx context.Context) {
	pods := a.Pods()
	a.mu.Lock()
	services := a.services
	ready := a.haveSvcs && (a.haveSlices || (a.opts.BuildEndpointSlices && a.havePods))
	if a.opts.BuildEndpointSlices && a.havePods {
		a.slices = endpointslice.ForServices(services, pods, nil)
	}
	eps := a.slices
	a.mu.Unlock()
	if ready {
		err := a.proxier.SetState(services, eps)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		a.mu.Lock()
		report := msg != a.lastInvalid
		a.lastInvalid = msg
		a.mu.Unlock()
		if err != nil && report {
			a.log.Warn("proxy skipped invalid objects", "err", err)
		}
		a.psync.Sync()
	}
	if a.opts.Stats != nil {
		a.syncTargets(ctx, pods)
	}
}

// syncTargets registers the targets of pods and removes the others.
func (a *Agent) syncTargets(ctx context.Context, pods []*v1.Pod) {
	want := map[string]stats.Target{}
	for _, p := range pods {
		ts, err := a.opts.Targets(ctx, p)
		if err != nil {
			a.log.Warn("stats targets", "pod", p.Namespace+"/"+p.Name, "err", err)
		}
		for _, t := range ts {
			want[t.ID] = t
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, old := range a.targets {
		if t, ok := want[id]; !ok || !reflect.DeepEqual(t, old) {
			a.opts.Stats.Remove(id)
			delete(a.targets, id)
		}
	}
	for id, t := range want {
		if _, ok := a.targets[id]; ok {
			continue
		}
		if err := a.opts.Stats.Add(t); err != nil {
			a.log.Warn("stats target", "id", id, "err", err)
			continue
		}
		a.targets[id] = t
	}
}

// Healthy reports whether the engine runs and the proxy's last sync
// succeeded, with a reason when not.
func (a *Agent) Healthy() (bool, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case !a.running:
		return false, "agent not running"
	case !a.synced:
		return false, "proxy has not synced yet"
	case a.lastSync.Err != nil:
		return false, "last proxy sync failed: " + a.lastSync.Err.Error()
	}
	return true, "ok"
}

// RemoveAll stops and removes every pod and waits until the runtime holds
// none of them, or ctx ends. Run must not be active.
func (a *Agent) RemoveAll(ctx context.Context) error {
	a.mu.Lock()
	if a.running {
		a.mu.Unlock()
		return errors.New("agent: RemoveAll while Run is active")
	}
	a.mu.Unlock()
	if err := a.SetPods(nil); err != nil {
		return err
	}
	for {
		if err := a.engine.SyncOnce(ctx); err != nil {
			return fmt.Errorf("agent: remove pods: %w", err)
		}
		sbs, err := a.opts.Runtime.ListPodSandboxes(ctx, kubelet.SandboxFilter{})
		if err != nil {
			return fmt.Errorf("agent: remove pods: %w", err)
		}
		cs, err := a.opts.Runtime.ListContainers(ctx, kubelet.ContainerFilter{})
		if err != nil {
			return fmt.Errorf("agent: remove pods: %w", err)
		}
		if len(sbs) == 0 && len(cs) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("agent: remove pods: %d sandboxes and %d containers left: %w", len(sbs), len(cs), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
