package stats

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
)

// Options configures a Collector. The zero value means every documented
// default.
type Options struct {
	// Interval between housekeeping passes. Default 1s.
	Interval time.Duration
	// MaxJitter bounds the random delay added to each interval so that many
	// nodes do not read in lockstep. Default Interval/10; negative disables.
	MaxJitter time.Duration
	// HistoryLength is the number of samples kept per target. Default 120
	// (2 minutes at 1 s). Window summaries only cover what the history
	// holds: keep 3600 samples for an exact one-hour summary.
	HistoryLength int
	// Workers bounds the goroutines reading cgroups during a pass.
	// Default 4.
	Workers int
	// Mask selects what each sample reads. Default MaskDefault.
	Mask Mask
	// LimitsInterval is how often MaskLimits files are re-read; in
	// between, samples carry the last limits read. Default 10s; negative
	// re-reads them every pass. A target's limits are also re-read after it
	// was missing.
	LimitsInterval time.Duration
	// Clock is the time source. Default clock.RealClock{}.
	Clock clock.WithTicker
	// ReopenFiles makes every sample open and close each file, instead of
	// keeping a target's cgroup files open between samples and re-reading
	// them from offset 0 (the default, which needs about 12 descriptors
	// per cgroup v1 target and 9 per v2 target, and halves the cost of a
	// sample on cgroupfs: see BenchmarkCollectLive). Go raises the soft
	// RLIMIT_NOFILE to the hard limit at start-up.
	ReopenFiles bool
	// MaxOpenFiles bounds the descriptors kept open across all targets;
	// files beyond it are opened at each sample. Default half the soft
	// RLIMIT_NOFILE of the process.
	MaxOpenFiles int
	// DirUsage measures Target.RootfsPath and LogsPath. Default: a
	// DirUsageCache with its defaults (1 minute TTL, 1 s budget per walk).
	DirUsage DirUsageMeter
	// CgroupRoot is the kubelet's --cgroup-root, the cgroup under which
	// SyncDiscovered looks for the kubepods hierarchy (FS.DiscoverUnder).
	// Default "/", the root of each hierarchy.
	CgroupRoot string
	// SystemContainers maps the names of the Summary's node system
	// containers ("pods", "kubelet", "runtime", "misc") to cgroup paths,
	// for example {"pods": "/kubepods"}. They are sampled with the node and
	// exported in Summary.Node.SystemContainers and as Prometheus series.
	SystemContainers map[string]string
	// NodePID is a process in the node's network namespace, used for node
	// network figures. Default 1; negative disables node network figures.
	NodePID int
	// RootfsDir is a directory on the node's root filesystem, normally the
	// kubelet's root directory (/var/lib/kubelet): Summary's node Fs is the
	// statfs of its filesystem, and pods' EphemeralStorage capacity comes
	// from it, as in the kubelet. Empty means no node Fs figures.
	RootfsDir string
	// ImageFsDir is the container runtime's image store (for example
	// /var/lib/containerd): Summary's node Runtime.ImageFs reports the
	// statfs of its filesystem and the directory's usage, walked like
	// container root filesystems. Empty means no ImageFs figures.
	ImageFsDir string
	// MachineIDFile is read into Machine.MachineID. Default
	// "/etc/machine-id".
	MachineIDFile string
	// SystemUUIDFile is read into Machine.SystemUUID. Default
	// "/sys/class/dmi/id/product_uuid".
	SystemUUIDFile string
}

func (o *Options) setDefaults() {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.MaxJitter == 0 {
		o.MaxJitter = o.Interval / 10
	}
	if o.MaxJitter < 0 {
		o.MaxJitter = 0
	}
	if o.HistoryLength <= 0 {
		o.HistoryLength = 120
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.Mask == 0 {
		o.Mask = MaskDefault
	}
	if o.LimitsInterval == 0 {
		o.LimitsInterval = 10 * time.Second
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	if o.MaxOpenFiles <= 0 {
		o.MaxOpenFiles = defaultMaxOpenFiles()
	}
	if o.DirUsage == nil {
		o.DirUsage = NewDirUsageCache(DirUsageOptions{Clock: o.Clock})
	}
	if o.NodePID == 0 {
		o.NodePID = 1
	}
	if o.NodePID < 0 {
		o.NodePID = 0
	}
	if o.MachineIDFile == "" {
		o.MachineIDFile = "/etc/machine-id"
	}
	if o.SystemUUIDFile == "" {
		o.SystemUUIDFile = "/sys/class/dmi/id/product_uuid"
	}
}

// Collector samples registered targets (and the node's root cgroup) on a
// fixed interval, keeps a bounded history per target and derives rates and
// window summaries. One housekeeping loop drives a bounded pool of workers;
// there is never a goroutine per target.
//
// A Collector is safe for concurrent use: Add, Remove, queries and exports
// may run while Run or Refresh samples. Passes never overlap.
type Collector struct {
	fs      FS
	opts    Options
	machine Machine

	mu      sync.RWMutex
	targets map[string]*entry
	order   []*entry // sorted by ID; rebuilt on Add/Remove
	node    *entry
	// system holds the node's system containers, sorted by name; fixed at
	// construction.
	system []systemContainer

	passMu  sync.Mutex // serialises passes; guards readers and entries' files
	readers []*Reader
	// retired holds removed entries whose open files the next pass (or
	// Close) closes; guarded by mu.
	retired []*entry
	budget  *fdBudget
	// volumes are the registered pod volumes (SetPodVolumes), guarded by
	// mu; each holds its own measurement.
	volumes map[types.UID][]*podVolume
	nodeFs  nodeFilesystems
	running atomic.Bool
	refresh chan struct{}
}

// systemContainer is a named node-level cgroup (Summary system container).
type systemContainer struct {
	name  string
	entry *entry
}

// allEntries returns the node and system-container entries followed by
// the targets, the set a pass or a scrape walks.
func (c *Collector) allEntries() []*entry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	work := make([]*entry, 0, len(c.order)+1+len(c.system))
	work = append(work, c.node)
	for _, sc := range c.system {
		work = append(work, sc.entry)
	}
	return append(work, c.order...)
}

// entry is the state of one target. Fields below mu are guarded by it;
// scratch fields are owned by the pass that samples the entry.
type entry struct {
	target Target
	// discovered marks targets added by SyncDiscovered, which may remove
	// them again.
	discovered bool

	scratch    CgroupStats
	scratchNet NetworkStats
	// files caches open cgroup files, owned by the pass like scratch.
	files openFiles
	// Limits cache, owned by the pass like scratch.
	limits    limitsCache
	limitsAt  time.Time
	hasLimits bool

	mu        sync.Mutex
	history   ring
	latest    CgroupStats
	latestNet NetworkStats
	netOK     bool
	sampled   bool
	sampledAt time.Time
	firstSeen time.Time
	lastErr   error
	missing   bool
	rootfs    *DiskUsage
	logs      *DiskUsage
}

// NewCollector returns a Collector reading through fs. It reads the machine
// description once (cores, memory capacity, boot time).
func NewCollector(fs FS, opts Options) (*Collector, error) {
	opts.setDefaults()
	m, err := fs.Machine()
	if err != nil {
		return nil, fmt.Errorf("stats: NewCollector: %w", err)
	}
	m.readIdentity(opts.MachineIDFile, opts.SystemUUIDFile)
	for name, dir := range map[string]string{"RootfsDir": opts.RootfsDir, "ImageFsDir": opts.ImageFsDir} {
		if dir != "" && !strings.HasPrefix(dir, "/") {
			return nil, fmt.Errorf("stats: NewCollector: field %s: %q is not absolute: %w", name, dir, ErrInvalidTarget)
		}
	}
	c := &Collector{
		fs:      fs,
		opts:    opts,
		machine: m,
		targets: map[string]*entry{},
		volumes: map[types.UID][]*podVolume{},
		refresh: make(chan struct{}, 1),
	}
	c.node = &entry{target: Target{ID: "/", PID: opts.NodePID}, history: newRing(opts.HistoryLength)}
	for name, p := range opts.SystemContainers {
		if err := validateCgroupPath(p); err != nil || p == "/" {
			return nil, fmt.Errorf("stats: NewCollector: field SystemContainers[%q]: %q is not a non-root cgroup path: %w", name, p, ErrInvalidTarget)
		}
		c.system = append(c.system, systemContainer{name: name, entry: &entry{target: Target{ID: p}, history: newRing(opts.HistoryLength)}})
	}
	sort.Slice(c.system, func(i, j int) bool { return c.system[i].name < c.system[j].name })
	c.budget = &fdBudget{max: int64(opts.MaxOpenFiles)}
	for range opts.Workers {
		r := fs.NewReader()
		r.budget = c.budget
		c.readers = append(c.readers, r)
	}
	return c, nil
}

// Machine returns the machine description read by NewCollector.
func (c *Collector) Machine() Machine { return c.machine }

// Options returns the effective options (defaults applied).
func (c *Collector) Options() Options { return c.opts }

// Add registers a target. It is sampled from the next pass on. Adding an ID
// twice returns ErrAlreadyRegistered; an invalid Target returns an error
// wrapping ErrInvalidTarget naming the field.
func (c *Collector) Add(t Target) error {
	if err := t.validate(); err != nil {
		return fmt.Errorf("stats: Add: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.targets[t.ID]; ok {
		return fmt.Errorf("stats: Add %q: %w", t.ID, ErrAlreadyRegistered)
	}
	c.targets[t.ID] = &entry{target: t, history: newRing(c.opts.HistoryLength)}
	c.rebuildOrder()
	return nil
}

// Remove stops watching a target and drops its history. Removing an
// unknown ID is a no-op.
func (c *Collector) Remove(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.targets[id]; ok {
		delete(c.targets, id)
		c.forget(e)
		c.rebuildOrder()
	}
}

// forget releases what a removed target holds: its open files (closed by
// the next pass, which owns them) and its cached directory usage. c.mu is
// held.
func (c *Collector) forget(e *entry) {
	c.retired = append(c.retired, e)
	if f, ok := c.opts.DirUsage.(interface{ Forget(string) }); ok {
		for _, p := range []string{e.target.RootfsPath, e.target.LogsPath} {
			if p != "" {
				f.Forget(p)
			}
		}
	}
}

// Targets returns the registered targets sorted by ID.
func (c *Collector) Targets() []Target {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Target, len(c.order))
	for i, e := range c.order {
		out[i] = e.target
	}
	return out
}

func (c *Collector) rebuildOrder() {
	c.order = c.order[:0]
	for _, e := range c.targets {
		c.order = append(c.order, e)
	}
	sort.Slice(c.order, func(i, j int) bool { return c.order[i].target.ID < c.order[j].target.ID })
}

// Run samples every Options.Interval (plus up to MaxJitter) until ctx is
// done, then returns nil. Passes start on a fixed schedule: a slow pass
// shortens the next wait instead of drifting. A Refresh restarts the
// interval from its own pass. Only one Run may be active.
func (c *Collector) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("stats: Collector.Run: already running")
	}
	defer c.running.Store(false)
	defer c.Close()
	doPass := true
	for {
		start := c.opts.Clock.Now()
		if doPass {
			_ = c.pass(ctx) // per-target errors are kept in each target's status
		}
		doPass = true
		wait := c.opts.Interval - c.opts.Clock.Since(start)
		if c.opts.MaxJitter > 0 {
			wait += rand.N(c.opts.MaxJitter + 1)
		}
		if wait < 0 {
			wait = 0
		}
		t := c.opts.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		case <-c.refresh:
			// Refresh has just run a pass: restart the interval from now.
			t.Stop()
			doPass = false
		}
	}
}

// Refresh runs one pass now, on the caller's goroutine (waiting for a pass
// in progress to finish), and returns the errors of targets that failed for
// a reason other than having vanished (ErrNotFound), joined. A running Run
// loop then counts its next interval from this pass.
func (c *Collector) Refresh(ctx context.Context) error {
	err := c.pass(ctx)
	select {
	case c.refresh <- struct{}{}:
	default:
	}
	// A running loop consumes the nudge; without one, drop it.
	if !c.running.Load() {
		select {
		case <-c.refresh:
		default:
		}
	}
	return err
}

// pass samples the node and every target once.
func (c *Collector) pass(ctx context.Context) error {
	c.passMu.Lock()
	defer c.passMu.Unlock()
	c.closeRetired()
	work := c.allEntries()
	errs := make([]error, c.opts.Workers)
	c.parallel(ctx, len(work), 64, func(w, i int) {
		if err := c.sample(c.readers[w], work[i]); err != nil && !errors.Is(err, ErrNotFound) && errs[w] == nil {
			errs[w] = err
		}
	})
	// Filesystems: cheap statfs calls, and directory walks that the
	// DirUsage cache runs at most once per TTL.
	c.measureNodeFilesystems()
	vols := c.allVolumes()
	c.parallel(ctx, len(vols), 8, func(_, i int) { c.measureVolume(vols[i]) })
	if err := ctx.Err(); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// parallel calls fn(worker, i) for i in [0, n) on at most Options.Workers
// goroutines, one per perWorker items, until ctx is done.
func (c *Collector) parallel(ctx context.Context, n, perWorker int, fn func(worker, i int)) {
	workers := min(c.opts.Workers, (n+perWorker-1)/perWorker)
	var next atomic.Int64
	run := func(w int) {
		for ctx.Err() == nil {
			i := int(next.Add(1)) - 1
			if i >= n {
				return
			}
			fn(w, i)
		}
	}
	switch {
	case workers == 0:
	case workers == 1:
		run(0)
	default:
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() { run(w) })
		}
		wg.Wait()
	}
}

// defaultMaxOpenFiles is half the soft RLIMIT_NOFILE (Go raises it to the
// hard limit at start-up), leaving the rest to the program.
func defaultMaxOpenFiles() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur < 64 {
		return 512
	}
	return int(min(rl.Cur/2, 1<<20))
}

// closeRetired closes the files of removed targets; c.passMu is held.
func (c *Collector) closeRetired() {
	c.mu.Lock()
	retired := c.retired
	c.retired = nil
	c.mu.Unlock()
	for _, e := range retired {
		e.files.closeAll()
	}
}

// Close releases the cgroup files the Collector keeps open between samples
// (see Options.ReopenFiles). It waits for a pass in progress. The Collector
// stays usable: later passes open the files again. Run calls it when it
// returns.
func (c *Collector) Close() error {
	c.passMu.Lock()
	defer c.passMu.Unlock()
	c.closeRetired()
	for _, e := range c.allEntries() {
		e.files.closeAll()
	}
	return nil
}

// limitsCache holds the MaskLimits figures between re-reads.
type limitsCache struct {
	cpu    CPULimits
	memory uint64
	pids   uint64
}

// sample reads one entry and records the result.
func (c *Collector) sample(r *Reader, e *entry) error {
	now := c.opts.Clock.Now()
	mask := c.opts.Mask
	cached := mask.Has(MaskLimits) && e.hasLimits && c.opts.LimitsInterval > 0 &&
		now.Sub(e.limitsAt) < c.opts.LimitsInterval && !e.missing
	if cached {
		mask &^= MaskLimits
	}
	var err error
	if c.opts.ReopenFiles {
		err = r.Stat(e.target.ID, mask, &e.scratch)
	} else if err = r.statCached(e.target.ID, mask, &e.files, &e.scratch); err != nil {
		e.files.closeAll() // reopen by path next time: the cgroup may be recreated
	}
	var rootfs, logs *DiskUsage
	if err == nil && (e.target.RootfsPath != "" || e.target.LogsPath != "") {
		rootfs, logs = c.diskUsage(e.target.RootfsPath), c.diskUsage(e.target.LogsPath)
	}
	if err == nil && c.opts.Mask.Has(MaskLimits) {
		s := &e.scratch
		if cached {
			s.CPULimits, s.Memory.LimitBytes, s.Pids.Limit = e.limits.cpu, e.limits.memory, e.limits.pids
			s.Mask |= MaskLimits
		} else {
			e.limits = limitsCache{cpu: s.CPULimits, memory: s.Memory.LimitBytes, pids: s.Pids.Limit}
			e.limitsAt, e.hasLimits = now, true
		}
	}
	netOK := false
	if err == nil && e.target.PID > 0 {
		netOK = r.NetDev(e.target.PID, &e.scratchNet) == nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.lastErr = err
		if errors.Is(err, ErrNotFound) {
			e.missing = true
		}
		return fmt.Errorf("target %q: %w", e.target.ID, err)
	}
	e.latest, e.scratch = e.scratch, e.latest
	e.latestNet, e.scratchNet = e.scratchNet, e.latestNet
	e.netOK = netOK
	e.rootfs, e.logs = rootfs, logs
	if !e.sampled {
		e.firstSeen = now
	}
	e.sampled = true
	e.sampledAt = now
	e.lastErr = nil
	p := point{
		unixNano:   now.UnixNano(),
		cpuNanos:   e.latest.CPU.UsageNanos,
		usage:      e.latest.Memory.UsageBytes,
		workingSet: e.latest.Memory.WorkingSetBytes,
		ioRead:     e.latest.IO.ReadBytes,
		ioWrite:    e.latest.IO.WriteBytes,
	}
	if e.latest.Mask.Has(MaskIO) {
		p.flags |= pointHasIO
	}
	if netOK {
		p.flags |= pointHasNet
		for i := range e.latestNet.Interfaces {
			p.netRx += e.latestNet.Interfaces[i].RxBytes
			p.netTx += e.latestNet.Interfaces[i].TxBytes
		}
	}
	if e.missing {
		p.flags |= pointAfterGap
		e.missing = false
	}
	e.history.push(p)
	return nil
}

func (c *Collector) lookup(id string) (*entry, error) {
	if id == "/" {
		return c.node, nil
	}
	for _, sc := range c.system {
		if sc.entry.target.ID == id {
			return sc.entry, nil
		}
	}
	c.mu.RLock()
	e, ok := c.targets[id]
	c.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("stats: %q: %w", id, ErrUnknownTarget)
	}
	return e, nil
}

// Sample is a copy of the newest sample of a target.
type Sample struct {
	// Time is when the sample was taken.
	Time time.Time `json:"time"`
	// Stats holds the cgroup figures.
	Stats CgroupStats `json:"stats"`
	// Network holds the interface counters; nil without a PID or when the
	// process could not be read.
	Network *NetworkStats `json:"network,omitempty"`
}

// Status describes a target's sampling state.
type Status struct {
	// FirstSeen is the time of the first successful sample.
	FirstSeen time.Time `json:"firstSeen"`
	// LastSample is the time of the newest successful sample.
	LastSample time.Time `json:"lastSample"`
	// LastError is the error of the most recent pass, nil if it succeeded.
	// It wraps ErrNotFound when the cgroup has vanished.
	LastError error `json:"-"`
	// Samples is the number of samples in the history.
	Samples int `json:"samples"`
}

// Latest returns a copy of the newest sample of the target with the given
// ID ("/" is the node). ok is false before the first successful sample.
func (c *Collector) Latest(id string) (s Sample, ok bool, err error) {
	e, err := c.lookup(id)
	if err != nil {
		return s, false, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.sampled {
		return s, false, nil
	}
	return e.copySample(), true, nil
}

func (e *entry) copySample() Sample {
	s := Sample{Time: e.sampledAt}
	s.Stats.CopyFrom(&e.latest)
	if e.netOK {
		s.Network = &NetworkStats{Interfaces: append([]InterfaceStats(nil), e.latestNet.Interfaces...)}
	}
	return s
}

// Status returns the sampling state of a target.
func (c *Collector) Status(id string) (Status, error) {
	e, err := c.lookup(id)
	if err != nil {
		return Status{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return Status{FirstSeen: e.firstSeen, LastSample: e.sampledAt, LastError: e.lastErr, Samples: e.history.n}, nil
}

// Rates returns the figures derived from the two newest samples. ok is false
// with fewer than two samples or when the newest sample failed (a vanished
// cgroup yields no rate at all rather than a bogus one).
func (c *Collector) Rates(id string) (r Rates, ok bool, err error) {
	e, err := c.lookup(id)
	if err != nil {
		return r, false, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	r, ok = e.rates()
	return r, ok, nil
}

func (e *entry) rates() (Rates, bool) {
	if e.history.n < 2 || e.lastErr != nil {
		return Rates{}, false
	}
	return rates(e.history.at(e.history.n-2), e.history.at(e.history.n-1)), true
}

// History returns the compact history of a target, oldest first, as
// HistoryPoints.
func (c *Collector) History(id string) ([]HistoryPoint, error) {
	e, err := c.lookup(id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]HistoryPoint, e.history.n)
	for i := range out {
		p := e.history.at(i)
		out[i] = HistoryPoint{
			Time: time.Unix(0, p.unixNano), CPUUsageNanos: p.cpuNanos, MemoryUsageBytes: p.usage,
			WorkingSetBytes: p.workingSet, IOReadBytes: p.ioRead, IOWriteBytes: p.ioWrite,
			NetworkRxBytes: p.netRx, NetworkTxBytes: p.netTx, HasNetwork: p.flags&pointHasNet != 0,
		}
	}
	return out, nil
}

// HistoryPoint is one entry of a target's history.
type HistoryPoint struct {
	Time             time.Time `json:"time"`
	CPUUsageNanos    uint64    `json:"cpuUsageNanos"`
	MemoryUsageBytes uint64    `json:"memoryUsageBytes"`
	WorkingSetBytes  uint64    `json:"workingSetBytes"`
	IOReadBytes      uint64    `json:"ioReadBytes"`
	IOWriteBytes     uint64    `json:"ioWriteBytes"`
	NetworkRxBytes   uint64    `json:"networkRxBytes"`
	NetworkTxBytes   uint64    `json:"networkTxBytes"`
	HasNetwork       bool      `json:"hasNetwork"`
}

// WindowSummary summarises a target's history over the window ending at its
// newest sample, with exact percentiles.
func (c *Collector) WindowSummary(id string, window time.Duration) (WindowSummary, error) {
	if window <= 0 {
		return WindowSummary{}, fmt.Errorf("stats: WindowSummary: window %v must be positive", window)
	}
	e, err := c.lookup(id)
	if err != nil {
		return WindowSummary{}, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.history.summarize(window), nil
}

// DirUsageMeter measures a directory tree; *DirUsageCache implements it.
// When it also has a Forget(path string) method, the Collector calls it for
// the paths of removed targets.
type DirUsageMeter interface {
	Usage(ctx context.Context, path string) (DirUsage, error)
}

// DiskUsage combines the usage of a directory with the figures of the
// filesystem holding it.
type DiskUsage struct {
	Dir        DirUsage        `json:"dir"`
	Filesystem FilesystemStats `json:"filesystem"`
	// Major and Minor are the device number of the filesystem (st_dev),
	// which labels cAdvisor's container_fs_* series.
	Major uint32 `json:"major"`
	Minor uint32 `json:"minor"`
}

// diskUsage measures path; nil when path is empty or cannot be measured
// (the figures are then unknown, not zero).
func (c *Collector) diskUsage(path string) *DiskUsage {
	if path == "" {
		return nil
	}
	fsStats, err := StatFilesystem(path)
	if err != nil {
		return nil
	}
	major, minor, err := deviceOf(path)
	if err != nil {
		return nil
	}
	du, err := c.opts.DirUsage.Usage(context.Background(), path)
	if err != nil {
		return nil
	}
	return &DiskUsage{Dir: du, Filesystem: fsStats, Major: major, Minor: minor}
}

// WindowSummaries returns the summaries over WindowMinute, WindowTenMinutes
// and WindowHour, computed from one consistent view of the history.
func (c *Collector) WindowSummaries(id string) ([]WindowSummary, error) {
	e, err := c.lookup(id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return []WindowSummary{e.history.summarize(WindowMinute), e.history.summarize(WindowTenMinutes), e.history.summarize(WindowHour)}, nil
}
