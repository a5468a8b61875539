// Command stats-top is a terminal view of the running containers' CPU,
// memory, network and block IO rates, refreshed every second. It uses only
// the stats package: containers are found by walking the kubepods cgroup
// hierarchy (cgroupfs or systemd layout), and any extra cgroups can be named
// with -watch.
//
// Usage (as root, on a node):
//
//	go run ./examples/stats-top
//	go run ./examples/stats-top -watch /system.slice/containerd.service -n 5
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/nodekit/nodekit/stats"
)

type config struct {
	procRoot   string
	cgroupRoot string
	interval   time.Duration
	iterations int
	watch      []string
	clear      bool
}

func main() {
	var cfg config
	var watch string
	flag.StringVar(&cfg.procRoot, "proc", "/proc", "proc mount point")
	flag.StringVar(&cfg.cgroupRoot, "cgroup", "/sys/fs/cgroup", "cgroup mount point")
	flag.DurationVar(&cfg.interval, "interval", time.Second, "refresh interval")
	flag.IntVar(&cfg.iterations, "n", 0, "number of refreshes, 0 for no limit")
	flag.StringVar(&watch, "watch", "", "comma-separated extra cgroup paths to watch")
	flag.BoolVar(&cfg.clear, "clear", true, "clear the screen between refreshes")
	flag.Parse()
	if watch != "" {
		cfg.watch = strings.Split(watch, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "stats-top:", err)
		os.Exit(1)
	}
}

// run refreshes and renders until ctx is done or cfg.iterations is reached.
func run(ctx context.Context, cfg config, w io.Writer) error {
	fsys, err := stats.NewFS(cfg.procRoot, cfg.cgroupRoot)
	if err != nil {
		return err
	}
	c, err := stats.NewCollector(fsys, stats.Options{Interval: cfg.interval})
	if err != nil {
		return err
	}
	defer c.Close()
	for _, p := range cfg.watch {
		if err := c.Add(stats.Target{ID: p}); err != nil {
			return err
		}
	}
	ticker := time.NewTicker(cfg.interval)
	defer ticker.Stop()
	for i := 0; cfg.iterations == 0 || i < cfg.iterations; i++ {
		if _, _, err := c.SyncDiscovered(nil); err != nil {
			return err
		}
		if err := c.Refresh(ctx); err != nil && !errors.Is(err, context.Canceled) {
			fmt.Fprintln(w, "warning:", err)
		}
		render(w, c, fsys.Layout().Mode, cfg.clear)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
	return nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

type row struct {
	name                    string
	cpu                     float64
	hasCPU                  bool
	workingSet, limit       uint64
	rx, tx, ioRead, ioWrite float64
	hasNet, hasIO           bool
}

func render(w io.Writer, c *stats.Collector, mode stats.Mode, clear bool) {
	snap := c.Snapshot()
	var rows []row
	for _, t := range append([]stats.TargetSnapshot{snap.Node}, snap.Targets...) {
		if t.Sample == nil || t.Error != "" {
			continue
		}
		r := row{name: label(t.Target), workingSet: t.Sample.Stats.Memory.WorkingSetBytes}
		if t.Sample.Stats.Memory.Limited() {
			r.limit = t.Sample.Stats.Memory.LimitBytes
		}
		if t.Rates != nil {
			r.cpu, r.hasCPU = float64(t.Rates.CPUNanoCores)/1e9, t.Rates.HasCPU
			r.rx, r.tx, r.hasNet = t.Rates.NetworkRxBytesPerSecond, t.Rates.NetworkTxBytesPerSecond, t.Rates.HasNetwork
			r.ioRead, r.ioWrite, r.hasIO = t.Rates.IOReadBytesPerSecond, t.Rates.IOWriteBytesPerSecond, t.Rates.HasIO
		}
		rows = append(rows, r)
	}
	// The node first, then by CPU use.
	sort.SliceStable(rows[1:], func(i, j int) bool { return rows[1+i].cpu > rows[1+j].cpu })
	if clear {
		fmt.Fprint(w, "\x1b[H\x1b[2J")
	}
	fmt.Fprintf(w, "stats-top  %s  cgroup %s  %d cores  %s memory  %d targets\n\n",
		snap.Time.Format(time.TimeOnly), mode, snap.Machine.NumCores, humanBytes(float64(snap.Machine.MemoryCapacityBytes)), len(snap.Targets))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "CPU\tMEM(WS)\tLIMIT\tNET RX/s\tNET TX/s\tIO R/s\tIO W/s\t  CGROUP")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t  %s\n",
			opt(r.hasCPU, fmt.Sprintf("%.3f", r.cpu)), humanBytes(float64(r.workingSet)), opt(r.limit > 0, humanBytes(float64(r.limit))),
			opt(r.hasNet, humanBytes(r.rx)), opt(r.hasNet, humanBytes(r.tx)), opt(r.hasIO, humanBytes(r.ioRead)), opt(r.hasIO, humanBytes(r.ioWrite)), r.name)
	}
	tw.Flush()
}

func label(t stats.Target) string {
	switch {
	case t.ID == "/":
		return "(node)"
	case t.Container != "":
		return fmt.Sprintf("pod %s container %s", shortID(string(t.PodUID)), shortID(t.Container))
	case t.PodUID != "":
		return fmt.Sprintf("pod %s", shortID(string(t.PodUID)))
	}
	return t.ID
}

func opt(ok bool, s string) string {
	if !ok {
		return "-"
	}
	return s
}

func humanBytes(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f%s", v, units[i])
	}
	return fmt.Sprintf("%.1f%s", v, units[i])
}
