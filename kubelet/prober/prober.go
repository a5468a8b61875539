package prober

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/kubelet"
)

// outcome is the result of one probe action, as the kubelet's
// probe.Result: Warning counts as success (an HTTP redirect to another
// host that was not followed).
type outcome int

const (
	outcomeUnknown outcome = iota
	outcomeSuccess
	outcomeWarning
	outcomeFailure
)

func (o outcome) String() string {
	switch o {
	case outcomeSuccess:
		return "success"
	case outcomeWarning:
		return "warning"
	case outcomeFailure:
		return "failure"
	}
	return "unknown"
}

// maxProbeRetries is how often a probe action that errors (as opposed to
// failing) is tried before its error is reported.
const maxProbeRetries = 3

// prober runs probe actions (the kubelet's prober).
type prober struct {
	rt        kubelet.Runtime
	log       *slog.Logger
	http      *http.Client
	direct    *directHTTP // nil with a custom Options.HTTPTransport
	dial      dialFunc    // nil: the probe dialer with the probe timeout
	userAgent string
}

// dialFunc opens a probe connection (Options.DialContext).
type dialFunc func(ctx context.Context, network, address string) (net.Conn, error)

func newProber(rt kubelet.Runtime, opts Options) *prober {
	opts = opts.withDefaults()
	tr := opts.HTTPTransport
	var direct *directHTTP
	if tr == nil {
		tr = newProbeTransport(opts.DialContext)
		direct = newDirectHTTP(opts.DialContext)
	}
	return &prober{
		rt:        rt,
		log:       opts.Logger,
		http:      &http.Client{Transport: tr, CheckRedirect: redirectChecker},
		direct:    direct,
		dial:      opts.DialContext,
		userAgent: "kube-probe/" + opts.KubeVersion,
	}
}

// probe runs one probe of container and returns its result; an error
// means the result must be thrown away (the kubelet's prober.probe).
func (pb *prober) probe(ctx context.Context, t kubelet.ProbeType, p *v1.Probe, pod *v1.Pod, status *v1.PodStatus, c *v1.Container, containerID string, rc *requestCache) (kubelet.ProbeResult, error) {
	if p == nil {
		return kubelet.ProbeSuccess, nil
	}
	result, output, err := pb.runProbeWithRetries(ctx, p, pod, status, c, containerID, rc, maxProbeRetries)
	if err != nil || (result != outcomeSuccess && result != outcomeWarning) {
		if err != nil {
			pb.log.Info("probe errored", "probeType", t, "pod", pod.Namespace+"/"+pod.Name, "podUID", pod.UID, "containerName", c.Name, "result", result, "err", err)
		} else {
			pb.log.Info("probe failed", "probeType", t, "pod", pod.Namespace+"/"+pod.Name, "podUID", pod.UID, "containerName", c.Name, "output", output)
		}
		return kubelet.ProbeFailure, err
	}
	if result == outcomeWarning {
		pb.log.Info("probe succeeded with a warning", "probeType", t, "pod", pod.Namespace+"/"+pod.Name, "containerName", c.Name, "output", output)
	}
	return kubelet.ProbeSuccess, nil
}

// runProbeWithRetries tries a probe that errors up to retries times and
// returns the last outcome.
func (pb *prober) runProbeWithRetries(ctx context.Context, p *v1.Probe, pod *v1.Pod, status *v1.PodStatus, c *v1.Container, containerID string, rc *requestCache, retries int) (outcome, string, error) {
	var (
		result outcome
		output string
		err    error
	)
	for range retries {
		result, output, err = pb.runProbe(ctx, p, pod, status, c, containerID, rc)
		if err == nil || ctx.Err() != nil {
			return result, output, err
		}
	}
	return result, output, err
}

// requestCache keeps a worker's HTTP probe request between probes: the
// request depends only on the probe, the container and the pod IP. It is
// owned by one worker.
type requestCache struct {
	podIP string
	req   *http.Request
}

// request returns the probe request for podIP, built anew when the pod IP
// changed. rc may be nil.
func (rc *requestCache) request(g *v1.HTTPGetAction, c *v1.Container, podIP, userAgent string) (*http.Request, error) {
	if rc != nil && rc.req != nil && rc.podIP == podIP {
		return rc.req, nil
	}
	req, err := newRequestForHTTPGetAction(g, c, podIP, userAgent)
	if err != nil {
		return nil, err
	}
	// Every probe is one request on a new connection.
	req.Close = true
	if rc != nil {
		rc.podIP, rc.req = podIP, req
	}
	return req, nil
}

// runProbe runs the probe's action once.
func (pb *prober) runProbe(ctx context.Context, p *v1.Probe, pod *v1.Pod, status *v1.PodStatus, c *v1.Container, containerID string, rc *requestCache) (outcome, string, error) {
	timeout := time.Duration(p.TimeoutSeconds) * time.Second
	switch {
	case p.Exec != nil:
		cmd := expandStatic(p.Exec.Command, c.Env)
		return execProbe(ctx, pb.rt, containerID, cmd, timeout)
	case p.HTTPGet != nil:
		req, err := rc.request(p.HTTPGet, c, status.PodIP, pb.userAgent)
		if err != nil {
			return outcomeUnknown, "", fmt.Errorf("httpGet probe of container %q of pod %s/%s: %w", c.Name, pod.Namespace, pod.Name, err)
		}
		return pb.httpProbe(ctx, req, timeout)
	case p.TCPSocket != nil:
		port, err := kubelet.ResolvePort(p.TCPSocket.Port, c)
		if err != nil {
			return outcomeUnknown, "", fmt.Errorf("tcpSocket probe of container %q of pod %s/%s: %w", c.Name, pod.Namespace, pod.Name, err)
		}
		host := p.TCPSocket.Host
		if host == "" {
			host = status.PodIP
		}
		if host == "" {
			return outcomeUnknown, "", fmt.Errorf("tcpSocket probe of container %q of pod %s/%s: no host and no pod IP", c.Name, pod.Namespace, pod.Name)
		}
		return tcpProbe(ctx, pb.dial, host, port, timeout)
	case p.GRPC != nil:
		service := ""
		if p.GRPC.Service != nil {
			service = *p.GRPC.Service
		}
		if status.PodIP == "" {
			return outcomeUnknown, "", fmt.Errorf("grpc probe of container %q of pod %s/%s: no pod IP", c.Name, pod.Namespace, pod.Name)
		}
		return grpcProbe(ctx, pb.dial, status.PodIP, service, int(p.GRPC.Port), timeout, pb.userAgent)
	}
	return outcomeUnknown, "", fmt.Errorf("container %q of pod %s/%s: %w", c.Name, pod.Namespace, pod.Name, ErrNoHandler)
}
