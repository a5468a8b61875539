package manifest

import (
	"fmt"
	"hash/fnv"
	"math/big"
	"net/netip"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// PortRange is an inclusive range of ports.
type PortRange struct{ Min, Max int32 }

// DefaultNodePortRange is the API server's --service-node-port-range.
var DefaultNodePortRange = PortRange{Min: 30000, Max: 32767}

// DefaultServiceCIDR is the API server's usual --service-cluster-ip-range.
var DefaultServiceCIDR = netip.MustParsePrefix("10.96.0.0/16")

// nodePortKey identifies one port of a service.
type nodePortKey struct {
	svc  types.NamespacedName
	port string // name/protocol/port
}

// allocator hands out cluster IPs and node ports, remembering what it gave
// each service so that allocations are stable while the service exists.
type allocator struct {
	cidr      netip.Prefix
	ports     PortRange
	clusterIP map[types.NamespacedName]netip.Addr
	nodePort  map[nodePortKey]int32
}

func newAllocator(cidr netip.Prefix, ports PortRange) *allocator {
	return &allocator{cidr: cidr.Masked(), ports: ports, clusterIP: map[types.NamespacedName]netip.Addr{}, nodePort: map[nodePortKey]int32{}}
}

func portKey(p *v1.ServicePort) string {
	return fmt.Sprintf("%s/%s/%d", p.Name, p.Protocol, p.Port)
}

// assign fills the empty cluster IPs and node ports of services (sorted by
// namespace and name). Explicit values are checked for clashes first; then
// remembered allocations are reused when still free; then new ones are
// chosen by hashing the name and probing upwards. Services whose explicit
// values clash are returned as errors and left out.
func (a *allocator) assign(services []*v1.Service) ([]*v1.Service, []error) {
	usedIP := map[netip.Addr]types.NamespacedName{}
	usedPort := map[int32]types.NamespacedName{}
	var errs []error
	var ok []*v1.Service
	for _, svc := range services {
		nn := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
		clash := func(field, value string, other types.NamespacedName) {
			errs = append(errs, &DocumentError{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name, Field: field,
				Err: fmt.Errorf("%s is already allocated to %s", value, other)})
		}
		bad := false
		if ip, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil {
			if other, taken := usedIP[ip]; taken {
				clash("spec.clusterIP", ip.String(), other)
				bad = true
			}
		}
		for i := range svc.Spec.Ports {
			if np := svc.Spec.Ports[i].NodePort; np != 0 {
				if np < a.ports.Min || np > a.ports.Max {
					errs = append(errs, &DocumentError{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name, Field: fmt.Sprintf("spec.ports[%d].nodePort", i),
						Err: fmt.Errorf("%d is not in the node port range %d-%d", np, a.ports.Min, a.ports.Max)})
					bad = true
				} else if other, taken := usedPort[np]; taken {
					clash(fmt.Sprintf("spec.ports[%d].nodePort", i), fmt.Sprint(np), other)
					bad = true
				}
			}
		}
		if bad {
			continue
		}
		if ip, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil {
			usedIP[ip] = nn
		}
		for i := range svc.Spec.Ports {
			if np := svc.Spec.Ports[i].NodePort; np != 0 {
				usedPort[np] = nn
			}
		}
		ok = append(ok, svc)
	}
	live := map[types.NamespacedName]bool{}
	livePorts := map[nodePortKey]bool{}
	for _, svc := range ok {
		nn := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
		live[nn] = true
		if svc.Spec.Type != v1.ServiceTypeExternalName && svc.Spec.ClusterIP == "" {
			ip, err := a.pickIP(nn, usedIP)
			if err != nil {
				errs = append(errs, &DocumentError{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name, Field: "spec.clusterIP", Err: err})
				continue
			}
			usedIP[ip] = nn
			a.clusterIP[nn] = ip
			svc.Spec.ClusterIP = ip.String()
		}
		if svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != v1.ClusterIPNone && len(svc.Spec.ClusterIPs) == 0 {
			svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		}
		if svc.Spec.Type != v1.ServiceTypeNodePort && svc.Spec.Type != v1.ServiceTypeLoadBalancer {
			continue
		}
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			key := nodePortKey{svc: nn, port: portKey(p)}
			livePorts[key] = true
			if p.NodePort != 0 {
				continue
			}
			np, err := a.pickPort(key, usedPort)
			if err != nil {
				errs = append(errs, &DocumentError{Kind: "Service", Namespace: svc.Namespace, Name: svc.Name, Field: fmt.Sprintf("spec.ports[%d].nodePort", i), Err: err})
				continue
			}
			usedPort[np] = nn
			a.nodePort[key] = np
			p.NodePort = np
		}
	}
	for nn := range a.clusterIP {
		if !live[nn] {
			delete(a.clusterIP, nn)
		}
	}
	for k := range a.nodePort {
		if !livePorts[k] {
			delete(a.nodePort, k)
		}
	}
	return ok, errs
}

func (a *allocator) pickIP(nn types.NamespacedName, used map[netip.Addr]types.NamespacedName) (netip.Addr, error) {
	if ip, ok := a.clusterIP[nn]; ok {
		if _, taken := used[ip]; !taken {
			return ip, nil
		}
	}
	bits := a.cidr.Addr().BitLen() - a.cidr.Bits()
	if bits > 62 {
		bits = 62
	}
	size := uint64(1) << bits
	if size < 4 {
		return netip.Addr{}, fmt.Errorf("service CIDR %s is too small", a.cidr)
	}
	// Offsets 0 (network), 1 (the API server's kubernetes service) and
	// size-1 (broadcast) are never handed out.
	n := size - 3
	start := hash64(nn.String()) % n
	for i := uint64(0); i < n; i++ {
		ip := addOffset(a.cidr.Addr(), 2+(start+i)%n)
		if _, taken := used[ip]; !taken {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("service CIDR %s is full", a.cidr)
}

func (a *allocator) pickPort(key nodePortKey, used map[int32]types.NamespacedName) (int32, error) {
	if np, ok := a.nodePort[key]; ok {
		if _, taken := used[np]; !taken {
			return np, nil
		}
	}
	n := uint64(a.ports.Max - a.ports.Min + 1)
	start := hash64(key.svc.String()+"/"+key.port) % n
	for i := uint64(0); i < n; i++ {
		np := a.ports.Min + int32((start+i)%n)
		if _, taken := used[np]; !taken {
			return np, nil
		}
	}
	return 0, fmt.Errorf("node port range %d-%d is full", a.ports.Min, a.ports.Max)
}

func hash64(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func addOffset(base netip.Addr, off uint64) netip.Addr {
	b := base.AsSlice()
	x := new(big.Int).SetBytes(b)
	x.Add(x, new(big.Int).SetUint64(off))
	out := make([]byte, len(b))
	x.FillBytes(out)
	ip, _ := netip.AddrFromSlice(out)
	return ip
}
