package proxytest_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nodekit/nodekit/proxy/proxytest"
)

// partialSync is what a partial sync after the kube-proxy payload could
// write: ns1/svc1 loses its endpoint 10.180.1.2 (stale chain removed),
// ns7/svc7 appears, ns5/svc5's REJECT goes, and the filter table is left
// alone.
const partialSync = `*nat
:KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]
:KUBE-SEP-AAAAAAAAAAAAAAA3 - [0:0]
:KUBE-SVC-EEEEEEEEEEEEEEEE - [0:0]
:KUBE-SEP-EEEEEEEEEEEEEEE1 - [0:0]
-A KUBE-SVC-AAAAAAAAAAAAAAAA -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-AAAAAAAAAAAAAAAA -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-AAAAAAAAAAAAAAA1
-A KUBE-SVC-AAAAAAAAAAAAAAAA -m comment --comment "ns1/svc1:p80 -> 10.180.1.1:80" -j KUBE-SEP-AAAAAAAAAAAAAAA2
-X KUBE-SEP-AAAAAAAAAAAAAAA3
-A KUBE-SVC-EEEEEEEEEEEEEEEE -m comment --comment "ns7/svc7:p8080 -> 10.180.0.7:8080" -j KUBE-SEP-EEEEEEEEEEEEEEE1
-A KUBE-SEP-EEEEEEEEEEEEEEE1 -m comment --comment ns7/svc7:p8080 -s 10.180.0.7 -j KUBE-MARK-MASQ
-A KUBE-SEP-EEEEEEEEEEEEEEE1 -m comment --comment ns7/svc7:p8080 -m tcp -p tcp -j DNAT --to-destination 10.180.0.7:8080
-I KUBE-SERVICES 2 -m comment --comment "ns7/svc7:p8080 cluster IP" -m tcp -p tcp -d 172.30.0.47 --dport 8080 -j KUBE-SVC-EEEEEEEEEEEEEEEE
COMMIT
*filter
-D KUBE-SERVICES -m comment --comment "ns5/svc5:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.45/32 --dport 80 -j REJECT
COMMIT
`

func TestFakeKernelPartialSync(t *testing.T) {
	k := kubeProxyKernel(t)
	if err := k.Restore(context.Background(), []byte(partialSync)); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "kernel/partial-sync.golden", k.Dump())
	res, err := k.Trace(incoming(localPod, "172.30.0.47", "tcp", 8080))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1.00 ACCEPT 10.180.0.7:8080"}, summarize(res)); diff != "" {
		t.Errorf("new service (-want +got):\n%s", diff)
	}
	res, err = k.Trace(incoming(localPod, "172.30.0.41", "tcp", 80))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"0.50 ACCEPT 10.180.0.1:80", "0.50 ACCEPT 10.180.1.1:80"}, summarize(res)); diff != "" {
		t.Errorf("service that lost an endpoint (-want +got):\n%s", diff)
	}
	// The dump is itself a payload that rebuilds the same state.
	again := proxytest.NewFakeKernel(proxytest.IPv4)
	if err := again.Restore(context.Background(), []byte(k.Dump())); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(k.Dump(), again.Dump()); diff != "" {
		t.Errorf("restoring Dump() gives another state (-want +got):\n%s", diff)
	}
}

func TestFakeKernelErrors(t *testing.T) {
	tests := []struct {
		name     string
		setup    string
		payload  string
		wantErr  error
		wantLine int
	}{
		{"insert after a flush in the same section", "*nat\n:C - [0:0]\n-A C -s 10.0.0.1 -j RETURN\nCOMMIT\n",
			"*nat\n:C - [0:0]\n-A C -s 10.0.0.2 -j RETURN\n-A C -s 10.0.0.3 -j RETURN\n-I C 2 -s 10.0.0.4 -j RETURN\nCOMMIT\n", proxytest.ErrUnreliableInsert, 5},
		{"insert one past the end after an append", "*nat\n:C - [0:0]\nCOMMIT\n",
			"*nat\n-A C -s 10.0.0.2 -j RETURN\n-I C 2 -s 10.0.0.4 -j RETURN\nCOMMIT\n", proxytest.ErrUnreliableInsert, 3},
		{"flushing a new anchor", "*nat\n:C - [0:0]\nCOMMIT\n",
			"*nat\n-A C -s 10.0.0.1 -j RETURN\n-A C -s 10.0.0.2 -j RETURN\n-I C 2 -s 10.0.0.4 -j RETURN\n-F C\nCOMMIT\n", proxytest.ErrUnreliableInsert, 5},
		{"policy of a user chain", "", "*filter\n:C - [0:0]\n-P C DROP\nCOMMIT\n", proxytest.ErrBadPolicy, 3},
		{"jump to a built-in chain", "", "*filter\n:C - [0:0]\n-A C -j INPUT\nCOMMIT\n", proxytest.ErrBadArgument, 3},
		{"goto a target", "", "*filter\n-A INPUT -g ACCEPT\nCOMMIT\n", proxytest.ErrBadArgument, 2},
		{"nat target outside nat", "", "*filter\n-A INPUT -p tcp -j DNAT --to-destination 10.0.0.1:80\nCOMMIT\n", proxytest.ErrBadArgument, 2},
		{"DNAT without destination", "", "*nat\n-A PREROUTING -j DNAT\nCOMMIT\n", proxytest.ErrBadArgument, 2},
		{"DNAT to a range", "", "*nat\n-A PREROUTING -p tcp -j DNAT --to-destination 10.0.0.1-10.0.0.2\nCOMMIT\n", proxytest.ErrBadArgument, 2},
		{"MARK without action", "", "*mangle\n-A PREROUTING -j MARK\nCOMMIT\n", proxytest.ErrBadArgument, 2},
		{"bad mark value", "", "*mangle\n-A PREROUTING -j MARK --or-mark banana\nCOMMIT\n", proxytest.ErrBadArgument, 2},
		{"probability above one", "", "*nat\n-A PREROUTING -m statistic --mode random --probability 1.5 -j RETURN\nCOMMIT\n", proxytest.ErrBadArgument, 2},
		{"IPv6 address in an IPv4 kernel", "", "*nat\n-A PREROUTING -d fd00::1 -j RETURN\nCOMMIT\n", proxytest.ErrBadArgument, 2},
		{"chain named like a target", "", "*nat\n:DNAT - [0:0]\nCOMMIT\n", proxytest.ErrSyntax, 2},
		{"-X of all chains with one still in use", "*nat\n:A - [0:0]\n:B - [0:0]\n-A OUTPUT -j A\nCOMMIT\n", "*nat\n-X\nCOMMIT\n", proxytest.ErrChainInUse, 2},
		{"DNAT reached from POSTROUTING", "", "*nat\n:H - [0:0]\n-A H -p tcp -j DNAT --to-destination 10.0.0.1:80\n-A POSTROUTING -j H\nCOMMIT\n", proxytest.ErrBadArgument, 4},
		{"MASQUERADE added below a chain PREROUTING reaches", "*nat\n:H - [0:0]\n-A PREROUTING -j H\nCOMMIT\n", "*nat\n-A H -j MASQUERADE\nCOMMIT\n", proxytest.ErrBadArgument, 2},
		{"output interface in PREROUTING", "", "*nat\n-A PREROUTING -o eth0 -j RETURN\nCOMMIT\n", proxytest.ErrBadArgument, 2},
		{"input interface in POSTROUTING", "", "*nat\n-A POSTROUTING -i eth0 -j RETURN\nCOMMIT\n", proxytest.ErrBadArgument, 2},
		{"flush of a missing chain", "", "*nat\n-F NOPE\nCOMMIT\n", proxytest.ErrNoChain, 2},
		{"rule in a missing chain", "", "*nat\n-A NOPE -j RETURN\nCOMMIT\n", proxytest.ErrNoChain, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			k := proxytest.NewFakeKernel(proxytest.IPv4)
			if tc.setup != "" {
				if err := k.Restore(ctx, []byte(tc.setup)); err != nil {
					t.Fatalf("setup: %v", err)
				}
			}
			before := k.Dump()
			err := k.Restore(ctx, []byte(tc.payload))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			var re *proxytest.RestoreError
			if !errors.As(err, &re) || re.Line != tc.wantLine {
				t.Errorf("error %v: want a *RestoreError at line %d", err, tc.wantLine)
			}
			if diff := cmp.Diff(before, k.Dump()); diff != "" {
				t.Errorf("a failed section changed the state (-before +after):\n%s", diff)
			}
		})
	}
}

func TestFakeKernelTruncatesLongComments(t *testing.T) {
	k := proxytest.NewFakeKernel(proxytest.IPv4)
	long := strings.Repeat("c", 300)
	if err := k.Restore(context.Background(), []byte("*nat\n-A OUTPUT -m comment --comment "+long+" -j RETURN\nCOMMIT\n")); err != nil {
		t.Fatal(err)
	}
	if got := k.Rules("nat", "OUTPUT")[0].Comment(); got != long[:255] {
		t.Errorf("stored comment has %d bytes, want the first 255", len(got))
	}
	// -D with the long comment finds the truncated rule, as the kernel does.
	if err := k.Restore(context.Background(), []byte("*nat\n-D OUTPUT -m comment --comment "+long+" -j RETURN\nCOMMIT\n")); err != nil {
		t.Fatal(err)
	}
}

func TestFakeKernelCommitsTableByTable(t *testing.T) {
	k := proxytest.NewFakeKernel(proxytest.IPv4)
	err := k.Restore(context.Background(), []byte("*filter\n:OK - [0:0]\nCOMMIT\n*nat\n:NOT - [0:0]\n-A NOT -j MISSING\nCOMMIT\n"))
	if !errors.Is(err, proxytest.ErrNoChain) {
		t.Fatalf("error %v, want ErrNoChain", err)
	}
	if got := k.Tables(); !cmp.Equal(got, []string{"filter"}) {
		t.Errorf("Tables() = %q, want only filter (the failed nat section created nothing)", got)
	}
	if got := k.Chains("filter"); !cmp.Equal(got, []string{"INPUT", "FORWARD", "OUTPUT", "OK"}) {
		t.Errorf("Chains(filter) = %q", got)
	}
}

func TestFakeKernelAccessors(t *testing.T) {
	k := kubeProxyKernel(t)
	if got := k.Tables(); !cmp.Equal(got, []string{"filter", "nat"}) {
		t.Errorf("Tables() = %q", got)
	}
	rules := k.Rules("nat", "KUBE-SVC-AAAAAAAAAAAAAAAA")
	if len(rules) != 4 || rules[3].Target() != "KUBE-SEP-AAAAAAAAAAAAAAA3" || rules[3].Chain != "KUBE-SVC-AAAAAAAAAAAAAAAA" {
		t.Errorf("Rules(nat, KUBE-SVC-AAAA...) = %v", rules)
	}
	rules[0].Args[0] = "mutated"
	if k.Rules("nat", "KUBE-SVC-AAAAAAAAAAAAAAAA")[0].Args[0] == "mutated" {
		t.Errorf("Rules returned the kernel's own slice")
	}
	if k.Rules("nat", "NOPE") != nil || k.Rules("raw", "PREROUTING") != nil || k.Chains("raw") != nil {
		t.Errorf("missing chain or table should give nil")
	}
	if k.Family() != proxytest.IPv4 || proxytest.IPv6.String() != "IPv6" {
		t.Errorf("Family() = %v", k.Family())
	}
	k.Reset()
	if k.Dump() != "" || len(k.Tables()) != 0 {
		t.Errorf("after Reset: %q", k.Dump())
	}
}

func TestFakeKernelCanceledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	k := proxytest.NewFakeKernel(proxytest.IPv4)
	if err := k.Restore(ctx, []byte("*nat\nCOMMIT\n")); !errors.Is(err, context.Canceled) {
		t.Errorf("Restore with a canceled context: %v", err)
	}
	if len(k.Tables()) != 0 {
		t.Errorf("a canceled Restore changed the state")
	}
}

func TestFakeKernelIPv6(t *testing.T) {
	k := proxytest.NewFakeKernel(proxytest.IPv6)
	payload := "*nat\n:KUBE-SEP-V6 - [0:0]\n-A PREROUTING -d fd00:10:96::1 -p tcp -m tcp --dport 80 -j KUBE-SEP-V6\n-A KUBE-SEP-V6 -p tcp -j DNAT --to-destination [fd00:10:244::5]:8080\nCOMMIT\n"
	if err := k.Restore(context.Background(), []byte(payload)); err != nil {
		t.Fatal(err)
	}
	res, err := k.Trace(proxytest.Packet{
		Src: netip.MustParseAddr("fd00:10:244::9"), Dst: netip.MustParseAddr("fd00:10:96::1"),
		Proto: "tcp", SrcPort: 5555, DstPort: 80, Hook: "PREROUTING", InInterface: "cni0", OutInterface: "cni0",
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"1.00 ACCEPT [fd00:10:244::5]:8080"}, summarize(res)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if err := k.Restore(context.Background(), []byte("*nat\n-A PREROUTING -s 10.0.0.1 -j RETURN\nCOMMIT\n")); !errors.Is(err, proxytest.ErrBadArgument) {
		t.Errorf("IPv4 address in an IPv6 kernel: %v", err)
	}
}

// TestFakeKernelConcurrentUse runs restores, dumps and traces at once; run
// it with -race.
func TestFakeKernelConcurrentUse(t *testing.T) {
	k := kubeProxyKernel(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				chain := fmt.Sprintf("KUBE-W%d-%d", w, i)
				p := fmt.Sprintf("*nat\n:%s - [0:0]\n-A %s -j RETURN\nCOMMIT\n*nat\n:%s - [0:0]\n-X %s\nCOMMIT\n", chain, chain, chain, chain)
				if err := k.Restore(ctx, []byte(p)); err != nil {
					errs <- err
					return
				}
				if _, err := k.Trace(incoming(localPod, "172.30.0.41", "tcp", 80)); err != nil {
					errs <- err
					return
				}
				_ = k.Dump()
				_ = k.Rules("nat", "KUBE-SERVICES")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if strings.Contains(k.Dump(), "KUBE-W") {
		t.Errorf("temporary chains left behind")
	}
}

// FuzzFakeKernelRestore applies arbitrary payloads on top of the
// kube-proxy state: it must never panic, errors must be *RestoreError, and
// whatever state results must dump to a payload that rebuilds it exactly.
func FuzzFakeKernelRestore(f *testing.F) {
	f.Add([]byte(partialSync))
	f.Add([]byte("*nat\n:KUBE-SEP-AAAAAAAAAAAAAAA1 - [0:0]\n-X KUBE-SEP-AAAAAAAAAAAAAAA1\nCOMMIT\n"))
	f.Add([]byte("*nat\n-I KUBE-SERVICES 3 -j RETURN\n-D KUBE-SERVICES 1\n-F KUBE-NODEPORTS\nCOMMIT\n"))
	f.Add([]byte("*filter\n-F\n-X\nCOMMIT\n*nat\n-F\n-X\nCOMMIT\n"))
	base := readTestdata(f, "trace/kube-proxy.payload")
	f.Fuzz(func(t *testing.T, payload []byte) {
		ctx := context.Background()
		k := proxytest.NewFakeKernel(proxytest.IPv4)
		if err := k.Restore(ctx, base); err != nil {
			t.Fatal(err)
		}
		if err := k.Restore(ctx, payload); err != nil {
			var re *proxytest.RestoreError
			if !errors.As(err, &re) {
				t.Fatalf("error %T is not a *RestoreError: %v", err, err)
			}
		}
		dump := k.Dump()
		again := proxytest.NewFakeKernel(proxytest.IPv4)
		if err := again.Restore(ctx, []byte(dump)); err != nil {
			t.Fatalf("Dump() does not restore: %v\n%s", err, dump)
		}
		if got := again.Dump(); got != dump {
			t.Fatalf("restoring Dump() gives another state:\n%s\nvs\n%s", dump, got)
		}
	})
}
