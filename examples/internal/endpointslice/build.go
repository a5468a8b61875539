package endpointslice

import (
	"cmp"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const (
	// ControllerName is the value of the managed-by label, the controller's.
	ControllerName = "endpointslice-controller.k8s.io"
	// MaxEndpointsPerSlice is the controller's default
	// --max-endpoints-per-slice.
	MaxEndpointsPerSlice = 100
)

// NodeLookup returns the Node of a name, or nil when unknown.
type NodeLookup func(name string) *v1.Node

// ForServices returns the slices of every Service with a selector, built
// from pods, sorted by namespace and name.
func ForServices(services []*v1.Service, pods []*v1.Pod, nodes NodeLookup) []*discovery.EndpointSlice {
	byNS := map[string][]*v1.Pod{}
	for _, p := range pods {
		byNS[p.Namespace] = append(byNS[p.Namespace], p)
	}
	var out []*discovery.EndpointSlice
	for _, svc := range services {
		out = append(out, ForService(svc, byNS[svc.Namespace], nodes)...)
	}
	slices.SortFunc(out, func(a, b *discovery.EndpointSlice) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	return out
}

// ForService returns the slices of one Service: nil when it has no selector
// (or is an ExternalName Service), otherwise one slice per address type and
// port list (split at MaxEndpointsPerSlice), or one placeholder per address
// type when no pod gives an endpoint.
func ForService(svc *v1.Service, pods []*v1.Pod, nodes NodeLookup) []*discovery.EndpointSlice {
	if svc.Spec.Selector == nil || svc.Spec.Type == v1.ServiceTypeExternalName {
		return nil
	}
	selector := labels.SelectorFromSet(svc.Spec.Selector)
	var out []*discovery.EndpointSlice
	for _, at := range addressTypes(svc) {
		type group struct {
			ports     []discovery.EndpointPort
			endpoints []discovery.Endpoint
		}
		groups := map[string]*group{}
		for _, pod := range pods {
			if pod.Namespace != svc.Namespace || !selector.Matches(labels.Set(pod.Labels)) || !shouldBeInEndpoints(pod) {
				continue
			}
			var node *v1.Node
			if nodes != nil && pod.Spec.NodeName != "" {
				node = nodes(pod.Spec.NodeName)
			}
			ep := podToEndpoint(pod, node, svc, at)
			if len(ep.Addresses) == 0 {
				continue
			}
			ports := endpointPorts(svc, pod)
			key := portsKey(ports)
			g := groups[key]
			if g == nil {
				g = &group{ports: ports}
				groups[key] = g
			}
			g.endpoints = append(g.endpoints, ep)
		}
		if len(groups) == 0 {
			out = append(out, newSlice(svc, at, "", 0, []discovery.EndpointPort{}, []discovery.Endpoint{}))
			continue
		}
		keys := make([]string, 0, len(groups))
		for k := range groups {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, key := range keys {
			g := groups[key]
			slices.SortFunc(g.endpoints, compareEndpoints)
			for i := 0; i*MaxEndpointsPerSlice < len(g.endpoints); i++ {
				chunk := g.endpoints[i*MaxEndpointsPerSlice : min(len(g.endpoints), (i+1)*MaxEndpointsPerSlice)]
				out = append(out, newSlice(svc, at, key, i, g.ports, slices.Clone(chunk)))
			}
		}
	}
	return out
}

// addressTypes are the slice address types of a Service
// (getAddressTypesForService): its IP families, else the family of its
// cluster IP, else both.
func addressTypes(svc *v1.Service) []discovery.AddressType {
	var out []discovery.AddressType
	for _, f := range svc.Spec.IPFamilies {
		switch f {
		case v1.IPv4Protocol:
			out = append(out, discovery.AddressTypeIPv4)
		case v1.IPv6Protocol:
			out = append(out, discovery.AddressTypeIPv6)
		}
	}
	if len(out) > 0 {
		return out
	}
	if ip, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil {
		if ip.Is4() {
			return []discovery.AddressType{discovery.AddressTypeIPv4}
		}
		return []discovery.AddressType{discovery.AddressTypeIPv6}
	}
	return []discovery.AddressType{discovery.AddressTypeIPv4, discovery.AddressTypeIPv6}
}

// shouldBeInEndpoints is ShouldPodBeInEndpoints(pod, includeTerminating=true).
func shouldBeInEndpoints(pod *v1.Pod) bool {
	if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		return false
	}
	return pod.Status.PodIP != "" || len(pod.Status.PodIPs) > 0
}

func isPodReady(pod *v1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

// podToEndpoint is the controller's podToEndpoint.
func podToEndpoint(pod *v1.Pod, node *v1.Node, svc *v1.Service, at discovery.AddressType) discovery.Endpoint {
	serving := isPodReady(pod)
	terminating := pod.DeletionTimestamp != nil
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	ep := discovery.Endpoint{
		Addresses: podAddresses(pod, at),
		Conditions: discovery.EndpointConditions{
			Ready:       &ready,
			Serving:     &serving,
			Terminating: &terminating,
		},
		TargetRef: &v1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if pod.Spec.NodeName != "" {
		n := pod.Spec.NodeName
		ep.NodeName = &n
	}
	if node != nil && node.Labels[v1.LabelTopologyZone] != "" {
		z := node.Labels[v1.LabelTopologyZone]
		ep.Zone = &z
	}
	if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace {
		h := pod.Spec.Hostname
		ep.Hostname = &h
	}
	return ep
}

// podAddresses are the pod's IPs of the address type, normalised.
func podAddresses(pod *v1.Pod, at discovery.AddressType) []string {
	ips := pod.Status.PodIPs
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []v1.PodIP{{IP: pod.Status.PodIP}}
	}
	out := []string{}
	for _, p := range ips {
		ip, err := netip.ParseAddr(p.IP)
		if err != nil {
			continue
		}
		ip = ip.Unmap()
		if (ip.Is6() && at == discovery.AddressTypeIPv6) || (ip.Is4() && at == discovery.AddressTypeIPv4) {
			out = append(out, ip.String())
		}
	}
	return out
}

// endpointPorts is the controller's getEndpointPorts: every Service port
// the pod has, with the Service port's name, protocol and appProtocol.
func endpointPorts(svc *v1.Service, pod *v1.Pod) []discovery.EndpointPort {
	out := []discovery.EndpointPort{}
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		num, ok := FindPort(pod, sp)
		if !ok {
			continue
		}
		name, proto, port := sp.Name, sp.Protocol, int32(num)
		out = append(out, discovery.EndpointPort{Name: &name, Port: &port, Protocol: &proto, AppProtocol: sp.AppProtocol})
	}
	return out
}

// FindPort resolves a Service port's targetPort for a pod, as the
// controller's FindPort: a number is used as is; a name is looked up in the
// ports of the pod's containers, then of its restartable init containers
// (sidecars), with the Service port's protocol.
func FindPort(pod *v1.Pod, sp *v1.ServicePort) (int, bool) {
	tp := sp.TargetPort
	if tp.Type == intstr.Int {
		if tp.IntVal == 0 {
			return int(sp.Port), true // not defaulted: the API default is port
		}
		return int(tp.IntVal), true
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == tp.StrVal && p.Protocol == sp.Protocol {
				return int(p.ContainerPort), true
			}
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy == nil || *c.RestartPolicy != v1.ContainerRestartPolicyAlways {
			continue
		}
		for _, p := range c.Ports {
			if p.Name == tp.StrVal && p.Protocol == sp.Protocol {
				return int(p.ContainerPort), true
			}
		}
	}
	return 0, false
}

// portsKey identifies a port list independently of its order.
func portsKey(ports []discovery.EndpointPort) string {
	parts := make([]string, len(ports))
	for i, p := range ports {
		app := ""
		if p.AppProtocol != nil {
			app = *p.AppProtocol
		}
		parts[i] = fmt.Sprintf("%s/%s/%d/%s", *p.Name, *p.Protocol, *p.Port, app)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func compareEndpoints(a, b discovery.Endpoint) int {
	return cmp.Or(strings.Compare(a.Addresses[0], b.Addresses[0]), strings.Compare(a.TargetRef.Name, b.TargetRef.Name))
}

var nameEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// sliceName is "<service>-<hash>", the hash covering the address type, the
// port list and the chunk, shortened so that the name stays a valid
// DNS subdomain.
func sliceName(svc string, at discovery.AddressType, key string, chunk int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s|%s|%d", at, key, chunk))
	suffix := strings.ToLower(nameEncoding.EncodeToString(sum[:]))[:5]
	prefix := svc
	if len(prefix) > 253-6 {
		prefix = prefix[:253-6]
	}
	return prefix + "-" + suffix
}

func newSlice(svc *v1.Service, at discovery.AddressType, key string, chunk int, ports []discovery.EndpointPort, eps []discovery.Endpoint) *discovery.EndpointSlice {
	lbls := map[string]string{}
	for k, v := range svc.Labels {
		if k == discovery.LabelServiceName || k == discovery.LabelManagedBy || k == v1.IsHeadlessService {
			continue
		}
		lbls[k] = v
	}
	if svc.Spec.ClusterIP == v1.ClusterIPNone || svc.Spec.ClusterIP == "" {
		lbls[v1.IsHeadlessService] = ""
	}
	lbls[discovery.LabelServiceName] = svc.Name
	lbls[discovery.LabelManagedBy] = ControllerName
	controller := true
	block := true
	name := sliceName(svc.Name, at, key, chunk)
	if key == "" && len(eps) == 0 {
		name = sliceName(svc.Name, at, "placeholder", 0)
	}
	return &discovery.EndpointSlice{
		TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: svc.Namespace,
			Labels:    lbls,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID,
				Controller: &controller, BlockOwnerDeletion: &block,
			}},
		},
		AddressType: at,
		Endpoints:   eps,
		Ports:       ports,
	}
}
