package stats

import (
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/types"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	"k8s.io/utils/ptr"
)

// defaultInterfaceName is the interface the kubelet's Summary copies into
// NetworkStats.InterfaceStats (pkg/kubelet/network.DefaultInterfaceName).
const defaultInterfaceName = "eth0"

// Summary builds the kubelet Summary API document from the newest samples.
//
// Node figures come from the root cgroup (system containers from
// Options.SystemContainers), node memory AvailableBytes is the
// machine's MemTotal minus the working set (as the kubelet computes it),
// and node network figures from NodePID's namespace. Targets sharing a
// PodUID form a pod: the pod's CPU and memory come from its pod-level target
// (Container empty) when registered, else they are summed over its
// containers. Pointer fields are nil when the figure is unknown; container
// AvailableBytes is LimitBytes - WorkingSetBytes, omitted when unlimited.
// Targets whose last read failed (for example a vanished cgroup) are left
// out. Container Rootfs and Logs are filled for targets with RootfsPath or
// LogsPath; pod VolumeStats for volumes registered with SetPodVolumes; pod
// EphemeralStorage as the kubelet computes it (see podStorage); node Fs
// from Options.RootfsDir and Runtime.ImageFs (and ContainerFs, the same
// filesystem) from Options.ImageFsDir. StartTime of pods and containers is
// the time of their first successful sample (the kubelet uses the runtime's
// creation time, which cgroups do not record); the node's is the boot time.
// The node's Rlimit is read from the proc root when Summary is called, as
// the kubelet reads it (FS.Rlimit); it is left out when that read fails,
// where the kubelet fails the whole summary. Accelerator figures are not
// produced.
func (c *Collector) Summary(nodeName string) *statsapi.Summary {
	s := &statsapi.Summary{Node: c.nodeStats(nodeName), Pods: []statsapi.PodStats{}}
	c.mu.RLock()
	order := append([]*entry(nil), c.order...)
	c.mu.RUnlock()

	type podAcc struct {
		ref        statsapi.PodReference
		pod        *entry
		containers []*entry
	}
	pods := map[string]*podAcc{}
	var podOrder []*podAcc
	for _, e := range order {
		if e.target.PodUID == "" {
			continue
		}
		uid := string(e.target.PodUID)
		p := pods[uid]
		if p == nil {
			p = &podAcc{ref: statsapi.PodReference{Name: e.target.Pod.Name, Namespace: e.target.Pod.Namespace, UID: uid}}
			pods[uid] = p
			podOrder = append(podOrder, p)
		}
		if e.target.Container == "" {
			p.pod = e
		} else {
			p.containers = append(p.containers, e)
		}
	}
	sort.Slice(podOrder, func(i, j int) bool {
		a, b := podOrder[i].ref, podOrder[j].ref
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.UID < b.UID
	})
	for _, p := range podOrder {
		ps := statsapi.PodStats{PodRef: p.ref, Containers: []statsapi.ContainerStats{}}
		var views []entryView
		for _, e := range p.containers {
			v, ok := e.view()
			if !ok {
				continue
			}
			views = append(views, v)
			ps.Containers = append(ps.Containers, statsapi.ContainerStats{
				Name:      e.target.Container,
				StartTime: v.firstSeen,
				CPU:       v.cpuStats(),
				Memory:    v.memoryStats(),
				IO:        v.ioStats(),
				Swap:      v.swapStats(),
				Rootfs:    fsStats(v.rootfs),
				Logs:      fsStats(v.logs),
			})
		}
		sort.Slice(ps.Containers, func(i, j int) bool { return ps.Containers[i].Name < ps.Containers[j].Name })
		podView, hasPod := entryView{}, false
		if p.pod != nil {
			podView, hasPod = p.pod.view()
		}
		switch {
		case hasPod:
			ps.StartTime = podView.firstSeen
			ps.CPU, ps.Memory, ps.IO, ps.Swap = podView.cpuStats(), podView.memoryStats(), podView.ioStats(), podView.swapStats()
			ps.Network = podView.networkStats()
			ps.ProcessStats = podView.processStats()
		case len(views) > 0:
			agg := aggregate(views)
			ps.StartTime = agg.firstSeen
			ps.CPU, ps.Memory, ps.Swap = agg.cpuStats(), agg.memoryStats(), agg.swapStats()
			ps.ProcessStats = agg.processStats()
		default:
			continue // nothing sampled for this pod
		}
		c.podStorage(&ps, types.UID(p.ref.UID))
		if ps.Network == nil {
			for _, v := range views {
				if n := v.networkStats(); n != nil {
					ps.Network = n
					break
				}
			}
		}
		s.Pods = append(s.Pods, ps)
	}
	return s
}

func (c *Collector) nodeStats(nodeName string) statsapi.NodeStats {
	n := statsapi.NodeStats{NodeName: nodeName, StartTime: metav1.NewTime(c.machine.BootTime)}
	v, ok := c.node.view()
	if !ok {
		return n
	}
	n.CPU = v.cpuStats()
	n.Memory = v.memoryStats()
	if n.Memory != nil && c.machine.MemoryCapacityBytes > 0 {
		avail := uint64(0)
		if c.machine.MemoryCapacityBytes > v.stats.Memory.WorkingSetBytes {
			avail = c.machine.MemoryCapacityBytes - v.stats.Memory.WorkingSetBytes
		}
		n.Memory.AvailableBytes = ptr.To(avail)
	}
	n.IO = v.ioStats()
	n.Network = v.networkStats()
	n.Swap = v.swapStats()
	if r, err := c.fs.Rlimit(); err == nil {
		n.Rlimit = &statsapi.RlimitStats{Time: metav1.NewTime(c.opts.Clock.Now()), NumOfRunningProcesses: ptr.To(r.Tasks)}
		if r.MaxPID > 0 {
			n.Rlimit.MaxPID = ptr.To(r.MaxPID)
		}
	}
	if root, at, image := c.nodeFilesystems(); root != nil || image != nil {
		if root != nil {
			n.Fs = filesystemFsStats(root, at)
		}
		if image != nil {
			imageFs := fsStats(image)
			// One filesystem serves images and writable layers (no split
			// image filesystem): the kubelet then reports it as both.
			containerFs := *imageFs
			n.Runtime = &statsapi.RuntimeStats{ImageFs: imageFs, ContainerFs: &containerFs}
		}
	}
	for _, sc := range c.system {
		sv, ok := sc.entry.view()
		if !ok {
			continue
		}
		n.SystemContainers = append(n.SystemContainers, statsapi.ContainerStats{
			Name:      sc.name,
			StartTime: sv.firstSeen,
			CPU:       sv.cpuStats(),
			Memory:    sv.memoryStats(),
			IO:        sv.ioStats(),
			Swap:      sv.swapStats(),
		})
	}
	return n
}

// entryView is a consistent copy of what the exports need from an entry.
type entryView struct {
	target    Target
	time      metav1.Time
	firstSeen metav1.Time
	stats     CgroupStats
	net       []InterfaceStats
	netOK     bool
	rates     Rates
	hasRates  bool
	rootfs    *DiskUsage
	logs      *DiskUsage
}

// view copies the newest sample; ok is false when there is none or the last
// read failed.
func (e *entry) view() (entryView, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.sampled || e.lastErr != nil {
		return entryView{}, false
	}
	v := entryView{target: e.target, time: metav1.NewTime(e.sampledAt), firstSeen: metav1.NewTime(e.firstSeen), netOK: e.netOK}
	v.stats.CopyFrom(&e.latest)
	if e.netOK {
		v.net = append([]InterfaceStats(nil), e.latestNet.Interfaces...)
	}
	v.rates, v.hasRates = e.rates()
	v.rootfs, v.logs = e.rootfs, e.logs
	return v, true
}

// aggregate sums the CPU and memory figures of containers whose pod-level
// cgroup is not registered.
func aggregate(views []entryView) entryView {
	agg := entryView{time: views[0].time, firstSeen: views[0].firstSeen, hasRates: true}
	agg.rates.HasCPU = true
	agg.stats.Mask = views[0].stats.Mask
	agg.stats.Memory.HasSwap = true
	agg.stats.Memory.HasPageFaults = true
	limited := true
	for _, v := range views {
		if v.time.After(agg.time.Time) {
			agg.time = v.time
		}
		if v.firstSeen.Before(&agg.firstSeen) {
			agg.firstSeen = v.firstSeen
		}
		agg.stats.Mask &= v.stats.Mask
		agg.stats.CPU.UsageNanos += v.stats.CPU.UsageNanos
		if !v.hasRates || !v.rates.HasCPU {
			agg.rates.HasCPU = false
		}
		agg.rates.CPUNanoCores += v.rates.CPUNanoCores
		m, am := &v.stats.Memory, &agg.stats.Memory
		am.UsageBytes += m.UsageBytes
		am.WorkingSetBytes += m.WorkingSetBytes
		am.RSSBytes += m.RSSBytes
		am.PageFaults += m.PageFaults
		am.HasPageFaults = am.HasPageFaults && m.HasPageFaults
		am.MajorPageFaults += m.MajorPageFaults
		am.SwapBytes += m.SwapBytes
		am.HasSwap = am.HasSwap && m.HasSwap
		am.LimitBytes += m.LimitBytes
		limited = limited && m.Limited()
		agg.stats.Processes.Processes += v.stats.Processes.Processes
	}
	if !limited {
		agg.stats.Memory.LimitBytes = 1<<64 - 1
	}
	return agg
}

func (v *entryView) cpuStats() *statsapi.CPUStats {
	if !v.stats.Mask.Has(MaskCPU) {
		return nil
	}
	s := &statsapi.CPUStats{Time: v.time, UsageCoreNanoSeconds: ptr.To(v.stats.CPU.UsageNanos)}
	if v.hasRates && v.rates.HasCPU {
		s.UsageNanoCores = ptr.To(v.rates.CPUNanoCores)
	}
	if v.stats.PSI.Available {
		s.PSI = psiStats(&v.stats.PSI.CPU)
	}
	return s
}

func (v *entryView) memoryStats() *statsapi.MemoryStats {
	if !v.stats.Mask.Has(MaskMemory) {
		return nil
	}
	m := &v.stats.Memory
	s := &statsapi.MemoryStats{
		Time:            v.time,
		UsageBytes:      ptr.To(m.UsageBytes),
		WorkingSetBytes: ptr.To(m.WorkingSetBytes),
		RSSBytes:        ptr.To(m.RSSBytes),
	}
	if m.HasPageFaults {
		s.PageFaults = ptr.To(m.PageFaults)
		s.MajorPageFaults = ptr.To(m.MajorPageFaults)
	}
	if m.Limited() {
		avail := uint64(0)
		if m.LimitBytes > m.WorkingSetBytes {
			avail = m.LimitBytes - m.WorkingSetBytes
		}
		s.AvailableBytes = ptr.To(avail)
	}
	if v.stats.PSI.Available {
		s.PSI = psiStats(&v.stats.PSI.Memory)
	}
	return s
}

func (v *entryView) ioStats() *statsapi.IOStats {
	if !v.stats.PSI.Available {
		return nil
	}
	return &statsapi.IOStats{Time: v.time, PSI: psiStats(&v.stats.PSI.IO)}
}

func (v *entryView) swapStats() *statsapi.SwapStats {
	if !v.stats.Mask.Has(MaskMemory) || !v.stats.Memory.HasSwap {
		return nil
	}
	return &statsapi.SwapStats{Time: v.time, SwapUsageBytes: ptr.To(v.stats.Memory.SwapBytes)}
}

func (v *entryView) processStats() *statsapi.ProcessStats {
	if !v.stats.Mask.Has(MaskProcesses) {
		return nil
	}
	return &statsapi.ProcessStats{ProcessCount: ptr.To(v.stats.Processes.Processes)}
}

func (v *entryView) networkStats() *statsapi.NetworkStats {
	if !v.netOK {
		return nil
	}
	s := &statsapi.NetworkStats{Time: v.time, Interfaces: make([]statsapi.InterfaceStats, 0, len(v.net))}
	for _, i := range v.net {
		is := statsapi.InterfaceStats{Name: i.Name, RxBytes: ptr.To(i.RxBytes), RxErrors: ptr.To(i.RxErrors), TxBytes: ptr.To(i.TxBytes), TxErrors: ptr.To(i.TxErrors)}
		s.Interfaces = append(s.Interfaces, is)
		if i.Name == defaultInterfaceName {
			s.InterfaceStats = is
		}
	}
	return s
}

// fsStats reports a directory's usage on its filesystem, as the kubelet
// does for container root filesystems and logs: capacity, available and
// inodes of the filesystem, used bytes and inodes of the directory.
func fsStats(d *DiskUsage) *statsapi.FsStats {
	if d == nil {
		return nil
	}
	return &statsapi.FsStats{
		Time:           metav1.NewTime(d.Dir.Time),
		AvailableBytes: ptr.To(d.Filesystem.AvailableBytes),
		CapacityBytes:  ptr.To(d.Filesystem.CapacityBytes),
		UsedBytes:      ptr.To(d.Dir.Bytes),
		InodesFree:     ptr.To(d.Filesystem.InodesFree),
		Inodes:         ptr.To(d.Filesystem.Inodes),
		InodesUsed:     ptr.To(d.Dir.Inodes),
	}
}

// filesystemFsStats reports a whole filesystem, as the kubelet's node Fs:
// used bytes and inodes are those of the filesystem.
func filesystemFsStats(f *FilesystemStats, at time.Time) *statsapi.FsStats {
	return &statsapi.FsStats{
		Time:           metav1.NewTime(at),
		AvailableBytes: ptr.To(f.AvailableBytes),
		CapacityBytes:  ptr.To(f.CapacityBytes),
		UsedBytes:      ptr.To(f.UsedBytes),
		InodesFree:     ptr.To(f.InodesFree),
		Inodes:         ptr.To(f.Inodes),
		InodesUsed:     ptr.To(f.InodesUsed),
	}
}

// podStorage fills a pod's VolumeStats from its registered volumes and its
// EphemeralStorage as the kubelet's calcEphemeralStorage does
// (pkg/kubelet/stats/helper.go): capacity, available and inodes of the node
// root filesystem (Options.RootfsDir), used bytes and inodes summed over the
// containers' root filesystems and logs and the pod's ephemeral volumes
// (those without a PVC); the time is the newest of the parts.
func (c *Collector) podStorage(ps *statsapi.PodStats, uid types.UID) {
	vols := c.volumeUsages(uid, false)
	for _, v := range vols {
		vs := statsapi.VolumeStats{FsStats: *fsStats(v.usage), Name: v.vol.Name}
		if v.vol.PVC.Name != "" {
			vs.PVCRef = &statsapi.PVCReference{Name: v.vol.PVC.Name, Namespace: v.vol.PVC.Namespace}
		}
		ps.VolumeStats = append(ps.VolumeStats, vs)
	}
	root, rootAt, _ := c.nodeFilesystems()
	e := &statsapi.FsStats{}
	if root != nil {
		e = filesystemFsStats(root, rootAt)
		e.UsedBytes, e.InodesUsed = nil, nil
	}
	add := func(f *statsapi.FsStats, inodes bool) {
		if f == nil {
			return
		}
		e.UsedBytes = addUsage(e.UsedBytes, f.UsedBytes)
		if inodes {
			e.InodesUsed = addUsage(e.InodesUsed, f.InodesUsed)
		}
		if f.Time.After(e.Time.Time) {
			e.Time = f.Time
		}
	}
	for i := range ps.Containers {
		ctr := &ps.Containers[i]
		if ctr.Rootfs == nil {
			continue
		}
		add(ctr.Rootfs, true)
		add(ctr.Logs, true)
	}
	for _, vs := range ps.VolumeStats {
		if vs.PVCRef == nil {
			add(&vs.FsStats, true)
		}
	}
	if root != nil || e.UsedBytes != nil {
		ps.EphemeralStorage = e
	}
}

// addUsage adds two optional figures, as the kubelet's helper of the same
// name: nil plus x is x.
func addUsage(a, b *uint64) *uint64 {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return ptr.To(*a + *b)
}

// psiStats converts a pressure file; the Summary API wants nanoseconds.
func psiStats(p *Pressure) *statsapi.PSIStats {
	conv := func(l PressureLine) statsapi.PSIData {
		return statsapi.PSIData{Total: l.TotalMicros * 1000, Avg10: l.Avg10, Avg60: l.Avg60, Avg300: l.Avg300}
	}
	return &statsapi.PSIStats{Some: conv(p.Some), Full: conv(p.Full)}
}
