package proxy_test

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"testing"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"

	"github.com/google/go-cmp/cmp"
	"github.com/nodekit/nodekit/proxy/proxytest"
)

// TestConcurrentHandlersAndSyncs runs informer-style handlers on several
// goroutines while another goroutine keeps syncing to a fake kernel (run
// it with -race). Once the events stop, one more partial sync must bring
// the kernel to exactly what a full sync of the final objects writes.
func TestConcurrentHandlersAndSyncs(t *testing.T) {
	ctx := context.Background()
	p := newProxier(t, propertyOptions())
	p.OnServicesSynced()
	p.OnEndpointSlicesSynced()
	k := newKernel(t, proxytest.IPv4)

	const writers = 4
	worlds := make([]*randomWorld, writers)
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		// Each writer owns its own namespace, so the final objects are
		// well defined.
		worlds[i] = &randomWorld{r: rand.New(rand.NewSource(int64(100 + i))), services: map[string]*v1.Service{}, slices: map[string]*discovery.EndpointSlice{}}
		wg.Add(1)
		go func(w *randomWorld, ns string) {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				w.stepIn(p, ns)
			}
		}(worlds[i], fmt.Sprintf("writer%d", i))
	}
	done := make(chan struct{})
	syncErr := make(chan error, 1)
	go func() {
		defer close(syncErr)
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := p.SyncTo(ctx, k, false); err != nil {
				syncErr <- err
				return
			}
		}
	}()
	wg.Wait()
	close(done)
	if err := <-syncErr; err != nil {
		t.Fatalf("sync during events: %v", err)
	}
	if _, err := p.SyncTo(ctx, k, false); err != nil {
		t.Fatal(err)
	}

	var svcs []*v1.Service
	var slices []*discovery.EndpointSlice
	for _, w := range worlds {
		s, sl := w.objects()
		svcs = append(svcs, s...)
		slices = append(slices, sl...)
	}
	fresh := newProxier(t, propertyOptions())
	_ = fresh.SetState(svcs, slices)
	k2 := newKernel(t, proxytest.IPv4)
	if _, err := fresh.SyncTo(ctx, k2, true); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(k2.Dump(), k.Dump()); diff != "" {
		t.Fatalf("kernel differs from a full sync of the final objects (-full +concurrent):\n%s", diff)
	}
}

// TestConcurrentSyncTo runs SyncTo from several goroutines at once while
// events arrive; every payload must apply cleanly (a payload overwritten by
// another goroutine's plan would not) and the end state must be exact.
func TestConcurrentSyncTo(t *testing.T) {
	ctx := context.Background()
	p := newProxier(t, propertyOptions())
	p.OnServicesSynced()
	p.OnEndpointSlicesSynced()
	k := newKernel(t, proxytest.IPv4)
	w := &randomWorld{r: rand.New(rand.NewSource(42)), services: map[string]*v1.Service{}, slices: map[string]*discovery.EndpointSlice{}}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	stop := make(chan struct{})
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := p.SyncTo(ctx, k, false); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for j := 0; j < 300; j++ {
		w.step(p)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent SyncTo: %v", err)
	}
	if _, err := p.SyncTo(ctx, k, false); err != nil {
		t.Fatal(err)
	}
	svcs, slices := w.objects()
	fresh := newProxier(t, propertyOptions())
	_ = fresh.SetState(svcs, slices)
	k2 := newKernel(t, proxytest.IPv4)
	if _, err := fresh.SyncTo(ctx, k2, true); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(k2.Dump(), k.Dump()); diff != "" {
		t.Fatalf("kernel differs (-full +concurrent):\n%s", diff)
	}
}
