package manifest

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const webYAML = `# three web pods and their service
apiVersion: v1
kind: Pod
metadata:
  name: web-0
  labels: {app: web}
spec:
  containers:
  - name: httpd
    image: busybox:latest
    ports:
    - name: http
      containerPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector: {app: web}
  ports:
  - port: 80
    targetPort: http
---
# only a comment
`

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDefaultsAndAllocations(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "web.yaml", webYAML)
	writeFile(t, dir, "notes.txt", "not a manifest")
	writeFile(t, dir, ".hidden.yaml", "garbage: [")
	src := NewSource(dir, Options{NodeName: "node-1"})
	set, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Pods) != 1 || len(set.Services) != 1 {
		t.Fatalf("got %d pods, %d services", len(set.Pods), len(set.Services))
	}
	pod := set.Pods[0]
	if pod.Namespace != "default" || pod.Spec.NodeName != "node-1" || len(pod.UID) != 32 {
		t.Errorf("pod defaults: ns %q node %q uid %q", pod.Namespace, pod.Spec.NodeName, pod.UID)
	}
	if p := pod.Spec.Containers[0].Ports[0].Protocol; p != v1.ProtocolTCP {
		t.Errorf("port protocol %q, want TCP", p)
	}
	svc := set.Services[0]
	if !DefaultServiceCIDR.Contains(mustAddr(t, svc.Spec.ClusterIP)) || len(svc.Spec.ClusterIPs) != 1 {
		t.Errorf("cluster IP %q not allocated from %s", svc.Spec.ClusterIP, DefaultServiceCIDR)
	}
	np := svc.Spec.Ports[0].NodePort
	if np < 30000 || np > 32767 {
		t.Errorf("node port %d not allocated", np)
	}
	if svc.Spec.Ports[0].Protocol != v1.ProtocolTCP || svc.Spec.ExternalTrafficPolicy != v1.ServiceExternalTrafficPolicyCluster ||
		*svc.Spec.InternalTrafficPolicy != v1.ServiceInternalTrafficPolicyCluster || svc.Spec.IPFamilies[0] != v1.IPv4Protocol {
		t.Errorf("service defaults: %+v", svc.Spec)
	}
	if svc.Spec.Ports[0].TargetPort != intstr.FromString("http") {
		t.Errorf("targetPort %v", svc.Spec.Ports[0].TargetPort)
	}

	// The same manifest gives the same UID and allocations in a new Source
	// (a restarted agent); another node gives another UID.
	again, err := NewSource(dir, Options{NodeName: "node-1"}).Load()
	if err != nil {
		t.Fatal(err)
	}
	if again.Pods[0].UID != pod.UID || again.Services[0].Spec.ClusterIP != svc.Spec.ClusterIP || again.Services[0].Spec.Ports[0].NodePort != np {
		t.Error("UID or allocations differ between two sources on the same files")
	}
	other, err := NewSource(dir, Options{NodeName: "node-2"}).Load()
	if err != nil {
		t.Fatal(err)
	}
	if other.Pods[0].UID == pod.UID {
		t.Error("the UID does not depend on the node")
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return a
}

func TestLoadList(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "list.json", `{"apiVersion":"v1","kind":"List","items":[
		{"apiVersion":"v1","kind":"Service","metadata":{"name":"a","namespace":"ns"},"spec":{"clusterIP":"10.96.0.20","ports":[{"port":53,"protocol":"UDP"}]}},
		{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"ns"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}]}`)
	set, err := NewSource(dir, Options{NodeName: "n"}).Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Pods) != 1 || len(set.Services) != 1 || set.Services[0].Spec.ClusterIP != "10.96.0.20" {
		t.Fatalf("got %+v", set)
	}
}

func TestLoadErrors(t *testing.T) {
	pod := func(body string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n" + body
	}
	okPod := pod("spec:\n  containers:\n  - name: c\n    image: busybox\n")
	svc := func(spec string) string {
		return "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n" + spec
	}
	tests := []struct {
		name    string
		content string
		want    string // substring of the error
	}{
		{"unknown field", pod("spec:\n  containerz: []\n"), `document 1 (Pod): json: unknown field "containerz"`},
		{"no kind", "metadata:\n  name: x\n", "document 1: apiVersion and kind are required"},
		{"unsupported kind", "apiVersion: apps/v1\nkind: Deployment\n", `(Deployment): kind: apps/v1 "Deployment" is not supported`},
		{"bad yaml", "apiVersion: v1\nkind: Pod\nmetadata: [\n", "document 1: "},
		{"no containers", pod("spec: {}\n"), "(Pod default/p): "},
		{"pod name", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: Bad_Name\nspec:\n  containers:\n  - name: c\n    image: busybox\n", "(Pod default/Bad_Name): metadata.name: "},
		{"container port", pod("spec:\n  containers:\n  - name: c\n    image: busybox\n    ports:\n    - containerPort: 70000\n"), "spec.containers[0].ports[0].containerPort: 70000 is not between 1 and 65535"},
		{"other node", pod("spec:\n  nodeName: elsewhere\n  containers:\n  - name: c\n    image: busybox\n"), `spec.nodeName: "elsewhere" is not this node`},
		{"second document bad", okPod + "---\n" + svc("  ports:\n  - port: 0\n"), "document 2 (Service default/s): spec.ports[0].port: 0 is not between 1 and 65535"},
		{"port names", svc("  ports:\n  - port: 80\n  - port: 81\n    name: b\n"), "spec.ports[0].name: required when there is more than one port"},
		{"cluster IP outside", svc("  clusterIP: 192.168.0.1\n  ports:\n  - port: 80\n"), "spec.clusterIP: 192.168.0.1 is not in the service CIDR 10.96.0.0/16"},
		{"node port on ClusterIP", svc("  ports:\n  - port: 80\n    nodePort: 30001\n"), "spec.ports[0].nodePort: may not be used when type is ClusterIP"},
		{"node port range", svc("  type: NodePort\n  ports:\n  - port: 80\n    nodePort: 80\n"), "spec.ports[0].nodePort: 80 is not in the node port range 30000-32767"},
		{"bad type", svc("  type: Magic\n  ports:\n  - port: 80\n"), `spec.type: "Magic" is not ClusterIP`},
		{"dual stack", svc("  ipFamilies: [IPv4, IPv6]\n  ports:\n  - port: 80\n"), "spec.ipFamilies: this node is single-stack IPv4"},
		{"duplicate pod", okPod + "---\n" + okPod, `document 2 (Pod default/p): metadata.name: duplicate: already defined in`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "m.yaml", tc.content)
			set, err := NewSource(dir, Options{NodeName: "n"}).Load()
			if err == nil {
				t.Fatalf("no error; set %+v", set)
			}
			if !errors.Is(err, ErrInvalidManifest) {
				t.Errorf("error %v does not wrap ErrInvalidManifest", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "m.yaml") {
				t.Errorf("error %q does not name the file", err)
			}
			if tc.name != "duplicate pod" && (len(set.Pods) != 0 || len(set.Services) != 0) {
				t.Errorf("a refused file contributed objects: %+v", set)
			}
		})
	}
}

func TestClashingClusterIPs(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIP: 10.96.0.5, ports: [{port: 80}]}\n")
	writeFile(t, dir, "b.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {clusterIP: 10.96.0.5, ports: [{port: 80}]}\n")
	set, err := NewSource(dir, Options{NodeName: "n"}).Load()
	if err == nil || !strings.Contains(err.Error(), "b.yaml") || !strings.Contains(err.Error(), "10.96.0.5 is already allocated to default/a") {
		t.Fatalf("error %v", err)
	}
	if len(set.Services) != 1 || set.Services[0].Name != "a" {
		t.Fatalf("services %v", set.Services)
	}
}

func TestBrokenEditKeepsLastGoodContent(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "web.yaml", webYAML)
	src := NewSource(dir, Options{NodeName: "n"})
	first, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "web.yaml", webYAML+"---\napiVersion: v1\nkind: Pod\nmetadata: {name: half-written\n")
	second, err := src.Load()
	if err == nil {
		t.Fatal("a broken file gave no error")
	}
	if len(second.Pods) != 1 || second.Pods[0].UID != first.Pods[0].UID || len(second.Services) != 1 {
		t.Fatalf("the last good content was not kept: %+v", second)
	}
	if err := os.Remove(filepath.Join(dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	third, err := src.Load()
	if err != nil || len(third.Pods) != 0 || len(third.Services) != 0 {
		t.Fatalf("after removal: %+v, %v", third, err)
	}
}

func TestRunReportsChanges(t *testing.T) {
	dir := t.TempDir()
	src := NewSource(dir, Options{NodeName: "n"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var got []int
	changed := make(chan struct{}, 10)
	done := make(chan error)
	go func() {
		done <- src.Run(ctx, 10*time.Millisecond, func(s *Set, err error) {
			mu.Lock()
			got = append(got, len(s.Pods))
			mu.Unlock()
			changed <- struct{}{}
		})
	}()
	wait := func(want int) {
		t.Helper()
		for {
			select {
			case <-changed:
				mu.Lock()
				n := got[len(got)-1]
				mu.Unlock()
				if n == want {
					return
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no change to %d pods reported; got %v", want, got)
			}
		}
	}
	wait(0)
	writeFile(t, dir, "web.yaml", webYAML)
	wait(1)
	if err := os.Remove(filepath.Join(dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	wait(0)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 {
		t.Errorf("reported %v, want exactly three changes (no report without a change)", got)
	}
}

func TestRequestsDefaultToLimits(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", `apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    image: busybox
    resources:
      requests: {cpu: 100m}
      limits: {cpu: 200m, memory: 64Mi}
`)
	set, err := NewSource(dir, Options{NodeName: "n"}).Load()
	if err != nil {
		t.Fatal(err)
	}
	r := set.Pods[0].Spec.Containers[0].Resources.Requests
	if r.Cpu().String() != "100m" || r.Memory().String() != "64Mi" {
		t.Errorf("requests %v; want the given cpu and the memory limit", r)
	}
}
