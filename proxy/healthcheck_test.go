package proxy_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodekit/nodekit/proxy"
)

// freePort returns a TCP port free on 127.0.0.1 right now.
func freePort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

func hcGet(t *testing.T, port uint16) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(int(port)) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

func TestHealthCheckServerAnswersAsKubeProxy(t *testing.T) {
	ctx := context.Background()
	port := freePort(t)
	h := proxy.NewHealthCheckServer(proxy.HealthCheckOptions{Addresses: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})
	defer h.Close()
	nn := types.NamespacedName{Namespace: "ns", Name: "lb"}
	if err := h.Update(ctx, map[types.NamespacedName]proxy.HealthCheckService{nn: {Port: port, LocalEndpoints: 2}}, true); err != nil {
		t.Fatal(err)
	}
	code, hdr, body := hcGet(t, port)
	want := "{\n\t\"service\": {\n\t\t\"namespace\": \"ns\",\n\t\t\"name\": \"lb\"\n\t},\n\t\"localEndpoints\": 2,\n\t\"serviceProxyHealthy\": true\n}"
	if code != 200 || body != want || hdr.Get("Content-Type") != "application/json" ||
		hdr.Get("X-Content-Type-Options") != "nosniff" || hdr.Get("X-Load-Balancing-Endpoint-Weight") != "2" {
		t.Errorf("got %d %v %q", code, hdr, body)
	}
	for _, tc := range []struct {
		name    string
		local   int
		healthy bool
	}{{"no local endpoints", 0, true}, {"proxy unhealthy", 3, false}} {
		if err := h.Update(ctx, map[types.NamespacedName]proxy.HealthCheckService{nn: {Port: port, LocalEndpoints: tc.local}}, tc.healthy); err != nil {
			t.Fatal(err)
		}
		if code, hdr, body := hcGet(t, port); code != 503 || hdr.Get("X-Load-Balancing-Endpoint-Weight") != strconv.Itoa(tc.local) ||
			!strings.Contains(body, `"serviceProxyHealthy": `+strconv.FormatBool(tc.healthy)) {
			t.Errorf("%s: got %d %q", tc.name, code, body)
		}
	}
	// A removed service's port is closed.
	if err := h.Update(ctx, nil, true); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(int(port))); err == nil {
		t.Errorf("port still open after the service went")
	}
}

func TestSyncerServesHealthChecksAndMetrics(t *testing.T) {
	ctx := context.Background()
	port := freePort(t)
	reg := prometheus.NewRegistry()
	m, err := proxy.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := proxy.NewMetrics(reg); err == nil {
		t.Errorf("registering twice on one registry succeeded")
	}
	h := proxy.NewHealthCheckServer(proxy.HealthCheckOptions{Addresses: []netip.Addr{netip.MustParseAddr("127.0.0.1")}})
	defer h.Close()
	lb := nfService("ns", "lb", "172.30.0.50", v1.ProtocolTCP, func(s *v1.Service) {
		s.Spec.Type = v1.ServiceTypeLoadBalancer
		s.Spec.Ports[0].NodePort = 30050
		s.Spec.ExternalTrafficPolicy = v1.ServiceExternalTrafficPolicyLocal
		s.Spec.HealthCheckNodePort = int32(port)
		s.Status.LoadBalancer.Ingress = []v1.LoadBalancerIngress{{IP: "1.2.3.4"}}
	})
	p, nf, s := nfSetup(t, proxy.SyncerOptions{HealthChecks: h, Metrics: m}, lb,
		nfSlice("ns", "lb", v1.ProtocolTCP, true, "10.0.5.1", "10.0.5.2"))
	if r := s.SyncOnce(ctx); r.Err != nil {
		t.Fatal(r.Err)
	}
	if code, _, body := hcGet(t, port); code != 200 || !strings.Contains(body, `"localEndpoints": 2`) {
		t.Errorf("got %d %q", code, body)
	}
	p.OnEndpointSliceUpdate(nil, nfSlice("ns", "lb", v1.ProtocolTCP, false, "10.0.5.1"))
	nf.FailNextRestore(io.ErrUnexpectedEOF)
	if r := s.SyncOnce(ctx); r.Err == nil {
		t.Fatal("sync did not fail")
	}
	if code, _, body := hcGet(t, port); code != 503 || !strings.Contains(body, `"serviceProxyHealthy": false`) {
		t.Errorf("after a failed sync: %d %q", code, body)
	}
	if r := s.SyncOnce(ctx); r.Err != nil {
		t.Fatal(r.Err)
	}
	if code, _, body := hcGet(t, port); code != 503 || !strings.Contains(body, `"localEndpoints": 0`) {
		t.Errorf("without local endpoints: %d %q", code, body)
	}

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		for _, mt := range f.GetMetric() {
			v := mt.GetCounter().GetValue() + mt.GetGauge().GetValue() + float64(mt.GetHistogram().GetSampleCount())
			label := ""
			for _, l := range mt.GetLabel() {
				label = "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			got[f.GetName()+label] = v
		}
	}
	for name, want := range map[string]float64{
		"kubeproxy_sync_proxy_rules_duration_seconds":                        3,
		"kubeproxy_sync_full_proxy_rules_duration_seconds":                   2, // the first and the one after the failure
		"kubeproxy_sync_partial_proxy_rules_duration_seconds":                1,
		"kubeproxy_sync_proxy_rules_iptables_restore_failures_total":         1,
		"kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total": 1,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v", name, got[name], want)
		}
	}
	if got["kubeproxy_sync_proxy_rules_last_timestamp_seconds"] == 0 || got["kubeproxy_sync_proxy_rules_iptables_total{table=nat}"] == 0 {
		t.Errorf("metrics %v", got)
	}
}
