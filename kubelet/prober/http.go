package prober

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/kubelet"
)

// maxHTTPBody caps the response body read from an HTTP probe (the
// kubelet's maxRespBodyLength, 10 KiB).
const maxHTTPBody = 10 << 10

// maxRedirects is how many same-host redirects an HTTP probe follows.
const maxRedirects = 10

// newProbeTransport is the kubelet's HTTP probe transport: a new
// connection per probe (no keep-alive), no proxy from the environment, no
// transparent compression (no Accept-Encoding header), TLS without
// certificate verification, and sockets that linger at most 1 s so that
// probes leave no pile of TIME-WAIT sockets. A non-nil dial opens its
// connections instead of the probe dialer.
func newProbeTransport(dial dialFunc) *http.Transport {
	if dial == nil {
		dial = probeDialer().DialContext
	}
	return &http.Transport{
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as the kubelet: probes do not verify certificates
		DisableKeepAlives:   true,
		Proxy:               http.ProxyURL(nil),
		DisableCompression:  true,
		DialContext:         withProbeDeadline(dial),
		TLSHandshakeTimeout: 10 * time.Second,
	}
}

// probeDeadlineKey is the context key of a probe's deadline. net/http's
// Transport dials with a context that keeps the request's values but not
// its deadline (so that a dial can outlive the request that started it);
// the deadline travels as a value so that the probe's dial still ends
// with the probe's timeout.
type probeDeadlineKey struct{}

// withProbeDeadline gives dial the probe deadline that ctx carries as a
// value.
func withProbeDeadline(dial dialFunc) dialFunc {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		if deadline, ok := ctx.Value(probeDeadlineKey{}).(time.Time); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline)
			defer cancel()
		}
		return dial(ctx, network, address)
	}
}

// redirectChecker follows redirects to the same host only (the kubelet's
// RedirectChecker(false)): a redirect elsewhere ends with the redirect
// response itself, which counts as success with a warning.
func redirectChecker(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects", maxRedirects)
	}
	return nil
}

// newRequestForHTTPGetAction builds the probe request (the kubelet's
// NewRequestForHTTPGetAction): scheme (default http), host (default the
// pod IP), port by number or name, path, headers; User-Agent and Accept
// are set unless the probe sets them (an empty Accept removes it), and a
// Host header sets the request's host.
func newRequestForHTTPGetAction(g *v1.HTTPGetAction, c *v1.Container, podIP, userAgent string) (*http.Request, error) {
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	host := g.Host
	if host == "" {
		host = podIP
	}
	if host == "" {
		return nil, errors.New("no host and no pod IP")
	}
	port, err := kubelet.ResolvePort(g.Port, c)
	if err != nil {
		return nil, err
	}
	u := formatURL(scheme, host, port, g.Path)
	headers := make(http.Header, len(g.HTTPHeaders)+2)
	for _, h := range g.HTTPHeaders {
		headers.Add(h.Name, h.Value)
	}
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if _, ok := headers["User-Agent"]; !ok {
		headers.Set("User-Agent", userAgent)
	}
	if _, ok := headers["Accept"]; !ok {
		headers.Set("Accept", "*/*")
	} else if headers.Get("Accept") == "" {
		headers.Del("Accept")
	}
	req.Header = headers
	req.Host = headers.Get("Host")
	return req, nil
}

// formatURL is the kubelet's: a path that does not parse is passed along
// as it is.
func formatURL(scheme, host string, port int, path string) *url.URL {
	u, err := url.Parse(path)
	if err != nil {
		u = &url.URL{Path: path}
	}
	u.Scheme = scheme
	u.Host = net.JoinHostPort(host, strconv.Itoa(port))
	return u
}

// httpProbe sends req (the kubelet's DoHTTPProbe): a status from 200 to
// 399 is success (3xx: a redirect that was not followed, success with a
// warning), anything else or a failed request is failure. At most 10 KiB
// of the body are read.
func (pb *prober) httpProbe(ctx context.Context, req *http.Request, timeout time.Duration) (outcome, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if pb.direct != nil {
		code, body, location, err := pb.direct.do(ctx, req)
		if err != nil {
			return outcomeFailure, err.Error(), nil
		}
		if !isRedirect(code, location) {
			return httpOutcome(code, body)
		}
		// Follow the redirect as net/http does, from the start.
	}
	if deadline, ok := ctx.Deadline(); ok {
		ctx = context.WithValue(ctx, probeDeadlineKey{}, deadline)
	}
	res, err := pb.http.Do(req.WithContext(ctx))
	if err != nil {
		// Errors are failures, so that timeouts count.
		return outcomeFailure, err.Error(), nil
	}
	defer func() { _ = res.Body.Close() }()
	b, err := readAtMost(res.Body, maxHTTPBody)
	if err != nil {
		return outcomeFailure, "", err
	}
	return httpOutcome(res.StatusCode, b)
}

// readAtMost reads up to limit bytes of r; a longer body is truncated,
// which is not an error (the kubelet logs it).
func readAtMost(r io.Reader, limit int64) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, limit))
}

func httpOutcome(code int, body []byte) (outcome, string, error) {
	if code >= http.StatusOK && code < http.StatusBadRequest {
		if code >= http.StatusMultipleChoices {
			return outcomeWarning, "Probe terminated redirects, Response body: " + string(body), nil
		}
		return outcomeSuccess, string(body), nil
	}
	return outcomeFailure, fmt.Sprintf("HTTP probe failed with statuscode: %d", code), nil
}
