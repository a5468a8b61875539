package proxy_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nodekit/nodekit/proxy"
	"github.com/nodekit/nodekit/proxy/proxytest"
)

// sectionCounter applies payloads to a fake kernel and counts their
// table sections.
type sectionCounter struct {
	k        *proxytest.FakeKernel
	sections int
}

func (s *sectionCounter) Restore(ctx context.Context, payload []byte) error {
	s.sections += bytes.Count(payload, []byte("\nCOMMIT\n"))
	return s.k.Restore(ctx, payload)
}

func TestSplitPayloadKeepsFinalStateAndOrder(t *testing.T) {
	ctx := context.Background()
	svcs, slices := benchObjects(300, 3)
	opts := kubeProxyTestOptions()
	// Reference: unsplit full syncs.
	ref := newProxier(t, opts)
	if err := ref.SetState(svcs, slices); err != nil {
		t.Fatal(err)
	}
	refKernel := proxytest.NewFakeKernel(proxytest.IPv4)
	if _, err := ref.SyncTo(ctx, refKernel, false); err != nil {
		t.Fatal(err)
	}
	p := newProxier(t, opts)
	if err := p.SetState(svcs, slices); err != nil {
		t.Fatal(err)
	}
	pl, err := p.Plan(true)
	if err != nil {
		t.Fatal(err)
	}
	split := proxy.SplitPayload(pl.Payload(), 100)
	if bytes.Equal(split, pl.Payload()) {
		t.Fatal("a payload of 1,500 chains was not split")
	}
	parsed, err := proxytest.ParsePayload(split)
	if err != nil {
		t.Fatal(err)
	}
	// Each section is applied on its own; the fake refuses any section
	// that jumps to a chain not there yet or deletes one still in use.
	k := proxytest.NewFakeKernel(proxytest.IPv4)
	for i, table := range parsed.Tables {
		if table.Name == "nat" && i < len(parsed.Tables)-1 && len(table.Chains) > 100 {
			t.Errorf("section %d declares %d chains", i, len(table.Chains))
		}
		one := &proxytest.Payload{Tables: []proxytest.Table{table}}
		if err := k.Restore(ctx, []byte(one.String())); err != nil {
			t.Fatalf("section %d (%s) alone: %v", i, table.Name, err)
		}
	}
	if err := p.Commit(pl); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(refKernel.Dump(), k.Dump()); diff != "" {
		t.Fatalf("split payload gives another state (-unsplit +split):\n%s", diff)
	}
	t.Logf("%d bytes in %d sections", len(split), len(parsed.Tables))

	// A full sync that replaces most services (endpoints moved, some
	// services gone): split again, section by section, same result.
	svcs2, slices2 := benchObjects(200, 4)
	for _, p := range []*proxy.Proxier{ref, p} {
		if err := p.SetState(svcs2, slices2); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := ref.SyncTo(ctx, refKernel, true); err != nil {
		t.Fatal(err)
	}
	sc := &sectionCounter{k: k}
	if _, err := p.SyncTo(ctx, proxytestSplit{sc, 100}, true); err != nil {
		t.Fatal(err)
	}
	if sc.sections < 5 {
		t.Errorf("second full sync in %d sections", sc.sections)
	}
	if diff := cmp.Diff(refKernel.Dump(), k.Dump()); diff != "" {
		t.Fatalf("second split full sync (-unsplit +split):\n%s", diff)
	}
}

type proxytestSplit struct {
	r   proxy.Restorer
	max int
}

func (s proxytestSplit) Restore(ctx context.Context, payload []byte) error {
	return s.r.Restore(ctx, proxy.SplitPayload(payload, s.max))
}

func TestSplitPayloadLeavesOtherShapesAlone(t *testing.T) {
	for _, payload := range []string{
		"*nat\n:A - [0:0]\n:B - [0:0]\n-A A -j B\nCOMMIT\n",                        // under the limit
		"*nat\n:A - [0:0]\n:B - [0:0]\n:C - [0:0]\n-I A 1 -j B\nCOMMIT\n",          // an insert
		"*nat\n:A - [0:0]\n:B - [0:0]\n:C - [0:0]\n-A A -j B\n-A B -j A\nCOMMIT\n", // a cycle
		"*nat\n:PREROUTING ACCEPT [0:0]\n:B - [0:0]\n:C - [0:0]\nCOMMIT\n",         // a policy
		"garbage",
	} {
		if got := proxy.SplitPayload([]byte(payload), 2); string(got) != payload {
			t.Errorf("SplitPayload(%q) = %q", payload, got)
		}
	}
	got := string(proxy.SplitPayload([]byte("*nat\n:S - [0:0]\n:V - [0:0]\n:E - [0:0]\n:OLD - [0:0]\n"+
		"-A S -m comment --comment \"x -j OLD\" -j V\n-A V -j E\n-A E -j DNAT --to-destination 10.0.0.1:80\n-X OLD\nCOMMIT\n"), 1))
	// The three chains link up (no hub among them): one unit, kept in one
	// section although it exceeds the limit; stale chains go last.
	want := "*nat\n:S - [0:0]\n:V - [0:0]\n:E - [0:0]\n:OLD - [0:0]\n" +
		"-A S -m comment --comment \"x -j OLD\" -j V\n-A V -j E\n-A E -j DNAT --to-destination 10.0.0.1:80\n-X OLD\nCOMMIT\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	// A hub (more than 32 jumps) gets a section after its targets.
	var b strings.Builder
	b.WriteString("*nat\n:HUB - [0:0]\n")
	for i := range 40 {
		fmt.Fprintf(&b, ":C%d - [0:0]\n", i)
	}
	for i := range 40 {
		fmt.Fprintf(&b, "-A HUB -d 10.0.0.%d -j C%d\n-A C%d -j RETURN\n", i, i, i)
	}
	b.WriteString("COMMIT\n")
	split := string(proxy.SplitPayload([]byte(b.String()), 10))
	sections := strings.Split(strings.TrimSuffix(split, "COMMIT\n"), "COMMIT\n")
	if len(sections) != 5 || !strings.HasPrefix(sections[4], "*nat\n:HUB - [0:0]\n-A HUB") {
		t.Errorf("hub payload split into %d sections:\n%s", len(sections), split)
	}
}

func FuzzSplitPayload(f *testing.F) {
	f.Add("*nat\n:S - [0:0]\n:V - [0:0]\n-A S -j V\n-A V -j RETURN\nCOMMIT\n", 1)
	f.Add("*nat\n:S - [0:0]\n:OLD - [0:0]\n-A S \"-j\" OLD\n-X OLD\nCOMMIT\n*filter\nCOMMIT\n", 1)
	f.Fuzz(func(t *testing.T, payload string, max int) {
		out := proxy.SplitPayload([]byte(payload), max%50)
		// Splitting never loses or invents a line (blank and comment lines
		// aside, which a split section drops).
		count := func(s string) map[string]int {
			m := map[string]int{}
			for _, l := range strings.Split(s, "\n") {
				if l != "" && l != "COMMIT" && !strings.HasPrefix(l, "*") && !strings.HasPrefix(l, "#") {
					m[l]++
				}
			}
			return m
		}
		if diff := cmp.Diff(count(payload), count(string(out))); diff != "" {
			t.Fatalf("lines differ:\n%s", diff)
		}
	})
}

func TestSyncerSplitsIntoRuns(t *testing.T) {
	ctx := context.Background()
	svcs, slices := benchObjects(300, 3)
	run := func(split int) (*proxytest.FakeNetfilter, proxy.SyncResult) {
		p := newProxier(t, kubeProxyTestOptions())
		if err := p.SetState(svcs, slices); err != nil {
			t.Fatal(err)
		}
		nf := proxytest.NewFakeNetfilter(proxytest.IPv4)
		res := proxy.NewSyncer(p, nf, proxy.SyncerOptions{SplitChains: split}).SyncOnce(ctx)
		if res.Err != nil {
			t.Fatal(res.Err)
		}
		return nf, res
	}
	whole, _ := run(-1)
	split, _ := run(50)
	if diff := cmp.Diff(whole.Dump(), split.Dump()); diff != "" {
		t.Errorf("split sync gives another state (-whole +split):\n%s", diff)
	}
	// 1,500 per-service chains in sections of about 50, ten sections per
	// run: at least three runs, each a Restore of its own.
	if n := split.Restores(); n < 3 || whole.Restores() != 1 {
		t.Errorf("restores: split %d, whole %d", n, whole.Restores())
	}
}

// slowSections is a Netfilter that applies each table section of a
// payload on its own, as iptables-nft commits them, with a random pause
// before each so that concurrent restores interleave, and records how many
// restores ran at once.
type slowSections struct {
	*proxytest.FakeNetfilter
	mu              sync.Mutex
	active, maxSeen int
	rnd             *rand.Rand
}

func (s *slowSections) Restore(ctx context.Context, payload []byte) error {
	s.mu.Lock()
	s.active++
	s.maxSeen = max(s.maxSeen, s.active)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.active--
		s.mu.Unlock()
	}()
	for len(payload) > 0 {
		end := bytes.Index(payload, []byte("\nCOMMIT\n")) + len("\nCOMMIT\n")
		s.mu.Lock()
		pause := time.Duration(s.rnd.IntN(2000)) * time.Microsecond
		s.mu.Unlock()
		time.Sleep(pause)
		if err := s.FakeNetfilter.Restore(ctx, payload[:end]); err != nil {
			return err
		}
		payload = payload[end:]
	}
	return nil
}

// TestSyncerParallelRestoresKeepEveryCommitConsistent applies split full
// syncs with four restores at once on a fake kernel that refuses any
// section jumping to a chain not there yet or deleting one still in use,
// and compares the result with an unsplit sync.
func TestSyncerParallelRestoresKeepEveryCommitConsistent(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(5) {
		svcs, slices := benchObjects(400, 3)
		p := newProxier(t, kubeProxyTestOptions())
		if err := p.SetState(svcs, slices); err != nil {
			t.Fatal(err)
		}
		nf := &slowSections{FakeNetfilter: proxytest.NewFakeNetfilter(proxytest.IPv4), rnd: rand.New(rand.NewPCG(seed, 1))}
		s := proxy.NewSyncer(p, nf, proxy.SyncerOptions{SplitChains: 20, ParallelRestores: 4})
		if res := s.SyncOnce(ctx); res.Err != nil {
			t.Fatalf("seed %d: %v", seed, res.Err)
		}
		// A second full sync that replaces and deletes services.
		svcs2, slices2 := benchObjects(250, 4)
		if err := p.SetState(svcs2, slices2); err != nil {
			t.Fatal(err)
		}
		p.RequestFullSync()
		if res := s.SyncOnce(ctx); res.Err != nil || !res.Stats.Full {
			t.Fatalf("seed %d: second sync: %+v", seed, res)
		}
		ref := newProxier(t, kubeProxyTestOptions())
		if err := ref.SetState(svcs2, slices2); err != nil {
			t.Fatal(err)
		}
		whole := proxytest.NewFakeNetfilter(proxytest.IPv4)
		if res := proxy.NewSyncer(ref, whole, proxy.SyncerOptions{SplitChains: -1}).SyncOnce(ctx); res.Err != nil {
			t.Fatal(res.Err)
		}
		if diff := cmp.Diff(whole.Dump(), nf.Dump()); diff != "" {
			t.Fatalf("seed %d: parallel split sync gives another state (-whole +split):\n%s", seed, diff)
		}
		if nf.maxSeen < 2 {
			t.Errorf("seed %d: at most %d restores at once, want several", seed, nf.maxSeen)
		}
	}
}
