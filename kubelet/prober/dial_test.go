package prober

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// unroutedPodIP is a pod IP from TEST-NET-1 (RFC 5737), which no test
// machine routes: a probe reaches it only through the test's dialer.
const unroutedPodIP = "192.0.2.7"

// recordingDialer stands in for a dialer into another network namespace:
// it records every dial and connects to the same port on loopback.
type recordingDialer struct {
	mu    sync.Mutex
	dials []string // "network address"
	err   error    // when set, every dial fails with it
}

func (d *recordingDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if _, ok := ctx.Deadline(); !ok {
		return nil, errors.New("dial without a deadline")
	}
	d.mu.Lock()
	d.dials = append(d.dials, network+" "+address)
	d.mu.Unlock()
	if d.err != nil {
		return nil, d.err
	}
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
}

func (d *recordingDialer) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.dials
	d.dials = nil
	return out
}

// TestDialContext: with Options.DialContext, httpGet (direct and through
// a followed redirect), tcpSocket and gRPC probes open every connection
// through it, with the probe's deadline; a dial error fails the probe.
func TestDialContext(t *testing.T) {
	httpSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/ok", http.StatusFound)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	defer httpSrv.Close()
	httpPort := serverPort(t, httpSrv.URL)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	healthpb.RegisterHealthServer(gs, health.NewServer())
	go func() { _ = gs.Serve(ln) }()
	defer gs.Stop()
	grpcPort := ln.Addr().(*net.TCPAddr).Port

	at := func(port int) string { return "tcp " + net.JoinHostPort(unroutedPodIP, strconv.Itoa(port)) }
	get := func(path string) v1.ProbeHandler {
		return v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: path, Port: intstr.FromInt(httpPort)}}
	}
	for _, tc := range []struct {
		name    string
		handler v1.ProbeHandler
		want    outcome
		// wantDials are the dials of one probe; the direct exchange
		// dials once, and a redirect is sent again through net/http,
		// which dials for the first request and for the redirect.
		wantDials []string
	}{
		{"httpGet", get("/ok"), outcomeSuccess, []string{at(httpPort)}},
		{"httpGet redirect", get("/redirect"), outcomeSuccess, []string{at(httpPort), at(httpPort), at(httpPort)}},
		{"tcpSocket", v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt(httpPort)}}, outcomeSuccess, []string{at(httpPort)}},
		{"grpc", v1.ProbeHandler{GRPC: &v1.GRPCAction{Port: int32(grpcPort)}}, outcomeSuccess, []string{at(grpcPort)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &recordingDialer{}
			got, out, err := runActionAt(t, Options{DialContext: d.DialContext}, tc.handler, unroutedPodIP)
			if err != nil || got != tc.want {
				t.Fatalf("got %s %q %v, want %s", got, out, err, tc.want)
			}
			if diff := cmp.Diff(tc.wantDials, d.take()); diff != "" {
				t.Errorf("dials (-want +got):\n%s", diff)
			}

			// A dialer that fails fails the probe (not an error: the
			// result counts), and nothing is dialed around it.
			d.err = errors.New("no route into the node namespace")
			got, out, err = runActionAt(t, Options{DialContext: d.DialContext}, tc.handler, unroutedPodIP)
			if err != nil || got != outcomeFailure {
				t.Fatalf("with a failing dialer: got %s %q %v, want failure", got, out, err)
			}
			if tc.handler.GRPC == nil && !strings.Contains(out, d.err.Error()) {
				t.Errorf("with a failing dialer: output %q does not name the dial error", out)
			}
			if len(d.take()) == 0 {
				t.Error("with a failing dialer: no dial recorded")
			}
		})
	}

	// With HTTPTransport set, the transport dials for HTTP probes; other
	// probes still go through DialContext.
	d := &recordingDialer{}
	opts := Options{DialContext: d.DialContext, HTTPTransport: newProbeTransport(nil)}
	if got, out, err := runActionAt(t, opts, get("/ok"), "127.0.0.1"); err != nil || got != outcomeSuccess {
		t.Fatalf("httpGet with HTTPTransport: %s %q %v", got, out, err)
	}
	if got := d.take(); len(got) != 0 {
		t.Errorf("httpGet with HTTPTransport dialed through DialContext: %v", got)
	}
	if got, out, err := runActionAt(t, opts, v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt(httpPort)}}, unroutedPodIP); err != nil || got != outcomeSuccess {
		t.Fatalf("tcpSocket with HTTPTransport: %s %q %v", got, out, err)
	}
	if diff := cmp.Diff([]string{at(httpPort)}, d.take()); diff != "" {
		t.Errorf("tcpSocket with HTTPTransport: dials (-want +got):\n%s", diff)
	}
}

// runActionAt runs a probe with handler h once for a pod with IP podIP.
func runActionAt(t *testing.T, opts Options, h v1.ProbeHandler, podIP string) (outcome, string, error) {
	t.Helper()
	pb := newProber(&execRuntime{}, opts)
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "u"}}
	c := &v1.Container{Name: "app"}
	return pb.runProbe(t.Context(), withDefaults(&v1.Probe{ProbeHandler: h}), pod, &v1.PodStatus{PodIP: podIP}, c, "c1", nil)
}
