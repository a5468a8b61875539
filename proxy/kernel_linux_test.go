package proxy_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"

	"github.com/nodekit/nodekit/internal/netnstest"
	"github.com/nodekit/nodekit/internal/privtest"
	"github.com/nodekit/nodekit/proxy"
)

// nsRestorer applies payloads with the real iptables-restore --noflush
// inside a throwaway network namespace.
type nsRestorer struct{ ns *netnstest.Namespace }

func (r nsRestorer) Restore(ctx context.Context, payload []byte) error {
	cmd := r.ns.Command(ctx, "iptables-restore", "--noflush")
	cmd.Stdin = bytes.NewReader(payload)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("iptables-restore: %w: %s", err, out)
	}
	return nil
}

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// save returns iptables-save of the filter and nat tables without the
// comment lines and counters that differ between runs.
func save(t *testing.T, ns *netnstest.Namespace) string {
	t.Helper()
	var b strings.Builder
	for _, table := range []string{"filter", "nat"} {
		for _, line := range strings.Split(ns.MustRun(t, "iptables-save", "-t", table), "\n") {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			b.WriteString(counters.ReplaceAllString(line, "[0:0]"))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// TestRealKernelPartialSyncsEqualFullSync replays the property test on the
// real iptables-restore (nf_tables backend) in network namespaces: after
// random events and partial syncs, iptables-save shows exactly what a full
// sync of the final objects gives in a fresh namespace. This checks the
// "-D"/"-I n" partial payloads against the real tool, not only the fake.
func TestRealKernelPartialSyncsEqualFullSync(t *testing.T) {
	privtest.Require(t, "iptables-restore", "iptables-save")
	ctx := context.Background()
	sb := netnstest.New(t)
	for seed := int64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			incremental := sb.Namespace(fmt.Sprintf("pinc%d", seed))
			reference := sb.Namespace(fmt.Sprintf("pref%d", seed))
			w := &randomWorld{r: rand.New(rand.NewSource(seed)), services: map[string]*v1.Service{}, slices: map[string]*discovery.EndpointSlice{}}
			p := newProxier(t, propertyOptions())
			r := nsRestorer{incremental}
			if err := r.Restore(ctx, proxy.JumpRulesPayload()); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 10; i++ {
				w.step(p)
			}
			p.OnServicesSynced()
			p.OnEndpointSlicesSynced()
			if _, err := p.SyncTo(ctx, r, false); err != nil {
				t.Fatalf("first sync: %v", err)
			}
			for round := 0; round < 15; round++ {
				for i := 0; i < 1+w.r.Intn(3); i++ {
					w.step(p)
				}
				if _, err := p.SyncTo(ctx, r, false); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			svcs, slices := w.objects()
			fresh := newProxier(t, propertyOptions())
			_ = fresh.SetState(svcs, slices)
			rr := nsRestorer{reference}
			if err := rr.Restore(ctx, proxy.JumpRulesPayload()); err != nil {
				t.Fatal(err)
			}
			if _, err := fresh.SyncTo(ctx, rr, true); err != nil {
				t.Fatalf("full sync: %v", err)
			}
			if diff := cmp.Diff(save(t, reference), save(t, incremental)); diff != "" {
				t.Fatalf("iptables-save after partial syncs differs from a full sync (-full +partial):\n%s", diff)
			}
		})
	}
}
