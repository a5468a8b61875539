package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/proxy"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, buf *syncBuffer, substr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(buf.String(), substr) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %q in output:\n%s", substr, buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestFollow runs the informer mode against client-go's fake clientset.
func TestFollow(t *testing.T) {
	svc := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec:       v1.ServiceSpec{ClusterIP: "10.96.0.10", Ports: []v1.ServicePort{{Name: "http", Port: 80, Protocol: v1.ProtocolTCP}}},
	}
	slice := &discovery.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "default", Name: "web-1", Labels: map[string]string{discovery.LabelServiceName: "web"}},
		AddressType: discovery.AddressTypeIPv4,
		Endpoints:   []discovery.Endpoint{{Addresses: []string{"10.244.1.5"}}},
		Ports:       []discovery.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(v1.ProtocolTCP)}},
	}
	client := fake.NewSimpleClientset(svc, slice)
	p, err := proxy.New(proxy.Options{NodeName: "node-a"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- follow(ctx, p, client, true, &stdout, &stderr) }()

	waitFor(t, &stdout, "# sync 1 (full)")
	waitFor(t, &stdout, "--to-destination 10.244.1.5:8080")

	scaled := slice.DeepCopy()
	scaled.Endpoints = append(scaled.Endpoints, discovery.Endpoint{Addresses: []string{"10.244.2.7"}})
	if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, scaled, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, &stdout, "# sync 2 (partial)")
	waitFor(t, &stdout, "--to-destination 10.244.2.7:8080")

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("follow: %v", err)
	}
	second := stdout.String()[strings.Index(stdout.String(), "# sync 2"):]
	if strings.Contains(second, "KUBE-POSTROUTING") {
		t.Errorf("partial payload restates static chains:\n%s", second)
	}
}
