package proxy

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// Defaults of SyncerOptions.
const (
	// DefaultMinSyncInterval is kube-proxy's --iptables-min-sync-period.
	DefaultMinSyncInterval = time.Second
	// DefaultMaxSyncInterval is kube-proxy's --iptables-sync-period.
	DefaultMaxSyncInterval = 30 * time.Second
	// DefaultCheckInterval is how often the rules are checked for drift
	// with CheckDriftQuick.
	DefaultCheckInterval = 10 * time.Second
	// DefaultFullCheckInterval is how often the check is the complete
	// CheckDrift instead.
	DefaultFullCheckInterval = 5 * time.Minute
	// DefaultRetryInitial and DefaultRetryMax bound the backoff after a
	// failed sync.
	DefaultRetryInitial = time.Second
	DefaultRetryMax     = 30 * time.Second
)

// SyncerOptions configures a Syncer. The zero value of every field means
// the documented default.
type SyncerOptions struct {
	// MinSyncInterval is the least time between the starts of two syncs;
	// requests in between coalesce into one sync. Default
	// DefaultMinSyncInterval.
	MinSyncInterval time.Duration
	// MaxSyncInterval is the most time between two syncs: a sync runs
	// then even without a request (it is a no-op when nothing changed).
	// Default DefaultMaxSyncInterval.
	MaxSyncInterval time.Duration
	// CheckInterval is the time between drift checks (CheckDriftQuick).
	// Default DefaultCheckInterval; negative disables all drift checks.
	CheckInterval time.Duration
	// FullCheckInterval is the least time between two complete checks
	// (CheckDrift, which reads whole tables with iptables-save); such a
	// check replaces the quick one when due. Default
	// DefaultFullCheckInterval; negative means never.
	FullCheckInterval time.Duration
	// RetryInitial is the wait after a failed sync; it doubles with every
	// further failure up to RetryMax. Defaults DefaultRetryInitial and
	// DefaultRetryMax.
	RetryInitial, RetryMax time.Duration
	// Clock is the time source; nil means the real clock. Tests pass a
	// k8s.io/utils/clock/testing.FakeClock.
	Clock clock.WithTicker
	// Metrics receives the sync metrics; nil records none.
	Metrics *Metrics
	// Conntrack, when set, is reconciled after each sync that changed a
	// UDP service port (ReconcileConntrack).
	Conntrack ConntrackTable
	// HealthChecks, when set, is updated after each sync.
	HealthChecks *HealthCheckServer
	// SplitChains is the most chains one table section of a payload
	// declares (SplitPayload). Zero means DefaultSplitChains when nf is
	// on the nf_tables backend (it has a Backend method reporting
	// BackendNFT) and no splitting otherwise; negative disables it. On
	// the legacy backend every section rewrites the whole table, so
	// splitting only costs time there.
	SplitChains int
	// ParallelRestores is how many iptables-restore runs may apply the
	// independent sections of a split payload at once (sections of
	// different services; a section always waits for those whose chains
	// it jumps to). Zero means min(DefaultParallelRestores, GOMAXPROCS);
	// 1 applies the sections one run after the other. Netfilter's Restore
	// is then called from several goroutines at once.
	ParallelRestores int
	// OnSync, when set, is called after every sync attempt with its
	// result. It must not block.
	OnSync func(SyncResult)
}

// SyncResult describes one sync attempt of a Syncer.
type SyncResult struct {
	// Stats are the plan's figures (zero when planning failed).
	Stats PlanStats
	// Duration is the time the attempt took, conntrack included.
	Duration time.Duration
	// Drift is the drift check error that caused this sync, if any.
	Drift error
	// ConntrackDeleted counts the stale UDP entries deleted.
	ConntrackDeleted int
	// Err is the attempt's error; nil on success.
	Err error
}

// Syncer keeps a Netfilter in step with a Proxier: Run bootstraps the
// top-level chains and jumps, then syncs whenever Sync is called, at most
// once per MinSyncInterval and at least once per MaxSyncInterval, in the
// manner of kube-proxy's bounded-frequency runner. A failed sync is
// retried with exponential backoff, and the next sync after any failure is
// a full one. Every CheckInterval the rules are checked for drift
// (CheckDrift); drift is repaired by Bootstrap and a full sync at once.
//
// A Syncer is safe for concurrent use: Sync may be called from any
// goroutine (informer handlers), Run from one.
type Syncer struct {
	p    *Proxier
	nf   Netfilter
	opts SyncerOptions

	trigger chan struct{}

	mu           sync.Mutex
	lastUDP      []UDPServicePort
	udpKnown     bool
	healthy      bool
	running      bool
	bootstrapped bool
}

// NewSyncer returns a Syncer applying p's plans to nf.
func NewSyncer(p *Proxier, nf Netfilter, opts SyncerOptions) *Syncer {
	if opts.MinSyncInterval <= 0 {
		opts.MinSyncInterval = DefaultMinSyncInterval
	}
	if opts.MaxSyncInterval <= 0 {
		opts.MaxSyncInterval = DefaultMaxSyncInterval
	}
	if opts.MaxSyncInterval < opts.MinSyncInterval {
		opts.MaxSyncInterval = opts.MinSyncInterval
	}
	if opts.CheckInterval == 0 {
		opts.CheckInterval = DefaultCheckInterval
	}
	if opts.FullCheckInterval == 0 {
		opts.FullCheckInterval = DefaultFullCheckInterval
	}
	if opts.RetryInitial <= 0 {
		opts.RetryInitial = DefaultRetryInitial
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = DefaultRetryMax
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.SplitChains == 0 {
		if b, ok := nf.(interface{ Backend() Backend }); ok && b.Backend().Mode == BackendNFT {
			opts.SplitChains = DefaultSplitChains
		}
	}
	if opts.ParallelRestores <= 0 {
		opts.ParallelRestores = min(DefaultParallelRestores, runtime.GOMAXPROCS(0))
	}
	return &Syncer{p: p, nf: nf, opts: opts, trigger: make(chan struct{}, 1)}
}

// Sync asks for a sync. It never blocks; requests made before the sync
// starts coalesce into it.
func (s *Syncer) Sync() {
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}

// Healthy reports whether the last sync attempt succeeded.
func (s *Syncer) Healthy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.healthy
}

// Run syncs until ctx is done, then returns nil. It returns an error at
// once if called while another Run is active.
func (s *Syncer) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("proxy: Syncer.Run called twice")
	}
	s.running = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
	}()

	clk := s.opts.Clock
	now := clk.Now()
	var (
		pending   = true // first sync at once
		lastStart time.Time
		lastSync  = now
		retryAt   time.Time
		backoff   time.Duration
		nextCheck = now.Add(s.opts.CheckInterval)
		nextFull  = now.Add(s.opts.FullCheckInterval)
		drift     error
	)
	for {
		// When is the next thing due?
		var due time.Time
		if pending {
			due = lastStart.Add(s.opts.MinSyncInterval)
			if retryAt.After(due) {
				due = retryAt
			}
		} else {
			due = lastSync.Add(s.opts.MaxSyncInterval)
		}
		if s.opts.CheckInterval > 0 && nextCheck.Before(due) {
			due = nextCheck
		}
		if wait := due.Sub(clk.Now()); wait > 0 {
			timer := clk.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil
			case <-s.trigger:
				timer.Stop()
				pending = true
				continue
			case <-timer.C():
			}
		} else if ctx.Err() != nil {
			return nil
		}
		now = clk.Now()

		if s.opts.CheckInterval > 0 && !now.Before(nextCheck) {
			nextCheck = now.Add(s.opts.CheckInterval)
			if !pending || backoff == 0 {
				full := s.opts.FullCheckInterval > 0 && !now.Before(nextFull)
				if full {
					nextFull = now.Add(s.opts.FullCheckInterval)
				}
				if err := s.check(ctx, full); err != nil {
					if !errors.Is(err, ErrDrift) && ctx.Err() != nil {
						return nil
					}
					drift = err
					s.p.RequestFullSync()
					s.mu.Lock()
					s.bootstrapped = false
					s.mu.Unlock()
					pending, retryAt = true, time.Time{}
				}
			}
		}
		syncDue := (pending && !now.Before(lastStart.Add(s.opts.MinSyncInterval)) && !now.Before(retryAt)) ||
			(!pending && !now.Before(lastSync.Add(s.opts.MaxSyncInterval)))
		if !syncDue {
			continue
		}
		// Drain a request that arrived meanwhile: this sync covers it.
		select {
		case <-s.trigger:
		default:
		}
		lastStart = now
		res := s.syncOnce(ctx)
		res.Drift, drift = drift, nil
		if s.opts.OnSync != nil {
			s.opts.OnSync(res)
		}
		switch {
		case res.Err == nil:
			pending, backoff, retryAt = false, 0, time.Time{}
			lastSync = clk.Now()
		case errors.Is(res.Err, ErrNotSynced):
			// Nothing to do until the informers are synced and call Sync.
			pending, backoff, retryAt = false, 0, time.Time{}
			lastSync = clk.Now()
		default:
			if ctx.Err() != nil {
				return nil
			}
			if backoff == 0 {
				backoff = s.opts.RetryInitial
			} else {
				backoff = min(2*backoff, s.opts.RetryMax)
			}
			pending, retryAt = true, clk.Now().Add(backoff)
		}
	}
}

// check runs one drift check, the complete one when full, and records the
// rule counts.
func (s *Syncer) check(ctx context.Context, full bool) error {
	var rep DriftReport
	var err error
	if full {
		rep, err = s.p.CheckDrift(ctx, s.nf)
	} else {
		err = s.p.CheckDriftQuick(ctx, s.nf)
	}
	if m := s.opts.Metrics; m != nil {
		for table, n := range rep.Rules {
			m.rulesTotal.WithLabelValues(table).Set(float64(n))
		}
		if errors.Is(err, ErrDrift) {
			m.driftRepairs.Inc()
		}
	}
	return err
}

// SyncOnce bootstraps if needed and runs one sync now, outside of Run's
// schedule (for tests, examples and one-shot tools). It must not be
// called while Run is active.
func (s *Syncer) SyncOnce(ctx context.Context) SyncResult {
	return s.syncOnce(ctx)
}

func (s *Syncer) syncOnce(ctx context.Context) (res SyncResult) {
	clk := s.opts.Clock
	start := clk.Now()
	defer func() {
		res.Duration = clk.Since(start)
		s.mu.Lock()
		s.healthy = res.Err == nil
		s.mu.Unlock()
		if res.Err != nil && s.opts.HealthChecks != nil {
			// Keep serving, but as unhealthy (503), as kube-proxy does.
			_ = s.opts.HealthChecks.Update(ctx, s.p.HealthCheckServices(), false)
		}
	}()
	s.mu.Lock()
	bootstrapped := s.bootstrapped
	s.mu.Unlock()
	if !bootstrapped {
		if err := s.p.Bootstrap(ctx, s.nf); err != nil {
			s.p.RequestFullSync()
			res.Err = err
			return res
		}
		s.mu.Lock()
		s.bootstrapped = true
		s.mu.Unlock()
	}
	var r Restorer = s.nf
	if s.opts.SplitChains > 0 {
		r = splittingRestorer{r: s.nf, maxChains: s.opts.SplitChains, perRun: DefaultSectionsPerRestore, parallel: s.opts.ParallelRestores}
	}
	stats, err := s.p.SyncTo(ctx, r, false)
	res.Stats = stats
	elapsed := clk.Since(start)
	if m := s.opts.Metrics; m != nil {
		if err == nil || !errors.Is(err, ErrNotSynced) {
			m.syncDuration.Observe(elapsed.Seconds())
			if stats.Full {
				m.fullSyncDuration.Observe(elapsed.Seconds())
			} else {
				m.partialSyncDuration.Observe(elapsed.Seconds())
			}
		}
		if err != nil && !errors.Is(err, ErrNotSynced) && !errors.Is(err, ErrStalePlan) {
			m.restoreFailures.Inc()
			if !stats.Full {
				m.partialFailures.Inc()
			}
		}
		if err == nil {
			m.lastSync.Set(float64(clk.Now().UnixNano()) / 1e9)
		}
	}
	if err != nil {
		if !errors.Is(err, ErrNotSynced) {
			// A failed restore may have applied some tables, and something
			// may have removed our top-level chains: start over.
			s.p.RequestFullSync()
			s.mu.Lock()
			s.bootstrapped = false
			s.mu.Unlock()
		}
		res.Err = err
		return res
	}
	if stats.Full {
		if rules, ok := s.p.expectedRules(); ok && s.opts.Metrics != nil {
			for table, chains := range rules {
				n := 0
				for _, c := range chains {
					n += max(c, 0)
				}
				s.opts.Metrics.rulesLast.WithLabelValues(table).Set(float64(n))
				s.opts.Metrics.rulesTotal.WithLabelValues(table).Set(float64(n))
			}
		}
	}
	if s.opts.Conntrack != nil {
		n, err := s.reconcileConntrack(ctx)
		res.ConntrackDeleted = n
		if err != nil {
			res.Err = err
			return res
		}
	}
	if s.opts.HealthChecks != nil {
		if err := s.opts.HealthChecks.Update(ctx, s.p.HealthCheckServices(), true); err != nil {
			res.Err = fmt.Errorf("health check servers: %w", err)
			return res
		}
	}
	return res
}

// reconcileConntrack deletes stale UDP entries when the UDP service ports
// or their serving endpoints changed since the last reconciliation (and
// after the first sync).
func (s *Syncer) reconcileConntrack(ctx context.Context) (int, error) {
	ports := s.p.UDPServicePorts()
	s.mu.Lock()
	same := s.udpKnown && udpPortsEqual(s.lastUDP, ports)
	s.mu.Unlock()
	if same {
		return 0, nil
	}
	start := s.opts.Clock.Now()
	n, err := ReconcileConntrack(ctx, s.opts.Conntrack, ports)
	if m := s.opts.Metrics; m != nil {
		m.ctDeleted.Add(float64(n))
		m.ctDuration.Observe(s.opts.Clock.Since(start).Seconds())
	}
	if err != nil {
		return n, err
	}
	s.mu.Lock()
	s.lastUDP, s.udpKnown = ports, true
	s.mu.Unlock()
	return n, nil
}

func udpPortsEqual(a, b []UDPServicePort) bool {
	return slices.EqualFunc(a, b, func(x, y UDPServicePort) bool {
		return x.Name == y.Name && x.NodePort == y.NodePort && slices.Equal(x.Frontends, y.Frontends) && slices.Equal(x.Serving, y.Serving)
	})
}
