//go:build linux

package prober_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/kubelettest"
	"github.com/nodekit/nodekit/kubelet/prober"
)

// benchServerEnv, when set, makes the test binary serve HTTP probes on
// loopback instead of running tests: BenchmarkProbes runs the probed
// server in a child process so that the CPU it measures is the prober's
// (and the engine's), not the server's.
const benchServerEnv = "NODEKIT_PROBE_BENCH_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(benchServerEnv) != "" {
		serveProbes()
		return
	}
	os.Exit(m.Run())
}

// serveProbes answers 200 on 127.0.0.1, prints the port, and exits when
// stdin closes.
func serveProbes() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(0)
	}()
	_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
}

// processCPU is the CPU time (user+system) this process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// childCPU is the CPU time of process pid from /proc (clock ticks of
// 10 ms).
func childCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// BenchmarkProbes measures the CPU cost of HTTP readiness probes of n pods
// at a 1 s period against a loopback server in another process, once all
// pods are ready: cpu-ms/s is the CPU time of this process (prober, engine
// and fake runtime) per second of wall time, server-cpu-ms/s the server's.
// Each iteration is one second of steady state. The coalesce variants
// set Options.Coalesce.
func BenchmarkProbes(b *testing.B) {
	for _, tc := range []struct {
		n        int
		coalesce time.Duration
	}{{1000, 0}, {1000, 10 * time.Millisecond}, {1000, 100 * time.Millisecond}} {
		name := fmt.Sprintf("pods=%d", tc.n)
		if tc.coalesce > 0 {
			name += ",coalesce=" + tc.coalesce.String()
		}
		n := tc.n
		b.Run(name, func(b *testing.B) {
			port, serverPid := startProbeServer(b)

			rt := kubelettest.NewFakeRuntime(nil)
			m := prober.New(rt, prober.Options{Coalesce: tc.coalesce})
			s := kubelet.New(rt, kubelet.Options{Probes: m})
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); _ = s.Run(ctx) }()
			src := &countingSource{Syncer: s}
			go func() { defer wg.Done(); _ = m.Run(ctx, src) }()
			defer func() { cancel(); wg.Wait() }()

			pods := make([]*v1.Pod, n)
			for i := range pods {
				p := newPod(fmt.Sprintf("pod-%05d", i))
				p.Spec.Containers[0].ReadinessProbe = &v1.Probe{
					ProbeHandler:  v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Host: "127.0.0.1", Port: intstr.FromInt(port), Path: "/ready"}},
					PeriodSeconds: 1,
				}
				pods[i] = p
			}
			if err := s.SetPods(pods); err != nil {
				b.Fatal(err)
			}
			for !allReady(s, pods) {
				time.Sleep(50 * time.Millisecond)
			}
			// One more period so that start-up work is over.
			time.Sleep(2 * time.Second)

			b.ReportAllocs()
			b.ResetTimer()
			trig0 := src.triggers.Load()
			cpu0, srv0, wall0 := processCPU(), childCPU(serverPid), time.Now()
			for range b.N {
				time.Sleep(time.Second)
			}
			cpu, srv, wall := processCPU()-cpu0, childCPU(serverPid)-srv0, time.Since(wall0)
			b.StopTimer()
			if !allReady(s, pods) {
				b.Fatal("pods not ready at the end")
			}
			b.ReportMetric(float64(cpu.Milliseconds())/wall.Seconds(), "cpu-ms/s")
			b.ReportMetric(float64(srv.Milliseconds())/wall.Seconds(), "server-cpu-ms/s")
			b.ReportMetric(float64(src.triggers.Load()-trig0)/wall.Seconds(), "triggers/s")
		})
	}
}

// startProbeServer runs serveProbes in a child process until b ends and
// returns its port and process ID.
func startProbeServer(b *testing.B) (int, int) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), benchServerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		b.Fatal(err)
	}
	return port, cmd.Process.Pid
}

// BenchmarkProbeFloor is the baseline of BenchmarkProbes: n goroutines
// that each, once a second, open a TCP connection to the same server,
// write a fixed GET request, read the answer and close, with nothing else
// (no engine, no prober, no request building or response parsing). The
// difference to BenchmarkProbes is what the prober and the engine add to
// the kernel's cost of a connection per probe. The coalesce variant starts
// the goroutines on a grid of that step, as Options.Coalesce does probes,
// so that many connections are made at the same instants.
func BenchmarkProbeFloor(b *testing.B) {
	for _, tc := range []struct {
		n        int
		coalesce time.Duration
	}{{1000, 0}, {1000, 100 * time.Millisecond}} {
		n := tc.n
		name := fmt.Sprintf("conns=%d", n)
		if tc.coalesce > 0 {
			name += ",coalesce=" + tc.coalesce.String()
		}
		b.Run(name, func(b *testing.B) {
			port, serverPid := startProbeServer(b)
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			request := []byte("GET /ready HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n\r\n")
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var failures atomic.Int64
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					// Spread the connections over the second, or over
					// the grid points of a second.
					offset := time.Duration(i) * time.Second / time.Duration(n)
					if tc.coalesce > 0 {
						offset = offset.Truncate(tc.coalesce)
					}
					select {
					case <-time.After(offset):
					case <-ctx.Done():
						return
					}
					t := time.NewTicker(time.Second)
					defer t.Stop()
					buf := make([]byte, 512)
					d := net.Dialer{KeepAlive: -1}
					for {
						c, err := d.DialContext(ctx, "tcp", addr)
						if err == nil {
							_, err = c.Write(request)
							for err == nil {
								_, err = c.Read(buf)
							}
							_ = c.Close()
						} else if ctx.Err() == nil {
							failures.Add(1)
						}
						select {
						case <-t.C:
						case <-ctx.Done():
							return
						}
					}
				}()
			}
			defer func() { cancel(); wg.Wait() }()
			time.Sleep(2 * time.Second)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0, srv0, wall0 := processCPU(), childCPU(serverPid), time.Now()
			for range b.N {
				time.Sleep(time.Second)
			}
			cpu, srv, wall := processCPU()-cpu0, childCPU(serverPid)-srv0, time.Since(wall0)
			b.StopTimer()
			if f := failures.Load(); f > 0 {
				b.Fatalf("%d connections failed", f)
			}
			b.ReportMetric(float64(cpu.Milliseconds())/wall.Seconds(), "cpu-ms/s")
			b.ReportMetric(float64(srv.Milliseconds())/wall.Seconds(), "server-cpu-ms/s")
		})
	}
}

// countingSource counts the syncs the prober asks for.
type countingSource struct {
	*kubelet.Syncer
	triggers atomic.Int64
}

func (c *countingSource) Trigger(uid types.UID) {
	c.triggers.Add(1)
	c.Syncer.Trigger(uid)
}

func allReady(s *kubelet.Syncer, pods []*v1.Pod) bool {
	for _, p := range pods {
		st, ok := s.PodStatus(p.UID)
		if !ok || len(st.ContainerStatuses) == 0 || !st.ContainerStatuses[0].Ready {
			return false
		}
	}
	return true
}
