package proxy_test

import (
	"bytes"
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/proxy"
)

// benchObjects makes nServices services, one in ten of them NodePort, each
// with one slice of nEndpoints endpoints spread over 100 nodes.
func benchObjects(nServices, nEndpoints int) ([]*v1.Service, []*discovery.EndpointSlice) {
	svcs := make([]*v1.Service, 0, nServices)
	slices := make([]*discovery.EndpointSlice, 0, nServices)
	for i := 0; i < nServices; i++ {
		ns := fmt.Sprintf("ns%d", i%50)
		name := fmt.Sprintf("svc%d", i)
		svcs = append(svcs, makeService(ns, name, func(s *v1.Service) {
			s.Spec.ClusterIP = fmt.Sprintf("172.30.%d.%d", i/250, i%250+1)
			s.Spec.Ports = []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP}}
			if i%10 == 0 {
				s.Spec.Type = v1.ServiceTypeNodePort
				s.Spec.Ports[0].NodePort = int32(30000 + i%2000)
			}
		}))
		slices = append(slices, benchSlice(ns, name, i, nEndpoints, 0))
	}
	return svcs, slices
}

func benchSlice(ns, name string, i, nEndpoints, variant int) *discovery.EndpointSlice {
	return makeSlice(ns, name, 0, func(s *discovery.EndpointSlice) {
		for j := 0; j < nEndpoints; j++ {
			addr := fmt.Sprintf("10.%d.%d.%d", 100+(i/250)%100, i%250, j+1+variant)
			s.Endpoints = append(s.Endpoints, discovery.Endpoint{Addresses: []string{addr}, NodeName: ptr.To(fmt.Sprintf("node%d", (i+j)%100))})
		}
		s.Ports = tcpPort("http", 8080)
	})
}

func benchProxier(b *testing.B, nServices, nEndpoints int) *proxy.Proxier {
	svcs, slices := benchObjects(nServices, nEndpoints)
	p := newProxier(b, proxy.Options{NodeName: "node0", ClusterCIDR: mustPrefix("10.0.0.0/8")})
	if err := p.SetState(svcs, slices); err != nil {
		b.Fatal(err)
	}
	pl, err := p.Plan(true)
	if err != nil {
		b.Fatal(err)
	}
	if err := p.Commit(pl); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkFullSync measures a full sync (Plan(true) and Commit) of a
// steady state: every rule rendered again into the reused buffer.
func BenchmarkFullSync(b *testing.B) {
	for _, size := range []struct{ services, endpoints int }{{1000, 10}, {10000, 10}, {10000, 50}} {
		b.Run(fmt.Sprintf("services=%d,endpoints=%d", size.services, size.endpoints), func(b *testing.B) {
			p := benchProxier(b, size.services, size.endpoints)
			b.ReportAllocs()
			b.ResetTimer()
			var bytes int
			for i := 0; i < b.N; i++ {
				pl, err := p.Plan(true)
				if err != nil {
					b.Fatal(err)
				}
				bytes = len(pl.Payload())
				if err := p.Commit(pl); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(bytes), "payload-bytes")
		})
	}
}

// BenchmarkSplitPayload measures SplitPayload cutting a full payload
// into table sections of DefaultSplitChains chains, as a Syncer does on
// the nf_tables backend before the restore runs.
func BenchmarkSplitPayload(b *testing.B) {
	p := benchProxier(b, 10000, 10)
	pl, err := p.Plan(true)
	if err != nil {
		b.Fatal(err)
	}
	payload := pl.Payload()
	b.ReportAllocs()
	b.ResetTimer()
	var split []byte
	for i := 0; i < b.N; i++ {
		split = proxy.SplitPayload(payload, proxy.DefaultSplitChains)
	}
	b.StopTimer()
	b.ReportMetric(float64(bytes.Count(split, []byte("\nCOMMIT\n"))), "sections")
	b.ReportMetric(float64(len(payload)), "payload-bytes")
}

// BenchmarkPartialSync measures one service's endpoints changing (an
// EndpointSlice update event) followed by Plan(false) and Commit.
func BenchmarkPartialSync(b *testing.B) {
	for _, size := range []struct{ services, endpoints int }{{10000, 10}} {
		b.Run(fmt.Sprintf("services=%d,endpoints=%d", size.services, size.endpoints), func(b *testing.B) {
			p := benchProxier(b, size.services, size.endpoints)
			// Two versions of one service's slice to flip between.
			const idx = 4321
			ns, name := fmt.Sprintf("ns%d", idx%50), fmt.Sprintf("svc%d", idx)
			versions := []*discovery.EndpointSlice{benchSlice(ns, name, idx, size.endpoints, 1), benchSlice(ns, name, idx, size.endpoints, 0)}
			b.ReportAllocs()
			b.ResetTimer()
			var bytes, total int
			for i := 0; i < b.N; i++ {
				p.OnEndpointSliceUpdate(nil, versions[i%2])
				pl, err := p.Plan(false)
				if err != nil {
					b.Fatal(err)
				}
				if pl.Full() {
					b.Fatal("partial sync expected")
				}
				bytes = len(pl.Payload())
				total += bytes
				if err := p.Commit(pl); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(total)/float64(b.N), "payload-bytes")
			_ = bytes
		})
	}
}

// BenchmarkColdFullSync measures what BenchmarkFullSync leaves out: a new
// Proxier given the whole state (validation, chain-name hashing, endpoint
// merging) and its first full sync, rendering every rule from scratch.
func BenchmarkColdFullSync(b *testing.B) {
	for _, size := range []struct{ services, endpoints int }{{1000, 10}, {10000, 10}, {10000, 50}} {
		b.Run(fmt.Sprintf("services=%d,endpoints=%d", size.services, size.endpoints), func(b *testing.B) {
			svcs, slices := benchObjects(size.services, size.endpoints)
			b.ReportAllocs()
			b.ResetTimer()
			var bytes int
			for i := 0; i < b.N; i++ {
				p := newProxier(b, proxy.Options{NodeName: "node0", ClusterCIDR: mustPrefix("10.0.0.0/8")})
				if err := p.SetState(svcs, slices); err != nil {
					b.Fatal(err)
				}
				pl, err := p.Plan(true)
				if err != nil {
					b.Fatal(err)
				}
				bytes = len(pl.Payload())
			}
			b.ReportMetric(float64(bytes), "payload-bytes")
		})
	}
}
