package endpointslice

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

type podOpt func(*v1.Pod)

func ready(b bool) podOpt {
	return func(p *v1.Pod) {
		s := v1.ConditionFalse
		if b {
			s = v1.ConditionTrue
		}
		p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: s}}
	}
}
func terminating(p *v1.Pod)       { t := metav1.Now(); p.DeletionTimestamp = &t }
func phase(ph v1.PodPhase) podOpt { return func(p *v1.Pod) { p.Status.Phase = ph } }
func noIP(p *v1.Pod)              { p.Status.PodIP, p.Status.PodIPs = "", nil }
func namespace(ns string) podOpt  { return func(p *v1.Pod) { p.Namespace = ns } }
func labelsOf(l string) podOpt    { return func(p *v1.Pod) { p.Labels = map[string]string{"app": l} } }
func ips(addrs ...string) podOpt {
	return func(p *v1.Pod) {
		p.Status.PodIP = addrs[0]
		p.Status.PodIPs = nil
		for _, a := range addrs {
			p.Status.PodIPs = append(p.Status.PodIPs, v1.PodIP{IP: a})
		}
	}
}
func port(name string, n int32, proto v1.Protocol) podOpt {
	return func(p *v1.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, v1.ContainerPort{Name: name, ContainerPort: n, Protocol: proto})
	}
}
func sidecarPort(name string, n int32) podOpt {
	return func(p *v1.Pod) {
		always := v1.ContainerRestartPolicyAlways
		p.Spec.InitContainers = append(p.Spec.InitContainers, v1.Container{Name: "side", RestartPolicy: &always,
			Ports: []v1.ContainerPort{{Name: name, ContainerPort: n, Protocol: v1.ProtocolTCP}}})
	}
}
func hostname(h, sub string) podOpt {
	return func(p *v1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = h, sub }
}

func pod(name, ip string, opts ...podOpt) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec:       v1.PodSpec{NodeName: "node-1", Containers: []v1.Container{{Name: "c"}}},
		Status:     v1.PodStatus{Phase: v1.PodRunning, PodIP: ip, PodIPs: []v1.PodIP{{IP: ip}}},
	}
	ready(true)(p)
	for _, o := range opts {
		o(p)
	}
	return p
}

type svcOpt func(*v1.Service)

func svcPort(name string, port int32, target intstr.IntOrString, proto v1.Protocol) svcOpt {
	return func(s *v1.Service) {
		s.Spec.Ports = append(s.Spec.Ports, v1.ServicePort{Name: name, Port: port, TargetPort: target, Protocol: proto})
	}
}

func service(opts ...svcOpt) *v1.Service {
	s := &v1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "svc-uid"},
		Spec: v1.ServiceSpec{Selector: map[string]string{"app": "web"}, ClusterIP: "10.96.0.10",
			IPFamilies: []v1.IPFamily{v1.IPv4Protocol}},
	}
	for _, o := range opts {
		o(s)
	}
	if len(s.Spec.Ports) == 0 {
		svcPort("http", 80, intstr.FromString("http"), v1.ProtocolTCP)(s)
	}
	return s
}

// summary is a compact rendering of slices for table tests: one string per
// slice, "<addressType> ports=<name:port/proto,...> <endpoint>; ...",
// each endpoint "<addresses> R/S/T node=<n> [zone=<z>] [host=<h>] (<pod>)".
func summary(slices []*discovery.EndpointSlice) []string {
	var out []string
	for _, s := range slices {
		var ports []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d/%s", *p.Name, *p.Port, *p.Protocol))
		}
		var eps []string
		for _, e := range s.Endpoints {
			flag := func(b *bool, c string) string {
				if *b {
					return c
				}
				return "-"
			}
			ep := fmt.Sprintf("%s %s%s%s node=%s", strings.Join(e.Addresses, ","), flag(e.Conditions.Ready, "R"),
				flag(e.Conditions.Serving, "S"), flag(e.Conditions.Terminating, "T"), *e.NodeName)
			if e.Zone != nil {
				ep += " zone=" + *e.Zone
			}
			if e.Hostname != nil {
				ep += " host=" + *e.Hostname
			}
			eps = append(eps, ep+" ("+e.TargetRef.Name+")")
		}
		out = append(out, fmt.Sprintf("%s ports=%s %s", s.AddressType, strings.Join(ports, ","), strings.Join(eps, "; ")))
	}
	return out
}

func TestForService(t *testing.T) {
	zoned := func(name string) *v1.Node {
		return &v1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelTopologyZone: "zone-a"}}}
	}
	tests := []struct {
		name  string
		svc   *v1.Service
		pods  []*v1.Pod
		nodes NodeLookup
		want  []string
	}{{
		name: "no selector gets no slices",
		svc:  service(func(s *v1.Service) { s.Spec.Selector = nil }),
		pods: []*v1.Pod{pod("a", "10.0.0.1", port("http", 8080, v1.ProtocolTCP))},
		want: nil,
	}, {
		name: "conditions: ready, not ready, terminating ready, terminating not ready",
		svc:  service(),
		pods: []*v1.Pod{
			pod("a", "10.0.0.1", port("http", 8080, v1.ProtocolTCP)),
			pod("b", "10.0.0.2", port("http", 8080, v1.ProtocolTCP), ready(false)),
			pod("c", "10.0.0.3", port("http", 8080, v1.ProtocolTCP), terminating),
			pod("d", "10.0.0.4", port("http", 8080, v1.ProtocolTCP), ready(false), terminating),
		},
		want: []string{"IPv4 ports=http:8080/TCP 10.0.0.1 RS- node=node-1 (a); 10.0.0.2 --- node=node-1 (b); 10.0.0.3 -ST node=node-1 (c); 10.0.0.4 --T node=node-1 (d)"},
	}, {
		name: "publishNotReadyAddresses makes every endpoint ready",
		svc:  service(func(s *v1.Service) { s.Spec.PublishNotReadyAddresses = true }),
		pods: []*v1.Pod{
			pod("b", "10.0.0.2", port("http", 8080, v1.ProtocolTCP), ready(false)),
			pod("c", "10.0.0.3", port("http", 8080, v1.ProtocolTCP), terminating),
		},
		want: []string{"IPv4 ports=http:8080/TCP 10.0.0.2 R-- node=node-1 (b); 10.0.0.3 RST node=node-1 (c)"},
	}, {
		name: "terminal, IP-less, other-namespace and unmatched pods are left out",
		svc:  service(),
		pods: []*v1.Pod{
			pod("ok", "10.0.0.1", port("http", 8080, v1.ProtocolTCP)),
			pod("failed", "10.0.0.2", port("http", 8080, v1.ProtocolTCP), phase(v1.PodFailed)),
			pod("done", "10.0.0.3", port("http", 8080, v1.ProtocolTCP), phase(v1.PodSucceeded)),
			pod("pending", "", port("http", 8080, v1.ProtocolTCP), noIP, phase(v1.PodPending)),
			pod("elsewhere", "10.0.0.5", port("http", 8080, v1.ProtocolTCP), namespace("other")),
			pod("db", "10.0.0.6", port("http", 8080, v1.ProtocolTCP), labelsOf("db")),
		},
		want: []string{"IPv4 ports=http:8080/TCP 10.0.0.1 RS- node=node-1 (ok)"},
	}, {
		name: "named ports resolving differently split the slices; a pod without the port gets none",
		svc:  service(),
		pods: []*v1.Pod{
			pod("a", "10.0.0.1", port("http", 8080, v1.ProtocolTCP)),
			pod("b", "10.0.0.2", port("http", 9090, v1.ProtocolTCP)),
			pod("c", "10.0.0.3", port("metrics", 9100, v1.ProtocolTCP)),
			pod("d", "10.0.0.4", port("http", 8080, v1.ProtocolUDP)),
		},
		want: []string{
			"IPv4 ports= 10.0.0.3 RS- node=node-1 (c); 10.0.0.4 RS- node=node-1 (d)",
			"IPv4 ports=http:8080/TCP 10.0.0.1 RS- node=node-1 (a)",
			"IPv4 ports=http:9090/TCP 10.0.0.2 RS- node=node-1 (b)",
		},
	}, {
		name: "numeric, defaulted and sidecar ports; several service ports",
		svc: service(
			svcPort("dns", 53, intstr.FromInt32(5353), v1.ProtocolUDP),
			svcPort("plain", 81, intstr.IntOrString{}, v1.ProtocolTCP),
			svcPort("side", 82, intstr.FromString("proxy"), v1.ProtocolTCP)),
		pods: []*v1.Pod{pod("a", "10.0.0.1", sidecarPort("proxy", 15001))},
		want: []string{"IPv4 ports=dns:5353/UDP,plain:81/TCP,side:15001/TCP 10.0.0.1 RS- node=node-1 (a)"},
	}, {
		name: "no endpoints gives a placeholder",
		svc:  service(),
		pods: []*v1.Pod{pod("x", "10.0.0.1", labelsOf("other"))},
		want: []string{"IPv4 ports= "},
	}, {
		name:  "zone from the node, hostname with a matching subdomain",
		svc:   service(),
		nodes: zoned,
		pods: []*v1.Pod{
			pod("a", "10.0.0.1", port("http", 80, v1.ProtocolTCP), hostname("a-host", "web")),
			pod("b", "10.0.0.2", port("http", 80, v1.ProtocolTCP), hostname("b-host", "other")),
		},
		want: []string{"IPv4 ports=http:80/TCP 10.0.0.1 RS- node=node-1 zone=zone-a host=a-host (a); 10.0.0.2 RS- node=node-1 zone=zone-a (b)"},
	}, {
		name: "IPv6 service takes the IPv6 address of dual-stack pods",
		svc: service(func(s *v1.Service) {
			s.Spec.ClusterIP = "fd00::10"
			s.Spec.IPFamilies = []v1.IPFamily{v1.IPv6Protocol}
		}),
		pods: []*v1.Pod{pod("a", "10.0.0.1", ips("10.0.0.1", "fd00::0001"), port("http", 80, v1.ProtocolTCP))},
		want: []string{"IPv6 ports=http:80/TCP fd00::1 RS- node=node-1 (a)"},
	}, {
		name: "no families: the cluster IP's",
		svc: service(func(s *v1.Service) {
			s.Spec.IPFamilies = nil
		}),
		pods: []*v1.Pod{pod("a", "10.0.0.1", port("http", 80, v1.ProtocolTCP))},
		want: []string{"IPv4 ports=http:80/TCP 10.0.0.1 RS- node=node-1 (a)"},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := summary(ForService(tc.svc, tc.pods, tc.nodes))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("slices (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSliceObject(t *testing.T) {
	svc := service(func(s *v1.Service) { s.Labels = map[string]string{"team": "a", discovery.LabelManagedBy: "me"} })
	got := ForService(svc, []*v1.Pod{pod("a", "10.0.0.1", port("http", 80, v1.ProtocolTCP))}, nil)
	if len(got) != 1 {
		t.Fatalf("%d slices", len(got))
	}
	s := got[0]
	wantLabels := map[string]string{"team": "a", discovery.LabelServiceName: "web", discovery.LabelManagedBy: ControllerName}
	if diff := cmp.Diff(wantLabels, s.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(s.Name, "web-") || s.Namespace != "default" {
		t.Errorf("name %s/%s", s.Namespace, s.Name)
	}
	or := s.OwnerReferences
	if len(or) != 1 || or[0].Kind != "Service" || or[0].UID != "svc-uid" || !*or[0].Controller {
		t.Errorf("owner references %+v", or)
	}
	headless := service(func(s *v1.Service) { s.Spec.ClusterIP = v1.ClusterIPNone })
	if _, ok := ForService(headless, nil, nil)[0].Labels[v1.IsHeadlessService]; !ok {
		t.Error("headless service slices lack the headless label")
	}
	// Pure: the same input gives the same slices, and the input is untouched.
	again := ForService(svc, []*v1.Pod{pod("a", "10.0.0.1", port("http", 80, v1.ProtocolTCP))}, nil)
	if diff := cmp.Diff(got, again); diff != "" {
		t.Errorf("not deterministic:\n%s", diff)
	}
}

func TestChunking(t *testing.T) {
	var pods []*v1.Pod
	for i := range 250 {
		pods = append(pods, pod("p"+strconv.Itoa(i), fmt.Sprintf("10.0.%d.%d", i/200, i%200+1), port("http", 80, v1.ProtocolTCP)))
	}
	got := ForService(service(), pods, nil)
	var sizes []int
	names := map[string]bool{}
	for _, s := range got {
		sizes = append(sizes, len(s.Endpoints))
		names[s.Name] = true
	}
	if diff := cmp.Diff([]int{100, 100, 50}, sizes); diff != "" {
		t.Errorf("slice sizes (-want +got):\n%s", diff)
	}
	if len(names) != 3 {
		t.Errorf("slice names not unique: %v", names)
	}
}

func TestForServices(t *testing.T) {
	a := service()
	b := service(func(s *v1.Service) { s.Name = "api"; s.Namespace = "other" })
	ext := service(func(s *v1.Service) { s.Name = "ext"; s.Spec.Type = v1.ServiceTypeExternalName })
	got := ForServices([]*v1.Service{a, b, ext}, []*v1.Pod{
		pod("w", "10.0.0.1", port("http", 80, v1.ProtocolTCP)),
		pod("x", "10.0.0.2", port("http", 80, v1.ProtocolTCP), namespace("other")),
	}, nil)
	var names []string
	for _, s := range got {
		names = append(names, s.Namespace+"/"+s.Labels[discovery.LabelServiceName]+" "+strconv.Itoa(len(s.Endpoints)))
	}
	if diff := cmp.Diff([]string{"default/web 1", "other/api 1"}, names); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
