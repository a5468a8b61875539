package main

import (
	"context"
	"fmt"
	"io"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/nodekit/nodekit/proxy"
)

// kubeProxySelector is the label selector of kube-proxy's informers:
// objects handed to another proxy, and headless services' slices, are not
// its business.
const kubeProxySelector = "!" + proxy.LabelServiceProxyName + ",!" + v1.IsHeadlessService

// followKubeconfig connects to the cluster of a kubeconfig file.
func followKubeconfig(ctx context.Context, p *proxy.Proxier, c *config, stdout, stderr io.Writer) error {
	rc, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	return follow(ctx, p, client, c.partial, stdout, stderr)
}

// follow feeds p from informers on client and prints a payload each time
// the rules change: full ones, or after the first only the partial ones
// when partial is set. Lines starting with '#' separate the syncs (they are
// comments to iptables-restore). It returns when ctx is done.
func follow(ctx context.Context, p *proxy.Proxier, client kubernetes.Interface, partial bool, stdout, stderr io.Writer) error {
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = kubeProxySelector }))
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	unwrap := func(obj any) any {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			return t.Obj
		}
		return obj
	}
	svcInformer := factory.Core().V1().Services().Informer()
	if _, err := svcInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if s, ok := obj.(*v1.Service); ok {
				p.OnServiceAdd(s)
				notify()
			}
		},
		UpdateFunc: func(oldObj, obj any) {
			o, _ := oldObj.(*v1.Service)
			if s, ok := obj.(*v1.Service); ok {
				p.OnServiceUpdate(o, s)
				notify()
			}
		},
		DeleteFunc: func(obj any) {
			if s, ok := unwrap(obj).(*v1.Service); ok {
				p.OnServiceDelete(s)
				notify()
			}
		},
	}); err != nil {
		return err
	}
	sliceInformer := factory.Discovery().V1().EndpointSlices().Informer()
	if _, err := sliceInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if s, ok := obj.(*discovery.EndpointSlice); ok {
				p.OnEndpointSliceAdd(s)
				notify()
			}
		},
		UpdateFunc: func(oldObj, obj any) {
			o, _ := oldObj.(*discovery.EndpointSlice)
			if s, ok := obj.(*discovery.EndpointSlice); ok {
				p.OnEndpointSliceUpdate(o, s)
				notify()
			}
		},
		DeleteFunc: func(obj any) {
			if s, ok := unwrap(obj).(*discovery.EndpointSlice); ok {
				p.OnEndpointSliceDelete(s)
				notify()
			}
		},
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), svcInformer.HasSynced, sliceInformer.HasSynced) {
		return ctx.Err()
	}
	p.OnServicesSynced()
	p.OnEndpointSlicesSynced()
	notify()

	reported := map[string]bool{}
	for n := 1; ; {
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		for _, e := range p.Errors() {
			if !reported[e.Error()] {
				reported[e.Error()] = true
				fmt.Fprintln(stderr, "skipped:", e)
			}
		}
		plan, err := p.Plan(!partial)
		if err != nil {
			return err
		}
		if len(plan.Payload()) > 0 {
			kind := "partial"
			if plan.Full() {
				kind = "full"
			}
			fmt.Fprintf(stdout, "# sync %d (%s)\n", n, kind)
			if _, err := stdout.Write(plan.Payload()); err != nil {
				return err
			}
			n++
		}
		// Printing is this program's way of applying the payload.
		if err := p.Commit(plan); err != nil {
			return err
		}
	}
}
