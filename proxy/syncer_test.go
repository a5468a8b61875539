package proxy_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/proxy"
	"github.com/nodekit/nodekit/proxy/proxytest"
)

var _ proxy.Netfilter = (*proxytest.FakeNetfilter)(nil)

// nfService is a ClusterIP service ns/name with one port "p" of proto.
func nfService(ns, name, ip string, proto v1.Protocol, mutate ...func(*v1.Service)) *v1.Service {
	return makeService(ns, name, func(s *v1.Service) {
		s.Spec.ClusterIP = ip
		s.Spec.Ports = []v1.ServicePort{{Name: "p", Port: 80, Protocol: proto}}
		for _, m := range mutate {
			m(s)
		}
	})
}

// nfSlice is the slice of ns/svc with port "p" (8080, proto) on addrs,
// all on node "test-node" when local.
func nfSlice(ns, svc string, proto v1.Protocol, local bool, addrs ...string) *discovery.EndpointSlice {
	return makeSlice(ns, svc, 0, func(s *discovery.EndpointSlice) {
		s.Ports = []discovery.EndpointPort{{Name: ptr.To("p"), Port: ptr.To[int32](8080), Protocol: ptr.To(proto)}}
		for _, a := range addrs {
			e := discovery.Endpoint{Addresses: []string{a}}
			if local {
				e.NodeName = ptr.To(testNodeName)
			}
			s.Endpoints = append(s.Endpoints, e)
		}
	})
}

// nfSetup returns a synced Proxier over a FakeNetfilter whose tables
// exist and hold one foreign chain and rule, and a Syncer.
func nfSetup(t *testing.T, opts proxy.SyncerOptions, objs ...any) (*proxy.Proxier, *proxytest.FakeNetfilter, *proxy.Syncer) {
	t.Helper()
	p := newProxier(t, kubeProxyTestOptions())
	var svcs []*v1.Service
	var slices []*discovery.EndpointSlice
	for _, o := range objs {
		switch o := o.(type) {
		case *v1.Service:
			svcs = append(svcs, o)
		case *discovery.EndpointSlice:
			slices = append(slices, o)
		}
	}
	if err := p.SetState(svcs, slices); err != nil {
		t.Fatal(err)
	}
	nf := proxytest.NewFakeNetfilter(proxytest.IPv4)
	if err := nf.Restore(context.Background(), []byte(foreignRules)); err != nil {
		t.Fatal(err)
	}
	return p, nf, proxy.NewSyncer(p, nf, opts)
}

// foreignRules are someone else's: Cleanup and repairs must keep them.
const foreignRules = `*filter
:OTHER - [0:0]
-A INPUT -j OTHER
-A OTHER -s 10.9.9.9 -j DROP
COMMIT
*nat
:OTHER-NAT - [0:0]
-A POSTROUTING -j OTHER-NAT
COMMIT
*mangle
COMMIT
`

func TestBootstrapIsIdempotentAndMatchesKubeProxyOrder(t *testing.T) {
	ctx := context.Background()
	p := newProxier(t, kubeProxyTestOptions()) // LocalhostNodePorts: all jumps
	nf := proxytest.NewFakeNetfilter(proxytest.IPv4)
	if err := p.Bootstrap(ctx, nf); err != nil {
		t.Fatal(err)
	}
	first := nf.Dump()
	if err := p.Bootstrap(ctx, nf); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, nf.Dump()); diff != "" {
		t.Errorf("second Bootstrap changed the kernel (-first +second):\n%s", diff)
	}
	// kube-proxy's order: the same as applying JumpRulesPayload (each
	// jump prepended in turn) to a clean kernel, plus the canaries.
	ref := proxytest.NewFakeKernel(proxytest.IPv4)
	canaries := "*mangle\n:KUBE-PROXY-CANARY - [0:0]\nCOMMIT\n*nat\n:KUBE-PROXY-CANARY - [0:0]\nCOMMIT\n*filter\n:KUBE-PROXY-CANARY - [0:0]\nCOMMIT\n"
	if err := ref.Restore(ctx, append(proxy.JumpRulesPayload(), canaries...)); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ref.DumpCanonical(), nf.DumpCanonical()); diff != "" {
		t.Errorf("Bootstrap differs from kube-proxy's jumps (-want +got):\n%s", diff)
	}
}

func TestBootstrapSkipsKubeletFirewallWhenUnused(t *testing.T) {
	opts := kubeProxyTestOptions()
	opts.LocalhostNodePorts = false
	p := newProxier(t, opts)
	nf := proxytest.NewFakeNetfilter(proxytest.IPv4)
	if err := p.Bootstrap(context.Background(), nf); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(nf.Dump(), proxy.ChainKubeletFirewall) {
		t.Errorf("KUBE-FIREWALL created although the payloads never write it:\n%s", nf.Dump())
	}
}

func TestSyncOnceCheckDriftAndCleanup(t *testing.T) {
	ctx := context.Background()
	p, nf, s := nfSetup(t, proxy.SyncerOptions{},
		nfService("ns1", "web", "172.30.0.41", v1.ProtocolTCP), nfSlice("ns1", "web", v1.ProtocolTCP, true, "10.0.1.1", "10.0.1.2"),
		nfService("ns2", "dns", "172.30.0.42", v1.ProtocolUDP), nfSlice("ns2", "dns", v1.ProtocolUDP, false, "10.0.2.1"),
		nfService("ns3", "none", "172.30.0.43", v1.ProtocolTCP))
	before := nf.Dump()
	if res := s.SyncOnce(ctx); res.Err != nil || !res.Stats.Full {
		t.Fatalf("first sync: %+v", res)
	}
	rep, err := p.CheckDrift(ctx, nf)
	if err != nil {
		t.Fatalf("CheckDrift right after a sync: %v", err)
	}
	if err := p.CheckDriftQuick(ctx, nf); err != nil {
		t.Fatalf("CheckDriftQuick right after a sync: %v", err)
	}
	if rep.Rules[proxy.TableNAT] == 0 || rep.Rules[proxy.TableFilter] == 0 {
		t.Errorf("rule counts %v", rep.Rules)
	}
	for _, table := range []string{"mangle", "nat", "filter"} {
		if !contains(nf.Chains(table), proxy.CanaryChain) {
			t.Errorf("no canary in %s", table)
		}
	}
	if err := proxy.Cleanup(ctx, nf); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, nf.Dump()); diff != "" {
		t.Errorf("Cleanup did not restore the tables (-before +after):\n%s", diff)
	}
	if err := proxy.Cleanup(ctx, nf); err != nil {
		t.Fatalf("second Cleanup: %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// driftCases are external changes CheckDrift must notice; each is a
// payload applied after a clean sync.
var driftCases = []struct {
	name, payload, reason string
}{
	{"flush nat", "*nat\n-F\nCOMMIT\n", "jump PREROUTING -> KUBE-SERVICES missing"},
	{"flush filter", "*filter\n-F\nCOMMIT\n", "jump INPUT -> KUBE-EXTERNAL-SERVICES missing"},
	{"flush one chain", "*nat\n-F KUBE-SERVICES\nCOMMIT\n", "nat: chain KUBE-SERVICES holds 0 rules"},
	{"delete canary", "*mangle\n-X KUBE-PROXY-CANARY\nCOMMIT\n", "mangle: canary chain KUBE-PROXY-CANARY missing"},
	{"delete a KUBE-SVC chain", "", "nat: chain KUBE-SVC-"},
}

func TestCheckDriftDetectsAndSyncerRepairs(t *testing.T) {
	for _, tc := range driftCases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
			results := make(chan proxy.SyncResult, 16)
			p, nf, s := nfSetup(t, proxy.SyncerOptions{Clock: clk, OnSync: func(r proxy.SyncResult) { results <- r }},
				nfService("ns1", "web", "172.30.0.41", v1.ProtocolTCP), nfSlice("ns1", "web", v1.ProtocolTCP, true, "10.0.1.1", "10.0.1.2"))
			runSyncer(t, s)
			if r := <-results; r.Err != nil {
				t.Fatal(r.Err)
			}
			want := nf.Dump()
			payload := tc.payload
			if payload == "" {
				payload = deleteSVCChainPayload(t, nf)
			}
			if err := nf.Restore(ctx, []byte(payload)); err != nil {
				t.Fatal(err)
			}
			_, err := p.CheckDrift(ctx, nf)
			if !errors.Is(err, proxy.ErrDrift) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("CheckDrift = %v, want ErrDrift with %q", err, tc.reason)
			}
			if err := p.CheckDriftQuick(ctx, nf); !errors.Is(err, proxy.ErrDrift) {
				t.Fatalf("CheckDriftQuick = %v, want ErrDrift", err)
			}
			// One check interval later the Syncer has repaired it.
			stepUntilWaiting(clk, proxy.DefaultCheckInterval)
			r := <-results
			if r.Err != nil || !r.Stats.Full || !errors.Is(r.Drift, proxy.ErrDrift) {
				t.Fatalf("repair sync: %+v", r)
			}
			// A table flush takes the foreign rules with it; ours must be back.
			if diff := cmp.Diff(withoutForeign(want), withoutForeign(nf.Dump())); diff != "" {
				t.Errorf("after repair (-want +got):\n%s", diff)
			}
		})
	}
}

// withoutForeign drops the lines of foreignRules from a dump.
func withoutForeign(dump string) string {
	var keep []string
	for _, l := range strings.Split(dump, "\n") {
		if !strings.Contains(l, "OTHER") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// deleteSVCChainPayload deletes the KUBE-SVC chain of ns1/web the way an
// operator would have to: remove the rule jumping to it, flush, delete.
func deleteSVCChainPayload(t *testing.T, nf *proxytest.FakeNetfilter) string {
	var svc string
	for _, c := range nf.Chains("nat") {
		if strings.HasPrefix(c, "KUBE-SVC-") {
			svc = c
		}
	}
	var b strings.Builder
	b.WriteString("*nat\n")
	for _, chain := range nf.Chains("nat") {
		for _, r := range nf.Rules("nat", chain) {
			if r.Target() == svc {
				b.WriteString("-D " + strings.TrimPrefix(r.String(), "-A ") + "\n")
			}
		}
	}
	fmt.Fprintf(&b, "-F %s\n-X %s\nCOMMIT\n", svc, svc)
	return b.String()
}

// runSyncer runs s until the test ends.
func runSyncer(t *testing.T, s *proxy.Syncer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// stepUntilWaiting waits until Run sleeps on the fake clock, then steps it.
func stepUntilWaiting(clk *clocktesting.FakeClock, d time.Duration) {
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	clk.Step(d)
}

// waitIdle waits until Run sleeps on the fake clock.
func waitIdle(clk *clocktesting.FakeClock) {
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
}

func TestSyncerBoundedFrequency(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	results := make(chan proxy.SyncResult, 16)
	p, nf, s := nfSetup(t, proxy.SyncerOptions{Clock: clk, CheckInterval: -1, OnSync: func(r proxy.SyncResult) { results <- r }},
		nfService("ns1", "web", "172.30.0.41", v1.ProtocolTCP))
	runSyncer(t, s)
	if r := <-results; r.Err != nil || !r.Stats.Full {
		t.Fatalf("first sync %+v", r)
	}
	waitIdle(clk)
	restores := nf.Restores()

	// A burst of changes within the minimum interval: one partial sync,
	// not before a second after the first.
	for i := range 5 {
		p.OnEndpointSliceUpdate(nil, nfSlice("ns1", "web", v1.ProtocolTCP, false, fmt.Sprintf("10.0.1.%d", i+1)))
		s.Sync()
	}
	waitIdle(clk)
	clk.Step(500 * time.Millisecond)
	waitIdle(clk)
	select {
	case r := <-results:
		t.Fatalf("synced %v after the previous sync, before MinSyncInterval: %+v", 500*time.Millisecond, r)
	default:
	}
	clk.Step(500 * time.Millisecond)
	r := <-results
	if r.Err != nil || r.Stats.Full || r.Stats.ChangedServicePorts != 1 {
		t.Fatalf("burst sync %+v", r)
	}
	waitIdle(clk)
	if got := nf.Restores() - restores; got != 1 {
		t.Errorf("%d restores for a burst of 5 changes, want 1", got)
	}
	if !strings.Contains(nf.Dump(), "10.0.1.5:8080") {
		t.Errorf("last change not applied")
	}

	// Without requests, a sync runs every MaxSyncInterval.
	clk.Step(proxy.DefaultMaxSyncInterval - time.Millisecond)
	waitIdle(clk)
	select {
	case r := <-results:
		t.Fatalf("synced before MaxSyncInterval: %+v", r)
	default:
	}
	clk.Step(time.Millisecond)
	if r := <-results; r.Err != nil || r.Stats.PayloadBytes != 0 {
		t.Fatalf("periodic sync %+v", r)
	}
}

func TestSyncerRetriesWithBackoffAndFullSync(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	results := make(chan proxy.SyncResult, 16)
	p, nf, s := nfSetup(t, proxy.SyncerOptions{Clock: clk, CheckInterval: -1, OnSync: func(r proxy.SyncResult) { results <- r }},
		nfService("ns1", "web", "172.30.0.41", v1.ProtocolTCP))
	runSyncer(t, s)
	if r := <-results; r.Err != nil {
		t.Fatal(r.Err)
	}
	lock := errors.New("another app is currently holding the xtables lock")
	nf.FailNextRestore(lock)
	nf.FailNextRestore(lock)
	p.OnEndpointSliceUpdate(nil, nfSlice("ns1", "web", v1.ProtocolTCP, false, "10.0.1.9"))
	s.Sync()
	stepUntilWaiting(clk, time.Second)
	if r := <-results; !errors.Is(r.Err, lock) || r.Stats.Full {
		t.Fatalf("first attempt %+v, want the lock error on a partial sync", r)
	}
	if s.Healthy() {
		t.Errorf("Healthy after a failure")
	}
	// Backoff 1 s, then 2 s; each retry is a full sync.
	stepUntilWaiting(clk, time.Second)
	if r := <-results; !errors.Is(r.Err, lock) || !r.Stats.Full {
		t.Fatalf("second attempt %+v, want a failed full sync", r)
	}
	stepUntilWaiting(clk, time.Second)
	waitIdle(clk)
	select {
	case r := <-results:
		t.Fatalf("retried before the 2 s backoff: %+v", r)
	default:
	}
	clk.Step(time.Second)
	if r := <-results; r.Err != nil || !r.Stats.Full {
		t.Fatalf("third attempt %+v, want a successful full sync", r)
	}
	if !s.Healthy() || !strings.Contains(nf.Dump(), "10.0.1.9:8080") {
		t.Errorf("not repaired: healthy %v\n%s", s.Healthy(), nf.Dump())
	}
}

func TestSyncerRejectedPayloadKeepsPreviousRules(t *testing.T) {
	// A payload the kernel refuses (here: the fake refuses a chain it
	// cannot find, as the kernel would) leaves the previous table intact.
	ctx := context.Background()
	_, nf, s := nfSetup(t, proxy.SyncerOptions{},
		nfService("ns1", "web", "172.30.0.41", v1.ProtocolTCP), nfSlice("ns1", "web", v1.ProtocolTCP, false, "10.0.1.1"))
	if r := s.SyncOnce(ctx); r.Err != nil {
		t.Fatal(r.Err)
	}
	before := nf.Dump()
	bad := "*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j KUBE-NOWHERE\nCOMMIT\n"
	err := nf.Restore(ctx, []byte(bad))
	var re *proxytest.RestoreError
	if !errors.As(err, &re) || re.Line != 3 {
		t.Fatalf("err = %v", err)
	}
	if diff := cmp.Diff(before, nf.Dump()); diff != "" {
		t.Errorf("a refused payload changed the kernel:\n%s", diff)
	}
}

func TestSyncerWaitsForInformers(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	results := make(chan proxy.SyncResult, 4)
	p := newProxier(t, kubeProxyTestOptions())
	nf := proxytest.NewFakeNetfilter(proxytest.IPv4)
	s := proxy.NewSyncer(p, nf, proxy.SyncerOptions{Clock: clk, CheckInterval: -1, OnSync: func(r proxy.SyncResult) { results <- r }})
	runSyncer(t, s)
	if r := <-results; !errors.Is(r.Err, proxy.ErrNotSynced) {
		t.Fatalf("first sync %+v, want ErrNotSynced", r)
	}
	p.OnServicesSynced()
	p.OnEndpointSlicesSynced()
	s.Sync()
	stepUntilWaiting(clk, time.Second)
	if r := <-results; r.Err != nil || !r.Stats.Full {
		t.Fatalf("after sync signals %+v", r)
	}
	if err := s.Run(context.Background()); err == nil {
		t.Errorf("second concurrent Run did not fail")
	}
}

var _ clock.WithTicker = (*clocktesting.FakeClock)(nil)
