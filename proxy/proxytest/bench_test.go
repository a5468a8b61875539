package proxytest_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/nodekit/nodekit/proxy/proxytest"
)

// syntheticPayload writes a kube-proxy-shaped nat payload for services
// ClusterIP services with endpoints endpoints each (service i at
// 172.30.i/256.i%256, port 80), with PREROUTING and OUTPUT jumping to
// KUBE-SERVICES first so that every jump is checked against its hooks.
func syntheticPayload(services, endpoints int) string {
	var chains, rules strings.Builder
	chains.WriteString("*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n")
	rules.WriteString("-A PREROUTING -j KUBE-SERVICES\n-A OUTPUT -j KUBE-SERVICES\n-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n")
	for s := range services {
		svcChain := fmt.Sprintf("KUBE-SVC-%016d", s)
		writeService(&chains, &rules, s, endpoints, svcChain)
		fmt.Fprintf(&rules, "-A KUBE-SERVICES -m comment --comment \"ns/svc%d:p80 cluster IP\" -m tcp -p tcp -d %s --dport 80 -j %s\n", s, serviceIP(s), svcChain)
	}
	return chains.String() + rules.String() + "COMMIT\n"
}

func serviceIP(s int) string { return fmt.Sprintf("172.30.%d.%d", s/256, s%256) }

// writeService writes the SVC and SEP chains of service s.
func writeService(chains, rules *strings.Builder, s, endpoints int, svcChain string) {
	fmt.Fprintf(chains, ":%s - [0:0]\n", svcChain)
	for e := range endpoints {
		sep := fmt.Sprintf("KUBE-SEP-%010d%06d", s, e)
		ep := fmt.Sprintf("10.%d.%d.%d:8080", 100+e%100, s/256, s%256)
		fmt.Fprintf(chains, ":%s - [0:0]\n", sep)
		if e < endpoints-1 {
			fmt.Fprintf(rules, "-A %s -m comment --comment \"ns/svc%d:p80 -> %s\" -m statistic --mode random --probability %0.10f -j %s\n", svcChain, s, ep, 1.0/float64(endpoints-e), sep)
		} else {
			fmt.Fprintf(rules, "-A %s -m comment --comment \"ns/svc%d:p80 -> %s\" -j %s\n", svcChain, s, ep, sep)
		}
		fmt.Fprintf(rules, "-A %s -m comment --comment ns/svc%d:p80 -s %s -j KUBE-MARK-MASQ\n", sep, s, strings.Split(ep, ":")[0])
		fmt.Fprintf(rules, "-A %s -m comment --comment ns/svc%d:p80 -m tcp -p tcp -j DNAT --to-destination %s\n", sep, s, ep)
	}
}

func BenchmarkFakeKernelRestore(b *testing.B) {
	for _, size := range []struct{ services, endpoints int }{{100, 10}, {1000, 10}} {
		b.Run(fmt.Sprintf("services=%d,endpoints=%d", size.services, size.endpoints), func(b *testing.B) {
			payload := []byte(syntheticPayload(size.services, size.endpoints))
			ctx := context.Background()
			b.ReportAllocs()
			b.ReportMetric(float64(len(payload)), "payload-bytes")
			for b.Loop() {
				k := proxytest.NewFakeKernel(proxytest.IPv4)
				if err := k.Restore(ctx, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFakeKernelRestorePartial rewrites one service's chains on a
// kernel that holds many: the cost should follow the payload, not the
// kernel's size.
func BenchmarkFakeKernelRestorePartial(b *testing.B) {
	for _, services := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("services=%d,endpoints=10", services), func(b *testing.B) {
			ctx := context.Background()
			k := proxytest.NewFakeKernel(proxytest.IPv4)
			if err := k.Restore(ctx, []byte(syntheticPayload(services, 10))); err != nil {
				b.Fatal(err)
			}
			var chains, rules strings.Builder
			chains.WriteString("*nat\n")
			writeService(&chains, &rules, 7, 10, fmt.Sprintf("KUBE-SVC-%016d", 7))
			payload := []byte(chains.String() + rules.String() + "COMMIT\n")
			b.ReportAllocs()
			b.ReportMetric(float64(len(payload)), "payload-bytes")
			for b.Loop() {
				if err := k.Restore(ctx, payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTrace traces a packet to the last service in KUBE-SERVICES,
// the longest walk.
func BenchmarkTrace(b *testing.B) {
	for _, services := range []int{100, 1000} {
		b.Run(fmt.Sprintf("services=%d,endpoints=10", services), func(b *testing.B) {
			k := proxytest.NewFakeKernel(proxytest.IPv4)
			payload := syntheticPayload(services, 10)
			if err := k.Restore(context.Background(), []byte(payload)); err != nil {
				b.Fatal(err)
			}
			pkt := proxytest.Packet{
				Src: netip.MustParseAddr("10.1.2.3"), Dst: netip.MustParseAddr(serviceIP(services - 1)),
				Proto: "tcp", SrcPort: 1234, DstPort: 80, Hook: "PREROUTING", InInterface: "eth0", OutInterface: "eth0",
			}
			b.ReportAllocs()
			var outcomes int
			for b.Loop() {
				res, err := k.Trace(pkt)
				if err != nil {
					b.Fatal(err)
				}
				outcomes = len(res.Outcomes)
			}
			b.ReportMetric(float64(outcomes), "outcomes")
		})
	}
}

func BenchmarkParsePayload(b *testing.B) {
	payload := []byte(syntheticPayload(1000, 10))
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := proxytest.ParsePayload(payload); err != nil {
			b.Fatal(err)
		}
	}
}
