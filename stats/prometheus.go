package stats

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// PrometheusOptions configures a PrometheusCollector. The zero value exports
// every family without timestamps.
type PrometheusOptions struct {
	// Families is an allowlist of metric family names (see
	// PrometheusFamilies); nil or empty exports all. An unknown name is an
	// error.
	Families []string
	// Timestamps attaches each sample's collection time to its metrics.
	// Off by default, as in the kubelet: Prometheus then stamps the scrape.
	Timestamps bool
	// PerCPU exports container_cpu_usage_seconds_total per CPU
	// (cpu="cpu00", "cpu01", ..., CPUs with zero usage left out) instead of
	// one cpu="total" series, for samples that carry per-CPU figures (cgroup
	// v1 cpuacct.usage_percpu, read when the Collector's Mask has
	// MaskCPUPerCPU). Off by default, as cAdvisor's percpu metric set and
	// the kubelet.
	PerCPU bool
}

// baseLabels are the kubelet's labels for cAdvisor metrics
// (pkg/kubelet/server: containerPrometheusLabelsFunc).
var baseLabels = []string{"container", "id", "image", "name", "namespace", "pod"}

// promFamily describes one exported metric family, named, documented and
// labelled exactly like cAdvisor's (metrics/prometheus.go).
type promFamily struct {
	name        string
	help        string
	valueType   prometheus.ValueType
	extraLabels []string
	// extraNames is extraLabels sorted, the order values' extra arguments
	// must follow.
	extraNames []string
	// values calls emit for each sample of the family; it is only called
	// for entries with a successful latest sample.
	values func(v *entryView, d DeviceNames, em *emitter)
	// machine marks a machine_* family: one series per scrape labelled
	// with the machine's identity (machineLabels), not per target.
	machine      bool
	machineValue func(m *Machine) float64
}

// machineLabels are cAdvisor's labels of machine_* metrics
// (metrics/prometheus_machine.go).
var machineLabels = []string{"machine_id", "system_uuid", "boot_id"}

func machineFamily(name, help string, f func(m *Machine) float64) promFamily {
	return promFamily{name: name, help: help, valueType: prometheus.GaugeValue, machine: true, machineValue: f}
}

func fsFamily(name, help string, field func(d *DiskUsage) uint64) promFamily {
	return promFamily{name: name, help: help, valueType: prometheus.GaugeValue, extraLabels: []string{"device"},
		values: func(v *entryView, d DeviceNames, em *emitter) {
			if v.rootfs != nil {
				em.emit(float64(field(v.rootfs)), d.Name(v.rootfs.Major, v.rootfs.Minor))
			}
		}}
}

func psiFamily(name, help string, line func(p *PSIStats) uint64) promFamily {
	return promFamily{name: name, help: help, valueType: prometheus.CounterValue, values: func(v *entryView, _ DeviceNames, em *emitter) {
		if ifMask(v, MaskPSI) && v.stats.PSI.Available {
			em.emit(float64(line(&v.stats.PSI)) / 1e6)
		}
	}}
}

func seconds(ns uint64) float64 { return float64(ns) / float64(time.Second) }

// specMemoryValue maps an unlimited memory limit to 0, as cAdvisor does.
func specMemoryValue(m *MemoryStats) float64 {
	if !m.Limited() {
		return 0
	}
	return float64(m.LimitBytes)
}

func ifMask(v *entryView, m Mask) bool { return v.stats.Mask.Has(m) }

func netFamily(name, help string, field func(*InterfaceStats) uint64) promFamily {
	return promFamily{name: name, help: help, valueType: prometheus.CounterValue, extraLabels: []string{"interface"},
		values: func(v *entryView, _ DeviceNames, em *emitter) {
			for i := range v.net {
				em.emit(float64(field(&v.net[i])), v.net[i].Name)
			}
		}}
}

func ioFamily(name, help string, field func(*IODevice) uint64) promFamily {
	return promFamily{name: name, help: help, valueType: prometheus.CounterValue, extraLabels: []string{"device"},
		values: func(v *entryView, d DeviceNames, em *emitter) {
			if !ifMask(v, MaskIO) {
				return
			}
			for i := range v.stats.IO.Devices {
				dev := &v.stats.IO.Devices[i]
				em.emit(float64(field(dev)), d.Name(dev.Major, dev.Minor))
			}
		}}
}

func gauge(name, help string, need Mask, f func(*CgroupStats) (float64, bool)) promFamily {
	return scalar(name, help, prometheus.GaugeValue, need, f)
}

func counter(name, help string, need Mask, f func(*CgroupStats) (float64, bool)) promFamily {
	return scalar(name, help, prometheus.CounterValue, need, f)
}

func scalar(name, help string, t prometheus.ValueType, need Mask, f func(*CgroupStats) (float64, bool)) promFamily {
	return promFamily{name: name, help: help, valueType: t, values: func(v *entryView, _ DeviceNames, em *emitter) {
		if !ifMask(v, need) {
			return
		}
		if val, ok := f(&v.stats); ok {
			em.emit(val)
		}
	}}
}

func always(f func(*CgroupStats) float64) func(*CgroupStats) (float64, bool) {
	return func(s *CgroupStats) (float64, bool) { return f(s), true }
}

// promFamilies is the table of exported families, in exposition order.
var promFamilies = []promFamily{
	counter("container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.", MaskCPU,
		always(func(s *CgroupStats) float64 { return seconds(s.CPU.UserNanos) })),
	counter("container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.", MaskCPU,
		always(func(s *CgroupStats) float64 { return seconds(s.CPU.SystemNanos) })),
	{name: "container_cpu_usage_seconds_total", help: "Cumulative cpu time consumed in seconds.", valueType: prometheus.CounterValue,
		extraLabels: []string{"cpu"}, values: func(v *entryView, _ DeviceNames, em *emitter) {
			// cAdvisor without per-CPU metrics (the kubelet's setting)
			// exports one series labelled cpu="total"; with them, one per
			// CPU that has run the cgroup.
			if !ifMask(v, MaskCPU) {
				return
			}
			if em.perCPU && len(v.stats.CPU.PerCPUNanos) > 0 {
				for i, ns := range v.stats.CPU.PerCPUNanos {
					if ns > 0 {
						em.emit(seconds(ns), cpuLabel(i))
					}
				}
				return
			}
			em.emit(seconds(v.stats.CPU.UsageNanos), "total")
		}},
	// As in cAdvisor, CFS figures exist only for cgroups with a CFS quota.
	counter("container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.", MaskCPU|MaskLimits,
		func(s *CgroupStats) (float64, bool) { return float64(s.CPU.Periods), s.CPULimits.QuotaMicros > 0 }),
	counter("container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.", MaskCPU|MaskLimits,
		func(s *CgroupStats) (float64, bool) {
			return float64(s.CPU.ThrottledPeriods), s.CPULimits.QuotaMicros > 0
		}),
	counter("container_cpu_cfs_throttled_seconds_total", "Total time duration the container has been throttled.", MaskCPU|MaskLimits,
		func(s *CgroupStats) (float64, bool) {
			return seconds(s.CPU.ThrottledNanos), s.CPULimits.QuotaMicros > 0
		}),
	gauge("container_memory_cache", "Number of bytes of page cache memory.", MaskMemory,
		always(func(s *CgroupStats) float64 { return float64(s.Memory.CacheBytes) })),
	gauge("container_memory_rss", "Size of RSS in bytes.", MaskMemory,
		always(func(s *CgroupStats) float64 { return float64(s.Memory.RSSBytes) })),
	gauge("container_memory_mapped_file", "Size of memory mapped files in bytes.", MaskMemory,
		always(func(s *CgroupStats) float64 { return float64(s.Memory.MappedFileBytes) })),
	gauge("container_memory_swap", "Container swap usage in bytes.", MaskMemory,
		func(s *CgroupStats) (float64, bool) { return float64(s.Memory.SwapBytes), s.Memory.HasSwap }),
	counter("container_memory_failcnt", "Number of memory usage hits limits", MaskMemory,
		always(func(s *CgroupStats) float64 { return float64(s.Memory.Failcnt) })),
	gauge("container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed", MaskMemory,
		always(func(s *CgroupStats) float64 { return float64(s.Memory.UsageBytes) })),
	gauge("container_memory_max_usage_bytes", "Maximum memory usage recorded in bytes", MaskMemory,
		func(s *CgroupStats) (float64, bool) { return float64(s.Memory.MaxUsageBytes), s.Memory.HasMaxUsage }),
	gauge("container_memory_working_set_bytes", "Current working set in bytes.", MaskMemory,
		always(func(s *CgroupStats) float64 { return float64(s.Memory.WorkingSetBytes) })),
	{name: "container_memory_failures_total", help: "Cumulative count of memory allocation failures.", valueType: prometheus.CounterValue,
		extraLabels: []string{"failure_type", "scope"}, values: func(v *entryView, _ DeviceNames, em *emitter) {
			m := &v.stats.Memory
			if !ifMask(v, MaskMemory) || !m.HasPageFaults {
				return
			}
			em.emit(float64(m.PageFaults), "pgfault", "container")
			em.emit(float64(m.MajorPageFaults), "pgmajfault", "container")
			em.emit(float64(m.HierarchicalPageFaults), "pgfault", "hierarchy")
			em.emit(float64(m.HierarchicalMajorPageFaults), "pgmajfault", "hierarchy")
		}},
	counter("container_oom_events_total", "Count of out of memory events observed for the container", MaskMemory,
		func(s *CgroupStats) (float64, bool) { return float64(s.Memory.Events.OOMKill), s.Memory.HasEvents }),
	gauge("container_spec_memory_limit_bytes", "Memory limit for the container.", MaskLimits,
		always(func(s *CgroupStats) float64 { return specMemoryValue(&s.Memory) })),
	gauge("container_spec_cpu_period", "CPU period of the container.", MaskLimits,
		func(s *CgroupStats) (float64, bool) {
			return float64(s.CPULimits.PeriodMicros), s.CPULimits.PeriodMicros > 0
		}),
	gauge("container_spec_cpu_quota", "CPU quota of the container.", MaskLimits,
		func(s *CgroupStats) (float64, bool) {
			return float64(s.CPULimits.QuotaMicros), s.CPULimits.QuotaMicros > 0
		}),
	gauge("container_spec_cpu_shares", "CPU share of the container.", MaskLimits,
		func(s *CgroupStats) (float64, bool) { return float64(s.CPULimits.Shares), s.CPULimits.Shares > 0 }),
	netFamily("container_network_receive_bytes_total", "Cumulative count of bytes received", func(i *InterfaceStats) uint64 { return i.RxBytes }),
	netFamily("container_network_receive_packets_total", "Cumulative count of packets received", func(i *InterfaceStats) uint64 { return i.RxPackets }),
	netFamily("container_network_receive_packets_dropped_total", "Cumulative count of packets dropped while receiving", func(i *InterfaceStats) uint64 { return i.RxDropped }),
	netFamily("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving", func(i *InterfaceStats) uint64 { return i.RxErrors }),
	netFamily("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted", func(i *InterfaceStats) uint64 { return i.TxBytes }),
	netFamily("container_network_transmit_packets_total", "Cumulative count of packets transmitted", func(i *InterfaceStats) uint64 { return i.TxPackets }),
	netFamily("container_network_transmit_packets_dropped_total", "Cumulative count of packets dropped while transmitting", func(i *InterfaceStats) uint64 { return i.TxDropped }),
	netFamily("container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting", func(i *InterfaceStats) uint64 { return i.TxErrors }),
	ioFamily("container_fs_reads_bytes_total", "Cumulative count of bytes read", func(d *IODevice) uint64 { return d.ReadBytes }),
	ioFamily("container_fs_writes_bytes_total", "Cumulative count of bytes written", func(d *IODevice) uint64 { return d.WriteBytes }),
	ioFamily("container_fs_reads_total", "Cumulative count of reads completed", func(d *IODevice) uint64 { return d.ReadOps }),
	ioFamily("container_fs_writes_total", "Cumulative count of writes completed", func(d *IODevice) uint64 { return d.WriteOps }),
	gauge("container_processes", "Number of processes running inside the container.", MaskProcesses,
		always(func(s *CgroupStats) float64 { return float64(s.Processes.Processes) })),
	gauge("container_file_descriptors", "Number of open file descriptors for the container.", MaskProcesses,
		always(func(s *CgroupStats) float64 { return float64(s.Processes.FileDescriptors) })),
	gauge("container_sockets", "Number of open sockets for the container.", MaskProcesses,
		always(func(s *CgroupStats) float64 { return float64(s.Processes.Sockets) })),
	gauge("container_threads", "Number of threads running inside the container", MaskPids,
		func(s *CgroupStats) (float64, bool) { return float64(s.Pids.Current), s.Pids.HasCurrent }),
	gauge("container_threads_max", "Maximum number of threads allowed inside the container, infinity if value is zero", MaskPids|MaskLimits,
		func(s *CgroupStats) (float64, bool) { return float64(s.Pids.Limit), s.Pids.HasCurrent }),
	{name: "container_last_seen", help: "Last time a container was seen by the exporter", valueType: prometheus.GaugeValue,
		values: func(v *entryView, _ DeviceNames, em *emitter) {
			em.emit(float64(v.time.Unix()))
		}},
	// Filesystem usage of the container's writable layer (Target.RootfsPath),
	// labelled with the device of its filesystem; the limit is that
	// filesystem's capacity, as in cAdvisor.
	fsFamily("container_fs_inodes_free", "Number of available Inodes", func(d *DiskUsage) uint64 { return d.Filesystem.InodesFree }),
	fsFamily("container_fs_inodes_total", "Number of Inodes", func(d *DiskUsage) uint64 { return d.Filesystem.Inodes }),
	fsFamily("container_fs_limit_bytes", "Number of bytes that can be consumed by the container on this filesystem.", func(d *DiskUsage) uint64 { return d.Filesystem.CapacityBytes }),
	fsFamily("container_fs_usage_bytes", "Number of bytes that are consumed by the container on this filesystem.", func(d *DiskUsage) uint64 { return d.Dir.Bytes }),
	// Pressure stall information (cgroup v2, MaskPSI): "full" is stalled,
	// "some" is waiting, in seconds.
	psiFamily("container_pressure_cpu_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to CPU congestion.",
		func(p *PSIStats) uint64 { return p.CPU.Full.TotalMicros }),
	psiFamily("container_pressure_cpu_waiting_seconds_total", "Total time duration tasks in the container have waited due to CPU congestion.",
		func(p *PSIStats) uint64 { return p.CPU.Some.TotalMicros }),
	psiFamily("container_pressure_memory_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to memory congestion.",
		func(p *PSIStats) uint64 { return p.Memory.Full.TotalMicros }),
	psiFamily("container_pressure_memory_waiting_seconds_total", "Total time duration tasks in the container have waited due to memory congestion.",
		func(p *PSIStats) uint64 { return p.Memory.Some.TotalMicros }),
	psiFamily("container_pressure_io_stalled_seconds_total", "Total time duration no tasks in the container could make progress due to IO congestion.",
		func(p *PSIStats) uint64 { return p.IO.Full.TotalMicros }),
	psiFamily("container_pressure_io_waiting_seconds_total", "Total time duration tasks in the container have waited due to IO congestion.",
		func(p *PSIStats) uint64 { return p.IO.Some.TotalMicros }),
	machineFamily("machine_cpu_cores", "Number of logical CPU cores.", func(m *Machine) float64 { return float64(m.NumCores) }),
	machineFamily("machine_memory_bytes", "Amount of memory installed on the machine.", func(m *Machine) float64 { return float64(m.MemoryCapacityBytes) }),
}

// cpuLabels are the per-CPU label values cAdvisor uses ("cpu%02d").
var cpuLabels = func() []string {
	out := make([]string, 256)
	for i := range out {
		out[i] = fmt.Sprintf("cpu%02d", i)
	}
	return out
}()

func cpuLabel(i int) string {
	if i < len(cpuLabels) {
		return cpuLabels[i]
	}
	return fmt.Sprintf("cpu%02d", i)
}

// PrometheusFamilies lists the metric family names a PrometheusCollector
// can export.
func PrometheusFamilies() []string {
	out := make([]string, len(promFamilies))
	for i, f := range promFamilies {
		out[i] = f.name
	}
	return out
}

// PrometheusCollector exports a Collector's newest samples as Prometheus
// metrics with cAdvisor's names, help texts and label sets, and the
// kubelet's base labels (container, id, image, name, namespace, pod).
// Descriptors are created once, in NewPrometheusCollector. A scrape reads
// the newest samples; it never reads cgroup files itself. It is both a
// prometheus.Collector (register it in a Registry) and a
// prometheus.Gatherer (serve it directly, about twice as cheap).
//
// A PrometheusCollector is safe for concurrent use.
type PrometheusCollector struct {
	c          *Collector
	families   []promFamily
	descs      []*prometheus.Desc
	devices    DeviceNames
	timestamps bool
	perCPU     bool
	// machinePairs are the machine_* families' label pairs, sorted by
	// name.
	machinePairs []*dto.LabelPair
}

var _ prometheus.Collector = (*PrometheusCollector)(nil)

// NewPrometheusCollector returns a prometheus.Collector over c.
func NewPrometheusCollector(c *Collector, opts PrometheusOptions) (*PrometheusCollector, error) {
	p := &PrometheusCollector{c: c, timestamps: opts.Timestamps, perCPU: opts.PerCPU}
	m := c.Machine()
	p.machinePairs = sortedPairs(machineLabels, []string{m.MachineID, m.SystemUUID, m.BootID})
	for _, name := range opts.Families {
		if !slices.ContainsFunc(promFamilies, func(f promFamily) bool { return f.name == name }) {
			return nil, fmt.Errorf("stats: NewPrometheusCollector: field Families: unknown metric family %q", name)
		}
	}
	for _, f := range promFamilies {
		if len(opts.Families) > 0 && !slices.Contains(opts.Families, f.name) {
			continue
		}
		f.extraNames = slices.Clone(f.extraLabels)
		sort.Strings(f.extraNames)
		p.families = append(p.families, f)
		labels := append(slices.Clone(baseLabels), f.extraLabels...)
		if f.machine {
			labels = machineLabels
		}
		p.descs = append(p.descs, prometheus.NewDesc(f.name, f.help, labels, nil))
	}
	// Device names only label IO series: without /proc/partitions the
	// series are labelled "MAJ:MIN".
	p.devices, _ = c.fs.DeviceNames()
	return p, nil
}

// Describe implements prometheus.Collector.
func (p *PrometheusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range p.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
//
// Series are emitted in the order the registry sorts them (by label values,
// container first), and every series of a target shares one set of base
// label pairs, so a scrape allocates little beyond what the registry itself
// needs.
func (p *PrometheusCollector) Collect(ch chan<- prometheus.Metric) {
	views, bases := p.snapshot()
	m := p.c.Machine()
	// One emitter and one slab serve the whole scrape: per-series objects
	// come from chunks, not one allocation each.
	em := &emitter{ch: ch, timestamps: p.timestamps, perCPU: p.perCPU, slab: &metricSlab{}}
	for fi := range p.families {
		f := &p.families[fi]
		if f.machine {
			ch <- &fastGauge{desc: p.descs[fi], value: f.machineValue(&m), labels: p.machinePairs}
			continue
		}
		em.desc, em.family = p.descs[fi], f
		for vi := range views {
			em.base, em.view = bases[vi], &views[vi]
			f.values(&views[vi], p.devices, em)
		}
	}
}

// snapshot copies the newest sample of every target, sorted the way the
// registry sorts series (by label values, container first), with the
// targets' base label pairs.
func (p *PrometheusCollector) snapshot() ([]entryView, [][]*dto.LabelPair) {
	work := p.c.allEntries()
	views := make([]entryView, 0, len(work))
	for _, e := range work {
		if v, ok := e.view(); ok {
			views = append(views, v)
		}
	}
	slices.SortFunc(views, func(a, b entryView) int {
		ta, tb := &a.target, &b.target
		for _, pair := range [...][2]string{{ta.Container, tb.Container}, {ta.ID, tb.ID}, {ta.Image, tb.Image},
			{ta.Name, tb.Name}, {ta.Pod.Namespace, tb.Pod.Namespace}, {ta.Pod.Name, tb.Pod.Name}} {
			if pair[0] != pair[1] {
				return strings.Compare(pair[0], pair[1])
			}
		}
		return 0
	})
	bases := make([][]*dto.LabelPair, len(views))
	for i := range views {
		bases[i] = baseLabelPairs(&views[i].target)
	}
	return views, bases
}

// Gather implements prometheus.Gatherer: it builds the metric families
// directly, without the channel hand-off and per-series consistency checks
// of a Registry, in the same sorted order a Registry produces. Serve it with
// promhttp.HandlerFor(p, ...) or merge it with a registry through
// prometheus.Gatherers{registry, p}; it must then not also be registered in
// that registry. Registering p as a Collector works too and gives the same
// exposition at a higher cost (see BenchmarkScrape).
func (p *PrometheusCollector) Gather() ([]*dto.MetricFamily, error) {
	views, bases := p.snapshot()
	out := make([]*dto.MetricFamily, 0, len(p.families))
	m := p.c.Machine()
	em := &emitter{timestamps: p.timestamps, perCPU: p.perCPU, slab: &metricSlab{}}
	for fi := range p.families {
		f := &p.families[fi]
		if f.machine {
			v := f.machineValue(&m)
			out = append(out, &dto.MetricFamily{Name: &f.name, Help: &f.help, Type: dtoType(f.valueType),
				Metric: []*dto.Metric{{Label: p.machinePairs, Gauge: &dto.Gauge{Value: &v}}}})
			continue
		}
		mf := &dto.MetricFamily{Name: &f.name, Help: &f.help, Type: dtoType(f.valueType), Metric: make([]*dto.Metric, 0, len(views))}
		em.family, em.mf = f, mf
		for vi := range views {
			em.base, em.view = bases[vi], &views[vi]
			f.values(&views[vi], p.devices, em)
		}
		if len(mf.Metric) == 0 {
			continue
		}
		if len(f.extraNames) > 0 {
			// Extra labels can interleave with the base labels' order.
			slices.SortStableFunc(mf.Metric, compareLabelValues)
		}
		out = append(out, mf)
	}
	slices.SortFunc(out, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out, nil
}

var _ prometheus.Gatherer = (*PrometheusCollector)(nil)

func dtoType(t prometheus.ValueType) *dto.MetricType {
	mt := dto.MetricType_GAUGE
	if t == prometheus.CounterValue {
		mt = dto.MetricType_COUNTER
	}
	return &mt
}

// compareLabelValues orders series of one family (same label names) by
// their label values, as the Registry does.
func compareLabelValues(a, b *dto.Metric) int {
	for i := range a.Label {
		if c := strings.Compare(a.Label[i].GetValue(), b.Label[i].GetValue()); c != 0 {
			return c
		}
	}
	return 0
}

// emitter sends the series of one family for one target, to a Collect
// channel or into a MetricFamily being gathered.
type emitter struct {
	ch         chan<- prometheus.Metric
	mf         *dto.MetricFamily
	slab       *metricSlab
	desc       *prometheus.Desc
	family     *promFamily
	base       []*dto.LabelPair
	view       *entryView
	timestamps bool
	perCPU     bool
}

// emit sends one series; extra holds the family's extra label values in
// the order of extraNames.
func (em *emitter) emit(value float64, extra ...string) {
	labels := em.base
	if len(extra) > 0 {
		labels = em.slab.mergeLabelPairs(em.base, em.family.extraNames, extra)
	}
	if em.mf != nil {
		var m *dto.Metric
		if em.family.valueType == prometheus.CounterValue {
			g := em.slab.counter()
			g.value = value
			g.counter.Value = &g.value
			g.metric.Counter = &g.counter
			m = &g.metric
		} else {
			g := em.slab.gauge()
			g.value = value
			g.gauge.Value = &g.value
			g.metric.Gauge = &g.gauge
			m = &g.metric
		}
		m.Label = labels
		if em.timestamps {
			ms := em.view.time.UnixMilli()
			m.TimestampMs = &ms
		}
		em.mf.Metric = append(em.mf.Metric, m)
		return
	}
	var m prometheus.Metric
	if em.family.valueType == prometheus.CounterValue {
		c := em.slab.fastCounter()
		c.desc, c.labels, c.value = em.desc, labels, value
		m = c
	} else {
		g := em.slab.fastGauge()
		g.desc, g.labels, g.value = em.desc, labels, value
		m = g
	}
	if em.timestamps {
		em.ch <- prometheus.NewMetricWithTimestamp(em.view.time.Time, m)
		return
	}
	em.ch <- m
}

// gatheredCounter and gatheredGauge hold a series and its value in one
// object; metricSlab hands them out from chunks so that a scrape does a few
// hundred allocations instead of one per series.
type gatheredCounter struct {
	metric  dto.Metric
	counter dto.Counter
	value   float64
}

type gatheredGauge struct {
	metric dto.Metric
	gauge  dto.Gauge
	value  float64
}

const slabChunk = 512

type metricSlab struct {
	counters     []gatheredCounter
	gauges       []gatheredGauge
	fastCounters []fastCounter
	fastGauges   []fastGauge
	pairs        []dto.LabelPair
	pairPtrs     []*dto.LabelPair
	strs         []string
}

// take returns n zeroed elements from the chunk *buf, starting a new chunk
// of max(size, n) when the current one is full. Chunks are never grown in
// place: earlier series keep pointers into them.
func take[T any](buf *[]T, n, size int) []T {
	if len(*buf)+n > cap(*buf) {
		*buf = make([]T, 0, max(size, n))
	}
	*buf = (*buf)[:len(*buf)+n]
	return (*buf)[len(*buf)-n:]
}

// fastCounter and fastGauge return zeroed series from the current chunk.
func (s *metricSlab) fastCounter() *fastCounter { return &take(&s.fastCounters, 1, slabChunk)[0] }

func (s *metricSlab) fastGauge() *fastGauge { return &take(&s.fastGauges, 1, slabChunk)[0] }

// labelPairs returns n zeroed pairs from a chunk.
func (s *metricSlab) labelPairs(n int) []dto.LabelPair { return take(&s.pairs, n, slabChunk) }

// pairSlice returns an empty slice with room for exactly n pair pointers,
// from a chunk.
func (s *metricSlab) pairSlice(n int) []*dto.LabelPair {
	return take(&s.pairPtrs, n, 4*slabChunk)[:0:n]
}

// strings returns n empty strings from a chunk, stable storage for label
// values.
func (s *metricSlab) strings(n int) []string { return take(&s.strs, n, slabChunk) }

// mergeLabelPairs merges sorted base pairs with extra name/value pairs,
// keeping the result sorted by name; the pairs and the slice come from
// the slab. The values are copied into the pairs, so callers may reuse
// their slice.
func (s *metricSlab) mergeLabelPairs(base []*dto.LabelPair, names []string, values []string) []*dto.LabelPair {
	extra := s.labelPairs(len(names))
	strs := s.strings(len(values))
	copy(strs, values)
	for i := range names {
		extra[i] = dto.LabelPair{Name: labelNames[names[i]], Value: &strs[i]}
	}
	out := s.pairSlice(len(base) + len(names))
	bi, ei := 0, 0
	for bi < len(base) || ei < len(extra) {
		if ei == len(extra) || (bi < len(base) && base[bi].GetName() < extra[ei].GetName()) {
			out = append(out, base[bi])
			bi++
		} else {
			out = append(out, &extra[ei])
			ei++
		}
	}
	return out
}

// counter and gauge return a zeroed series from the current chunk.
func (s *metricSlab) counter() *gatheredCounter { return &take(&s.counters, 1, slabChunk)[0] }

func (s *metricSlab) gauge() *gatheredGauge { return &take(&s.gauges, 1, slabChunk)[0] }

// fastCounter and fastGauge are prometheus.Metrics with precomputed,
// shared, sorted label pairs (the registry only reads them) and the dto
// value they hand to the registry, so that Write does not allocate.
type fastCounter struct {
	desc    *prometheus.Desc
	labels  []*dto.LabelPair
	value   float64
	counter dto.Counter
}

type fastGauge struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	value  float64
	gauge  dto.Gauge
}

// Desc implements prometheus.Metric.
func (m *fastCounter) Desc() *prometheus.Desc { return m.desc }

// Write implements prometheus.Metric; the label pairs are shared, not
// copied, as client_golang's own const metrics do.
func (m *fastCounter) Write(out *dto.Metric) error {
	m.counter.Value = &m.value
	out.Label, out.Counter = m.labels, &m.counter
	return nil
}

// Desc implements prometheus.Metric.
func (m *fastGauge) Desc() *prometheus.Desc { return m.desc }

// Write implements prometheus.Metric, as fastCounter's.
func (m *fastGauge) Write(out *dto.Metric) error {
	m.gauge.Value = &m.value
	out.Label, out.Gauge = m.labels, &m.gauge
	return nil
}

// labelNames holds one pointer per label name, shared by every pair.
var labelNames = func() map[string]*string {
	m := map[string]*string{}
	for _, n := range []string{"container", "id", "image", "name", "namespace", "pod", "cpu", "interface", "device", "failure_type", "scope",
		"machine_id", "system_uuid", "boot_id"} {
		m[n] = &n
	}
	return m
}()

// baseLabelPairs returns the kubelet's labels of a target, sorted by name.
func baseLabelPairs(t *Target) []*dto.LabelPair {
	vals := [...]string{t.Container, t.ID, t.Image, t.Name, t.Pod.Namespace, t.Pod.Name}
	pairs := make([]*dto.LabelPair, len(baseLabels))
	store := make([]dto.LabelPair, len(baseLabels))
	for i, n := range baseLabels {
		store[i] = dto.LabelPair{Name: labelNames[n], Value: &vals[i]}
		pairs[i] = &store[i]
	}
	return pairs
}

// sortedPairs returns label pairs for names and values, sorted by name.
func sortedPairs(names, values []string) []*dto.LabelPair {
	pairs := make([]*dto.LabelPair, len(names))
	for i := range names {
		pairs[i] = &dto.LabelPair{Name: labelNames[names[i]], Value: &values[i]}
	}
	slices.SortFunc(pairs, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	return pairs
}
