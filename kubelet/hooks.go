package kubelet

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/clock"
)

// HookTarget is the container a lifecycle handler runs against.
type HookTarget struct {
	Pod         *v1.Pod
	Container   *v1.Container
	ContainerID string
	// PodIP is the pod's primary IP, the default host of HTTP handlers.
	PodIP string
}

// HookRunner runs lifecycle handlers (postStart and preStop). The Syncer
// calls it with a context that ends with the grace period (preStop) or the
// runtime request timeout (postStart). A prober can use the same runner for
// exec and HTTP probes.
//
// Implementations must be safe for concurrent use.
type HookRunner interface {
	// RunHook runs handler against target. It returns the handler's
	// output (for exec) and an error when the handler failed.
	RunHook(ctx context.Context, target HookTarget, handler *v1.LifecycleHandler) (string, error)
}

// HandlerRunner is the default HookRunner, with the kubelet's semantics:
// exec runs through the Runtime and fails on a non-zero exit code; httpGet
// sends one GET to host (default the pod IP), port (number, or a name from
// the container's ports), path and headers, and fails only when the request
// cannot be made (the kubelet does not check the response code of hooks);
// sleep waits on the clock; tcpSocket is accepted and does nothing (it is
// deprecated and a no-op in the kubelet too).
//
// HandlerRunner is safe for concurrent use.
type HandlerRunner struct {
	// Runtime runs exec handlers.
	Runtime Runtime
	// HTTPClient sends httpGet handlers; nil means a client without
	// keep-alives that does not follow redirects to other hosts.
	HTTPClient *http.Client
	// Clock times sleep handlers; nil means the real clock.
	Clock clock.Clock
}

var _ HookRunner = (*HandlerRunner)(nil)

// maxHookOutput caps the output kept from exec hooks (the kubelet's
// maximum termination message length).
const maxHookOutput = 4096

// RunHook implements HookRunner.
func (r *HandlerRunner) RunHook(ctx context.Context, t HookTarget, h *v1.LifecycleHandler) (string, error) {
	switch {
	case h == nil:
		return "", nil
	case h.Exec != nil:
		if r.Runtime == nil {
			return "", fmt.Errorf("exec hook for container %q of pod %s: no runtime", t.Container.Name, formatPod(t.Pod))
		}
		res, err := r.Runtime.ExecSync(ctx, t.ContainerID, h.Exec.Command, 0)
		out := string(res.Stdout) + string(res.Stderr)
		if len(out) > maxHookOutput {
			out = out[:maxHookOutput]
		}
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("command '%s' exited with %d: %s", strings.Join(h.Exec.Command, " "), res.ExitCode, out)
		}
		if err != nil {
			msg := fmt.Sprintf("Exec lifecycle hook (%s) for Container %q in Pod %q failed - error: %v, message: %q", h.Exec.Command, t.Container.Name, formatPod(t.Pod), err, out)
			return msg, fmt.Errorf("exec hook %q: %w", h.Exec.Command, err)
		}
		return out, nil
	case h.HTTPGet != nil:
		if err := r.runHTTP(ctx, t, h.HTTPGet); err != nil {
			msg := fmt.Sprintf("HTTP lifecycle hook (%s) for Container %q in Pod %q failed - error: %v", h.HTTPGet.Path, t.Container.Name, formatPod(t.Pod), err)
			return msg, err
		}
		return "", nil
	case h.Sleep != nil:
		clk := r.Clock
		if clk == nil {
			clk = clock.RealClock{}
		}
		timer := clk.NewTimer(time.Duration(h.Sleep.Seconds) * time.Second)
		defer timer.Stop()
		select {
		case <-timer.C():
			return "", nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	case h.TCPSocket != nil:
		return "", nil
	}
	return "", fmt.Errorf("lifecycle handler for container %q of pod %s/%s has no action", t.Container.Name, t.Pod.Namespace, t.Pod.Name)
}

// formatPod renders a pod as the kubelet's format.Pod: name_namespace(uid).
func formatPod(p *v1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", p.Name, p.Namespace, p.UID)
}

// ResolvePort returns the port number of p for container c: the number
// itself, or the containerPort of the named port.
func ResolvePort(p intstr.IntOrString, c *v1.Container) (int, error) {
	if p.Type == intstr.Int {
		if p.IntVal <= 0 || p.IntVal > 65535 {
			return 0, fmt.Errorf("invalid port number %d", p.IntVal)
		}
		return int(p.IntVal), nil
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil && n > 0 && n <= 65535 {
		return n, nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("no port named %q in container %q", p.StrVal, c.Name)
}

func (r *HandlerRunner) runHTTP(ctx context.Context, t HookTarget, g *v1.HTTPGetAction) error {
	host := g.Host
	if host == "" {
		host = t.PodIP
	}
	if host == "" {
		return fmt.Errorf("http hook for container %q of pod %s: no host and no pod IP", t.Container.Name, formatPod(t.Pod))
	}
	port, err := ResolvePort(g.Port, t.Container)
	if err != nil {
		return fmt.Errorf("http hook for container %q of pod %s/%s: %w", t.Container.Name, t.Pod.Namespace, t.Pod.Name, err)
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if path != "" && !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
	if p, err := url.Parse(path); err == nil {
		u.Path, u.RawQuery = p.Path, p.RawQuery
	} else {
		u.Path = path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("http hook for container %q of pod %s/%s: %w", t.Container.Name, t.Pod.Namespace, t.Pod.Name, err)
	}
	req.Header.Set("User-Agent", "kube-lifecycle/1.37")
	req.Header.Set("Accept", "*/*")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	client := r.HTTPClient
	if client == nil {
		client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("http hook %s for container %q of pod %s/%s: %w", u, t.Container.Name, t.Pod.Namespace, t.Pod.Name, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	_ = resp.Body.Close()
	return nil
}
