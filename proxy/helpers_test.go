package proxy_test

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/proxy"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ (not testdata/kubeproxy/)")

// Conventions of kube-proxy's iptables tests, kept so that their expected
// output can be compared byte for byte:
//
//	Pod IPs:             10.0.0.0/8
//	Service ClusterIPs:  172.30.0.0/16
//	Node IPs:            192.168.0.0/24, this node 192.168.0.2
//	Service ExternalIPs: 192.168.99.0/24
//	LoadBalancer IPs:    1.2.3.4, 5.6.7.8, 9.10.11.12
//	Non-cluster IPs:     203.0.113.0/24
//	LB Source Range:     203.0.113.0/25
const (
	testNodeName              = "test-node"
	testNodeIP                = "192.168.0.2"
	testExternalClient        = "203.0.113.2"
	testExternalClientBlocked = "203.0.113.130"
)

// kubeProxyTestOptions mirrors kube-proxy's NewFakeProxier.
func kubeProxyTestOptions() proxy.Options {
	return proxy.Options{
		NodeName:           testNodeName,
		NodeIPs:            []netip.Addr{netip.MustParseAddr(testNodeIP)},
		ClusterCIDR:        netip.MustParsePrefix("10.0.0.0/8"),
		LocalhostNodePorts: true,
		NFAcct:             true,
	}
}

func makeService(ns, name string, mutate func(*v1.Service)) *v1.Service {
	svc := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1.ServiceSpec{Type: v1.ServiceTypeClusterIP},
	}
	mutate(svc)
	return svc
}

func makeSlice(ns, svcName string, n int, mutate func(*discovery.EndpointSlice)) *discovery.EndpointSlice {
	s := &discovery.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns,
			Name:      fmt.Sprintf("%s-%d", svcName, n),
			Labels:    map[string]string{discovery.LabelServiceName: svcName},
		},
		AddressType: discovery.AddressTypeIPv4,
	}
	mutate(s)
	return s
}

func tcpPort(name string, port int32) []discovery.EndpointPort {
	return []discovery.EndpointPort{{Name: ptr.To(name), Port: ptr.To(port), Protocol: ptr.To(v1.ProtocolTCP)}}
}

func newProxier(t testing.TB, opts proxy.Options) *proxy.Proxier {
	t.Helper()
	p, err := proxy.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

func fullPayload(t testing.TB, p *proxy.Proxier) string {
	t.Helper()
	pl, err := p.Plan(true)
	if err != nil {
		t.Fatalf("Plan: %v", err)
	}
	return pl.String()
}

// checkGolden compares got with testdata/name, rewriting it under -update
// unless it is a kube-proxy reference file.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update && filepath.Dir(name) != "kubeproxy" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

func mustPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
