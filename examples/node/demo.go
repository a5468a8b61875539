package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/nodekit/nodekit/examples/internal/manifest"
	"github.com/nodekit/nodekit/examples/internal/netns"
	"github.com/nodekit/nodekit/examples/internal/realnode"
	"github.com/nodekit/nodekit/kubelet/runc"
	"github.com/nodekit/nodekit/proxy"
)

// demoConfig is the demo's flags.
type demoConfig struct {
	manifests string
	nodeName  string
	stateDir  string
	listen    string
	agentLog  string
	service   string
	requests  int
	once      bool
	timeout   time.Duration
}

// runDemo starts a node on the example manifests in a network namespace of
// its own, waits for the web pods, shows the Service balancing requests over
// them and prints the pods with their resource usage; it keeps running until
// interrupted, or stops at once with --once (DEMO_ONCE=1). Either way it
// removes everything it made when it stops.
func runDemo(ctx context.Context, args []string, out io.Writer) error {
	dc := &demoConfig{}
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.StringVar(&dc.manifests, "manifests", "examples/node/manifests", "manifests directory")
	fs.StringVar(&dc.nodeName, "node-name", "demo", "node name (the namespace is nodekit-<name>)")
	fs.StringVar(&dc.stateDir, "state-dir", "/var/lib/nodekit/demo", "state directory, removed when the demo stops")
	fs.StringVar(&dc.listen, "listen", "127.0.0.1:10255", "address of the node's HTTP server")
	fs.StringVar(&dc.agentLog, "agent-log", "", "file the node's log goes to; default <state-dir>.log")
	fs.StringVar(&dc.service, "service", "web", "the Service to send requests to")
	fs.IntVar(&dc.requests, "requests", 30, "number of requests sent to the Service's cluster IP")
	fs.BoolVar(&dc.once, "once", os.Getenv("DEMO_ONCE") == "1", "stop after one round instead of running until interrupted (default from DEMO_ONCE=1)")
	fs.DurationVar(&dc.timeout, "timeout", 3*time.Minute, "how long to wait for the pods")
	if err := fs.Parse(args); err != nil {
		return realnode.UsageError{Msg: err.Error()}
	}
	if err := realnode.Requirements(runc.DefaultBusyboxPath); err != nil {
		return realnode.UsageError{Msg: "make demo needs root and the node's tools. " + err.Error()}
	}
	if dc.agentLog == "" {
		dc.agentLog = filepath.Clean(dc.stateDir) + ".log"
	}
	manifests, err := filepath.Abs(dc.manifests)
	if err != nil {
		return err
	}
	// The demo reads the manifests as the node will, to find the Service.
	set, err := manifest.NewSource(manifests, manifest.Options{NodeName: dc.nodeName}).Load()
	if err != nil {
		return realnode.UsageError{Msg: fmt.Sprintf("manifests: %v", err)}
	}
	svc := findService(set, dc.service)
	if svc == nil {
		return realnode.UsageError{Msg: fmt.Sprintf("no Service %q in %s", dc.service, manifests)}
	}
	selected := selectedPods(set, svc)

	fmt.Fprintf(out, "nodekit demo: a node in network namespace nodekit-%s, pods from %s\n", dc.nodeName, manifests)
	if err := os.MkdirAll(filepath.Dir(dc.agentLog), 0o755); err != nil {
		return err
	}
	logFile, err := os.Create(dc.agentLog)
	if err != nil {
		return err
	}
	defer logFile.Close()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, "--manifests", manifests, "--node-name", dc.nodeName, "--state-dir", dc.stateDir,
		"--listen", dc.listen, "--busybox-image", "busybox:latest", "--remove-on-exit",
		"--pause-image", "busybox:latest", "--pause-command", "sleep 2147483647")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group: Ctrl-C reaches the demo, which stops the node
	// in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Fprintf(out, "node started (pid %d), log in %s, API on http://%s\n", cmd.Process.Pid, dc.agentLog, dc.listen)

	runErr := demoRound(ctx, dc, out, svc, selected, exited)
	if runErr == nil && !dc.once {
		fmt.Fprintf(out, "\nThe node keeps running: try curl http://%s/pods, /stats/summary, /metrics, or\n"+
			"  ip netns exec nodekit-%s wget -qO- http://%s:%d/\nCtrl-C stops it and removes everything.\n",
			dc.listen, dc.nodeName, svc.Spec.ClusterIP, svc.Spec.Ports[0].Port)
		runErr = demoWatch(ctx, dc, out, exited)
	}
	stopErr := stopNode(cmd, exited, out)
	if stopErr == nil {
		stopErr = realnode.RemoveStateDir(dc.stateDir)
	}
	if stopErr == nil {
		fmt.Fprintln(out, "node stopped; its pods, namespace, cgroups and state are removed")
	}
	return errors.Join(runErr, stopErr)
}

// demoRound waits for the Service's pods, sends the requests and prints
// the pods.
func demoRound(ctx context.Context, dc *demoConfig, out io.Writer, svc *v1.Service, selected []types.NamespacedName, exited <-chan error) error {
	api := &nodeAPI{base: "http://" + dc.listen}
	fmt.Fprintf(out, "waiting for the %d pods of Service %s to be Ready...\n", len(selected), svc.Name)
	ctxWait, cancel := context.WithTimeout(ctx, dc.timeout)
	defer cancel()
	lastReady := -1
	for {
		pods, err := api.pods(ctxWait)
		if err == nil {
			ready := 0
			for _, p := range pods {
				if slices.Contains(selected, types.NamespacedName{Namespace: p.Namespace, Name: p.Name}) && podReady(p) {
					ready++
				}
			}
			if ready != lastReady {
				fmt.Fprintf(out, "  %d/%d ready\n", ready, len(selected))
				lastReady = ready
			}
			if ready == len(selected) {
				break
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the node exited (%v); see %s", err, dc.agentLog)
		case <-ctxWait.Done():
			return fmt.Errorf("pods not ready after %s (%w); see %s", dc.timeout, ctxWait.Err(), dc.agentLog)
		case <-time.After(300 * time.Millisecond):
		}
	}

	ns := &netns.Namespace{Name: "nodekit-" + dc.nodeName, Path: filepath.Join(netns.Dir, "nodekit-"+dc.nodeName)}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true, // a new connection, so a new choice of endpoint, per request
		DialContext:       ns.Dial,
	}}
	target := net.JoinHostPort(svc.Spec.ClusterIP, fmt.Sprint(svc.Spec.Ports[0].Port))
	fmt.Fprintf(out, "\n%d requests to the cluster IP http://%s/ from inside the node namespace:\n", dc.requests, target)
	counts := map[string]int{}
	// The proxy syncs at most once per second (kube-proxy's
	// --iptables-min-sync-period): give it the time to write the rules for
	// the last pod that turned Ready.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(2 * proxy.DefaultMinSyncInterval):
	}
	if err := waitAnswer(ctx, client, "http://"+target+"/", 10*time.Second); err != nil {
		return err
	}
	var line strings.Builder
	for i := 1; i <= dc.requests; i++ {
		who, err := get(ctx, client, "http://"+target+"/")
		if err != nil {
			return fmt.Errorf("request %d: %w", i, err)
		}
		counts[who]++
		fmt.Fprintf(&line, "  #%02d -> %-8s", i, who)
		if i%5 == 0 || i == dc.requests {
			fmt.Fprintln(out, strings.TrimRight(line.String(), " "))
			line.Reset()
		}
	}
	var names []string
	for name := range counts {
		names = append(names, name)
	}
	slices.Sort(names)
	var parts []string
	for _, n := range names {
		parts = append(parts, fmt.Sprintf("%s %d", n, counts[n]))
	}
	fmt.Fprintf(out, "answered by %d pods: %s\n", len(counts), strings.Join(parts, ", "))
	if np := svc.Spec.Ports[0].NodePort; np != 0 {
		nodeTarget := fmt.Sprintf("http://%s:%d/", netip.MustParsePrefix(realnode.DefaultNodeIP).Addr(), np)
		who, err := get(ctx, client, nodeTarget)
		if err != nil {
			return fmt.Errorf("node port: %w", err)
		}
		fmt.Fprintf(out, "node port %s -> %s\n", nodeTarget, who)
	}

	// CPU needs two samples of each container.
	time.Sleep(2500 * time.Millisecond)
	return printPods(ctx, api, out)
}

// demoWatch prints the pods every 10 seconds until ctx ends.
func demoWatch(ctx context.Context, dc *demoConfig, out io.Writer, exited <-chan error) error {
	api := &nodeAPI{base: "http://" + dc.listen}
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "\ninterrupted")
			return nil
		case err := <-exited:
			return fmt.Errorf("the node exited (%v); see %s", err, dc.agentLog)
		case <-t.C:
			fmt.Fprintln(out)
			if err := printPods(ctx, api, out); err != nil {
				fmt.Fprintln(out, "  ", err)
			}
		}
	}
}

// stopNode sends SIGTERM to the node and waits for it to remove its pods.
func stopNode(cmd *exec.Cmd, exited <-chan error, out io.Writer) error {
	if cmd.ProcessState != nil {
		return nil
	}
	fmt.Fprintln(out, "stopping the node...")
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			return fmt.Errorf("node: %w", err)
		}
		return nil
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		return errors.New("the node did not stop within 3 minutes; killed it")
	}
}

// printPods prints the pods with phase, readiness, restarts, IP and usage.
func printPods(ctx context.Context, api *nodeAPI, out io.Writer) error {
	pods, err := api.pods(ctx)
	if err != nil {
		return err
	}
	summary, err := api.summary(ctx)
	if err != nil {
		return err
	}
	usage := map[types.UID]statsapi.PodStats{}
	for _, ps := range summary.Pods {
		usage[types.UID(ps.PodRef.UID)] = ps
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tPHASE\tREADY\tRESTARTS\tIP\tCPU\tMEMORY\tSTATUS")
	for _, p := range pods {
		ready, restarts := 0, int32(0)
		status := string(p.Status.Phase)
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Ready {
				ready++
			}
			restarts += cs.RestartCount
			switch {
			case cs.State.Waiting != nil:
				status = cs.State.Waiting.Reason
			case cs.State.Terminated != nil:
				status = cs.State.Terminated.Reason
			case cs.State.Running != nil:
				status = "Running"
			}
		}
		cpu, mem := "-", "-"
		if ps, ok := usage[p.UID]; ok {
			if ps.CPU != nil && ps.CPU.UsageNanoCores != nil {
				cpu = fmt.Sprintf("%dm", *ps.CPU.UsageNanoCores/1e6)
			}
			if ps.Memory != nil && ps.Memory.WorkingSetBytes != nil {
				mem = fmt.Sprintf("%.1fMi", float64(*ps.Memory.WorkingSetBytes)/(1<<20))
			}
		}
		ip := p.Status.PodIP
		if ip == "" {
			ip = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%d/%d\t%d\t%s\t%s\t%s\t%s\n", p.Name, p.Status.Phase, ready, len(p.Spec.Containers), restarts, ip, cpu, mem, status)
	}
	return w.Flush()
}

func findService(set *manifest.Set, name string) *v1.Service {
	for _, s := range set.Services {
		if s.Name == name && len(s.Spec.Ports) > 0 {
			return s
		}
	}
	return nil
}

// selectedPods are the pods of the set the Service selects.
func selectedPods(set *manifest.Set, svc *v1.Service) []types.NamespacedName {
	var out []types.NamespacedName
	for _, p := range set.Pods {
		if p.Namespace != svc.Namespace || len(svc.Spec.Selector) == 0 {
			continue
		}
		match := true
		for k, v := range svc.Spec.Selector {
			if p.Labels[k] != v {
				match = false
			}
		}
		if match {
			out = append(out, types.NamespacedName{Namespace: p.Namespace, Name: p.Name})
		}
	}
	return out
}

func podReady(p *v1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// waitAnswer retries a request until one succeeds or timeout passes.
func waitAnswer(ctx context.Context, client *http.Client, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, err := get(ctx, client, url)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer from %s within %s: %w", url, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// get returns the trimmed body of a GET.
func get(ctx context.Context, client *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", url, resp.Status)
	}
	return strings.TrimSpace(string(body)), nil
}

// nodeAPI reads the node's HTTP API.
type nodeAPI struct{ base string }

func (a *nodeAPI) getJSON(ctx context.Context, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

func (a *nodeAPI) pods(ctx context.Context) ([]*v1.Pod, error) {
	var list v1.PodList
	if err := a.getJSON(ctx, "/pods", &list); err != nil {
		return nil, err
	}
	out := make([]*v1.Pod, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

func (a *nodeAPI) summary(ctx context.Context) (*statsapi.Summary, error) {
	var s statsapi.Summary
	return &s, a.getJSON(ctx, "/stats/summary", &s)
}
