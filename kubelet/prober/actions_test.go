package prober

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/kubelet"
)

// runAction runs probe p once for a container with a named port "web" and
// pod IP 127.0.0.1, as a worker would.
func runAction(t *testing.T, p *v1.Probe, webPort int) (outcome, string, error) {
	t.Helper()
	return runActionWith(t, Options{}, p, webPort)
}

func runActionWith(t *testing.T, opts Options, p *v1.Probe, webPort int) (outcome, string, error) {
	t.Helper()
	pb := newProber(&execRuntime{}, opts)
	pod := &v1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "u"}}
	c := &v1.Container{Name: "app", Ports: []v1.ContainerPort{{Name: "web", ContainerPort: int32(webPort)}}}
	return pb.runProbe(t.Context(), withDefaults(p), pod, &v1.PodStatus{PodIP: "127.0.0.1"}, c, "c1", nil)
}

func serverPort(t *testing.T, rawURL string) int {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func TestHTTPProbe(t *testing.T) {
	var mu sync.Mutex
	var lastReq *http.Request
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a redirect to another host was followed")
	}))
	defer other.Close()
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		lastReq = r.Clone(context.Background())
		mu.Unlock()
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte("fine"))
		case "/big":
			_, _ = w.Write([]byte(strings.Repeat("b", 64<<10)))
		case "/notfound":
			http.NotFound(w, r)
		case "/error":
			w.WriteHeader(http.StatusInternalServerError)
		case "/redirect-local":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/redirect-loop":
			http.Redirect(w, r, "/redirect-loop", http.StatusFound)
		case "/redirect-away":
			http.Redirect(w, r, otherURL+"/elsewhere", http.StatusFound)
		case "/slow":
			time.Sleep(1500 * time.Millisecond)
		default:
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer srv.Close()
	port := serverPort(t, srv.URL)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	_ = closed.Close()

	get := func(path string, mut ...func(*v1.HTTPGetAction)) *v1.Probe {
		g := &v1.HTTPGetAction{Path: path, Port: intstr.FromInt(port)}
		for _, f := range mut {
			f(g)
		}
		return &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: g}}
	}
	type testCase struct {
		name    string
		probe   *v1.Probe
		want    outcome
		wantOut string
		check   func(t *testing.T, r *http.Request)
	}
	cases := []testCase{
		{name: "200 with default headers", probe: get("/ok"), want: outcomeSuccess, wantOut: "fine", check: func(t *testing.T, r *http.Request) {
			if ua := r.Header.Get("User-Agent"); ua != "kube-probe/"+DefaultKubeVersion {
				t.Errorf("User-Agent %q", ua)
			}
			if a := r.Header.Get("Accept"); a != "*/*" {
				t.Errorf("Accept %q", a)
			}
			if ae := r.Header.Get("Accept-Encoding"); ae != "" {
				t.Errorf("Accept-Encoding %q sent", ae)
			}
			if r.Header.Get("Connection") != "close" && !r.Close {
				t.Error("keep-alive not disabled")
			}
		}},
		{name: "port by name", probe: get("/ok", func(g *v1.HTTPGetAction) { g.Port = intstr.FromString("web") }), want: outcomeSuccess, wantOut: "fine"},
		{name: "path without slash and query", probe: get("ok?x=1"), want: outcomeSuccess, check: func(t *testing.T, r *http.Request) {
			if r.URL.RawQuery != "x=1" {
				t.Errorf("query %q", r.URL.RawQuery)
			}
		}},
		{name: "headers, Host and overridden User-Agent", probe: get("/ok", func(g *v1.HTTPGetAction) {
			g.HTTPHeaders = []v1.HTTPHeader{{Name: "X-Probe", Value: "a"}, {Name: "X-Probe", Value: "b"}, {Name: "Host", Value: "example.test"}, {Name: "User-Agent", Value: "mine"}}
		}), want: outcomeSuccess, check: func(t *testing.T, r *http.Request) {
			if got := r.Header.Values("X-Probe"); len(got) != 2 || got[0] != "a" || got[1] != "b" {
				t.Errorf("X-Probe %q", got)
			}
			if r.Host != "example.test" {
				t.Errorf("Host %q", r.Host)
			}
			if ua := r.Header.Get("User-Agent"); ua != "mine" {
				t.Errorf("User-Agent %q", ua)
			}
		}},
		{name: "empty Accept removes it", probe: get("/ok", func(g *v1.HTTPGetAction) {
			g.HTTPHeaders = []v1.HTTPHeader{{Name: "Accept", Value: ""}}
		}), want: outcomeSuccess, check: func(t *testing.T, r *http.Request) {
			if _, ok := r.Header["Accept"]; ok {
				t.Errorf("Accept %q sent", r.Header.Get("Accept"))
			}
		}},
		{name: "custom Accept", probe: get("/ok", func(g *v1.HTTPGetAction) {
			g.HTTPHeaders = []v1.HTTPHeader{{Name: "Accept", Value: "application/json"}}
		}), want: outcomeSuccess, check: func(t *testing.T, r *http.Request) {
			if a := r.Header.Get("Accept"); a != "application/json" {
				t.Errorf("Accept %q", a)
			}
		}},
		{name: "body capped at 10 KiB", probe: get("/big"), want: outcomeSuccess, wantOut: strings.Repeat("b", 10<<10)},
		{name: "404", probe: get("/notfound"), want: outcomeFailure, wantOut: "HTTP probe failed with statuscode: 404"},
		{name: "500", probe: get("/error"), want: outcomeFailure, wantOut: "HTTP probe failed with statuscode: 500"},
		{name: "418", probe: get("/other"), want: outcomeFailure, wantOut: "HTTP probe failed with statuscode: 418"},
		{name: "same-host redirect followed", probe: get("/redirect-local"), want: outcomeSuccess, wantOut: "fine"},
		{name: "redirect to another host is success with a warning", probe: get("/redirect-away"), want: outcomeWarning},
		{name: "redirect loop stops after 10", probe: get("/redirect-loop"), want: outcomeFailure},
		{name: "timeout", probe: get("/slow"), want: outcomeFailure},
		{name: "connection refused", probe: get("/ok", func(g *v1.HTTPGetAction) { g.Port = intstr.FromInt(closedPort) }), want: outcomeFailure},
		{name: "explicit host", probe: get("/ok", func(g *v1.HTTPGetAction) { g.Host = "localhost" }), want: outcomeSuccess, check: func(t *testing.T, r *http.Request) {
			if !strings.HasPrefix(r.Host, "localhost:") {
				t.Errorf("Host %q", r.Host)
			}
		}},
	}
	// The default direct exchange and net/http's Transport (used with
	// Options.HTTPTransport) must agree on every case.
	for _, variant := range []struct {
		name string
		opts Options
	}{{"direct", Options{}}, {"net/http", Options{HTTPTransport: newProbeTransport(nil)}}} {
		for _, tc := range cases {
			t.Run(variant.name+"/"+tc.name, func(t *testing.T) {
				mu.Lock()
				lastReq = nil
				mu.Unlock()
				got, out, err := runActionWith(t, variant.opts, tc.probe, port)
				if err != nil {
					t.Fatal(err)
				}
				if got != tc.want || (tc.wantOut != "" && out != tc.wantOut) {
					if len(out) > 200 {
						out = out[:200] + "..."
					}
					t.Fatalf("got %s %q, want %s %q", got, out, tc.want, tc.wantOut)
				}
				if tc.check != nil {
					mu.Lock()
					r := lastReq
					mu.Unlock()
					if r == nil {
						t.Fatal("no request received")
					}
					tc.check(t, r)
				}
			})
		}
	}
	// A port name that does not exist is an error (the result is thrown
	// away), not a failure.
	if _, _, err := runAction(t, get("/ok", func(g *v1.HTTPGetAction) { g.Port = intstr.FromString("nope") }), port); err == nil {
		t.Fatal("unknown port name: no error")
	}
}

func TestHTTPSProbe(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/", http.StatusMovedPermanently)
			return
		}
		_, _ = w.Write([]byte("tls"))
	}))
	defer srv.Close()
	for _, path := range []string{"/", "/moved"} {
		p := &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Scheme: v1.URISchemeHTTPS, Path: path, Port: intstr.FromInt(serverPort(t, srv.URL))}}}
		for _, opts := range []Options{{}, {HTTPTransport: newProbeTransport(nil)}} {
			got, out, err := runActionWith(t, opts, p, 0)
			if err != nil || got != outcomeSuccess || out != "tls" {
				t.Fatalf("https probe %s (self-signed) = %s %q %v", path, got, out, err)
			}
		}
	}
}

func TestTCPProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	open := ln.Addr().(*net.TCPAddr).Port
	closedLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := closedLn.Addr().(*net.TCPAddr).Port
	_ = closedLn.Close()
	for _, tc := range []struct {
		name string
		tcp  v1.TCPSocketAction
		want outcome
	}{
		{"open port, pod IP", v1.TCPSocketAction{Port: intstr.FromInt(open)}, outcomeSuccess},
		{"open port by name", v1.TCPSocketAction{Port: intstr.FromString("web")}, outcomeSuccess},
		{"explicit host", v1.TCPSocketAction{Host: "localhost", Port: intstr.FromInt(open)}, outcomeSuccess},
		{"closed port", v1.TCPSocketAction{Port: intstr.FromInt(closed)}, outcomeFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, out, err := runAction(t, &v1.Probe{ProbeHandler: v1.ProbeHandler{TCPSocket: &tc.tcp}}, open)
			if err != nil || got != tc.want {
				t.Fatalf("got %s %q %v, want %s", got, out, err, tc.want)
			}
		})
	}
}

func TestGRPCProbe(t *testing.T) {
	newServer := func(t *testing.T, withHealth bool) (int, *health.Server) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s := grpc.NewServer()
		var hs *health.Server
		if withHealth {
			hs = health.NewServer()
			hs.SetServingStatus("db", healthpb.HealthCheckResponse_NOT_SERVING)
			hs.SetServingStatus("api", healthpb.HealthCheckResponse_SERVING)
			healthpb.RegisterHealthServer(s, hs)
		}
		go func() { _ = s.Serve(ln) }()
		t.Cleanup(s.Stop)
		return ln.Addr().(*net.TCPAddr).Port, hs
	}
	port, hs := newServer(t, true)
	bare, _ := newServer(t, false)
	closedLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := closedLn.Addr().(*net.TCPAddr).Port
	_ = closedLn.Close()

	probe := func(port int, service *string) *v1.Probe {
		return &v1.Probe{ProbeHandler: v1.ProbeHandler{GRPC: &v1.GRPCAction{Port: int32(port), Service: service}}}
	}
	for _, tc := range []struct {
		name    string
		probe   *v1.Probe
		want    outcome
		wantOut string
	}{
		{"server overall serving", probe(port, nil), outcomeSuccess, "service healthy"},
		{"named service serving", probe(port, ptr.To("api")), outcomeSuccess, "service healthy"},
		{"named service not serving", probe(port, ptr.To("db")), outcomeFailure, `service unhealthy (responded with "NOT_SERVING")`},
		{"unknown service", probe(port, ptr.To("nope")), outcomeFailure, ""},
		{"no health service", probe(bare, nil), outcomeFailure, "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): unknown service grpc.health.v1.Health"},
		{"nothing listening", probe(closed, nil), outcomeFailure, "timeout: health rpc did not complete within 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, out, err := runAction(t, tc.probe, 0)
			if err != nil || got != tc.want || (tc.wantOut != "" && out != tc.wantOut) {
				t.Fatalf("got %s %q %v, want %s %q", got, out, err, tc.want, tc.wantOut)
			}
		})
	}
	hs.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	if got, out, _ := runAction(t, probe(port, nil), 0); got != outcomeFailure {
		t.Fatalf("after NOT_SERVING: %s %q", got, out)
	}
}

func TestNoHandler(t *testing.T) {
	_, _, err := runAction(t, &v1.Probe{}, 0)
	if err == nil || !strings.Contains(err.Error(), ErrNoHandler.Error()) {
		t.Fatalf("err %v", err)
	}
	if got, err := newProber(&execRuntime{}, Options{}).probe(t.Context(), kubelet.ReadinessProbe, &v1.Probe{TimeoutSeconds: 1}, &v1.Pod{}, &v1.PodStatus{}, &v1.Container{}, "c1", nil); err == nil || got != kubelet.ProbeFailure {
		t.Fatalf("probe without handler = %v, %v", got, err)
	}
}

func TestNoPodIP(t *testing.T) {
	pb := newProber(&execRuntime{}, Options{})
	pod := &v1.Pod{}
	c := &v1.Container{Name: "app"}
	for _, h := range []v1.ProbeHandler{
		{HTTPGet: &v1.HTTPGetAction{Port: intstr.FromInt(80)}},
		{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt(80)}},
		{GRPC: &v1.GRPCAction{Port: 80}},
	} {
		if got, _, err := pb.runProbe(t.Context(), withDefaults(&v1.Probe{ProbeHandler: h}), pod, &v1.PodStatus{}, c, "c1", nil); err == nil {
			t.Errorf("%+v without pod IP: %s, no error", h, got)
		}
	}
}

func TestRequestCache(t *testing.T) {
	g := &v1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("web")}
	c := &v1.Container{Name: "app", Ports: []v1.ContainerPort{{Name: "web", ContainerPort: 8080}}}
	var rc requestCache
	r1, err := rc.request(g, c, "10.0.0.1", "kube-probe/1.37")
	if err != nil {
		t.Fatal(err)
	}
	r2, _ := rc.request(g, c, "10.0.0.1", "kube-probe/1.37")
	if r1 != r2 || r1.URL.String() != "http://10.0.0.1:8080/healthz" || !r1.Close {
		t.Fatalf("cached request %v %v close=%v", r1.URL, r2.URL, r1.Close)
	}
	r3, _ := rc.request(g, c, "10.0.0.2", "kube-probe/1.37")
	if r3 == r1 || r3.URL.String() != "http://10.0.0.2:8080/healthz" {
		t.Fatalf("request after the pod IP changed: %v", r3.URL)
	}
}
