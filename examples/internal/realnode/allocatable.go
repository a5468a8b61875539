package realnode

import (
	"fmt"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/nodekit/nodekit/kubelet/runc"
	"github.com/nodekit/nodekit/stats"
)

// evictionHardMemory is the kubelet's default --eviction-hard
// memory.available threshold, which the node's allocatable memory leaves
// out but the kubepods cgroup does not (so that eviction comes first).
var evictionHardMemory = resource.MustParse("100Mi")

// parseReserved parses a --kube-reserved or --system-reserved value as the
// kubelet writes it ("cpu=100m,memory=256Mi,pid=1000"), naming flag in its
// errors. Only cpu, memory and pid are accepted: they are what the node
// enforces.
func parseReserved(flag, s string) (v1.ResourceList, error) {
	rl := v1.ResourceList{}
	if s == "" {
		return rl, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		name := v1.ResourceName(strings.TrimSpace(k))
		if !ok {
			return nil, UsageError{fmt.Sprintf("--%s %q: %q is not name=quantity", flag, s, kv)}
		}
		switch name {
		case v1.ResourceCPU, v1.ResourceMemory, runc.ResourcePID:
		default:
			return nil, UsageError{fmt.Sprintf("--%s: resource %q is not cpu, memory or pid", flag, name)}
		}
		if _, dup := rl[name]; dup {
			return nil, UsageError{fmt.Sprintf("--%s: %s given twice", flag, name)}
		}
		q, err := resource.ParseQuantity(strings.TrimSpace(v))
		if err != nil || q.Sign() < 0 {
			return nil, UsageError{fmt.Sprintf("--%s: %s=%q is not a quantity of at least 0", flag, name, v)}
		}
		rl[name] = q
	}
	return rl, nil
}

// NodeResources are the node's resources as the kubelet derives them from
// its capacity and reserved flags. It is plain data.
type NodeResources struct {
	// Capacity is the machine's: its CPUs, memory and task limit.
	Capacity v1.ResourceList
	// Kubepods is what the kubepods cgroup gets: the capacity less the
	// reserved resources with --enforce-node-allocatable=pods, the
	// capacity without it.
	Kubepods v1.ResourceList
	// Allocatable is what pods may use, and what a downward API reference
	// to an unset limit reads: the capacity less the reserved resources
	// and the hard eviction threshold of memory.
	Allocatable v1.ResourceList
}

// nodeResources computes the node's resources from the machine (its cores
// and memory), its task limit (0: unknown, left out) and the reserved
// resources. A reservation at or above the capacity is an error.
func nodeResources(m stats.Machine, maxPID int64, reserved v1.ResourceList, enforce bool) (NodeResources, error) {
	capacity := v1.ResourceList{
		v1.ResourceCPU:    *resource.NewQuantity(int64(m.NumCores), resource.DecimalSI),
		v1.ResourceMemory: *resource.NewQuantity(int64(m.MemoryCapacityBytes), resource.BinarySI),
	}
	if maxPID > 0 {
		capacity[runc.ResourcePID] = *resource.NewQuantity(maxPID, resource.DecimalSI)
	}
	nr := NodeResources{Capacity: capacity, Kubepods: v1.ResourceList{}, Allocatable: v1.ResourceList{}}
	names := make([]string, 0, len(capacity))
	for name := range capacity {
		names = append(names, string(name))
	}
	sort.Strings(names)
	for _, n := range names {
		name := v1.ResourceName(n)
		alloc := capacity[name].DeepCopy()
		if r, ok := reserved[name]; ok {
			alloc.Sub(r)
		}
		if alloc.Sign() <= 0 {
			r, c := reserved[name], capacity[name]
			return NodeResources{}, UsageError{fmt.Sprintf("reserved %s (%s) leaves nothing of the machine's %s", name, r.String(), c.String())}
		}
		nr.Kubepods[name] = capacity[name].DeepCopy()
		if enforce {
			nr.Kubepods[name] = alloc.DeepCopy()
		}
		if name == v1.ResourceMemory {
			alloc.Sub(evictionHardMemory)
			if alloc.Sign() <= 0 {
				c := capacity[name]
				return NodeResources{}, UsageError{fmt.Sprintf("reserved memory and the eviction threshold (%s) leave nothing of the machine's %s", evictionHardMemory.String(), c.String())}
			}
		}
		if name != runc.ResourcePID {
			nr.Allocatable[name] = alloc
		}
	}
	return nr, nil
}
