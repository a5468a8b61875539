package proxy

import "slices"

// categorizedEndpoints is the result of categorizeEndpoints, kube-proxy's
// proxy.CategorizeEndpoints.
type categorizedEndpoints struct {
	// cluster are the usable endpoints for the Cluster traffic policy.
	cluster []*endpoint
	// local are the usable endpoints for the Local traffic policy.
	local []*endpoint
	// reachable is the union of cluster and local.
	reachable []*endpoint
	// hasAny is true if the service has usable endpoints anywhere.
	hasAny bool
}

// categorizeEndpoints splits eps by traffic policy. "Usable" means ready,
// falling back to serving-and-terminating endpoints (independently for
// Cluster and Local) when none is ready. Topology hints restrict the
// Cluster endpoints to this node's (PreferSameNode) or zone's
// (PreferSameZone) when every ready endpoint carries hints and some hint
// matches.
func (c *config) categorizeEndpoints(sp *servicePort, eps []*endpoint) categorizedEndpoints {
	var r categorizedEndpoints
	mode := ""
	if sp.usesClusterEndpoints() {
		mode = c.topologyMode(eps)
		r.cluster = filterEndpoints(eps, func(ep *endpoint) bool { return ep.ready && c.availableForTopology(ep, mode) })
		if len(r.cluster) == 0 {
			r.cluster = filterEndpoints(eps, func(ep *endpoint) bool { return ep.serving && ep.terminating })
		}
		if len(r.cluster) > 0 {
			r.hasAny = true
		}
	}
	if !sp.usesLocalEndpoints() {
		r.reachable = r.cluster
		return r
	}
	var localReady, localServingTerminating bool
	for _, ep := range eps {
		if ep.ready {
			r.hasAny = true
			if ep.local {
				localReady = true
			}
		} else if ep.serving && ep.terminating {
			r.hasAny = true
			if ep.local {
				localServingTerminating = true
			}
		}
	}
	useTerminating := false
	if localReady {
		r.local = filterEndpoints(eps, func(ep *endpoint) bool { return ep.local && ep.ready })
	} else if localServingTerminating {
		useTerminating = true
		r.local = filterEndpoints(eps, func(ep *endpoint) bool { return ep.local && ep.serving && ep.terminating })
	}
	if !sp.usesClusterEndpoints() {
		r.reachable = r.local
		return r
	}
	if mode == "" && !useTerminating {
		r.reachable = r.cluster
		return r
	}
	// Union of both lists. kube-proxy builds it from a map, in random order;
	// the rules do not depend on its order because endpoint chains are
	// written sorted by name.
	r.reachable = make([]*endpoint, 0, len(r.cluster)+len(r.local))
	r.reachable = append(r.reachable, r.cluster...)
	for _, ep := range r.local {
		if !slices.Contains(r.cluster, ep) {
			r.reachable = append(r.reachable, ep)
		}
	}
	return r
}

const (
	topologyPreferSameNode = "PreferSameNode"
	topologyPreferSameZone = "PreferSameZone"
)

func (c *config) topologyMode(eps []*endpoint) string {
	forNode, allNode := false, true
	forZone, allZone := false, true
	for _, ep := range eps {
		if !ep.ready {
			continue
		}
		if len(ep.nodeHints) == 0 {
			allNode = false
		} else if c.NodeName != "" && slices.Contains(ep.nodeHints, c.NodeName) {
			forNode = true
		}
		if len(ep.zoneHints) == 0 {
			allZone = false
		} else if slices.Contains(ep.zoneHints, c.NodeZone) {
			forZone = true
		}
	}
	if allNode && forNode {
		return topologyPreferSameNode
	}
	if allZone && forZone {
		return topologyPreferSameZone
	}
	return ""
}

func (c *config) availableForTopology(ep *endpoint, mode string) bool {
	switch mode {
	case topologyPreferSameNode:
		return slices.Contains(ep.nodeHints, c.NodeName)
	case topologyPreferSameZone:
		return slices.Contains(ep.zoneHints, c.NodeZone)
	}
	return true
}

// filterEndpoints returns the endpoints satisfying keep, sharing eps
// itself when all of them do (the common case) to spare an allocation.
func filterEndpoints(eps []*endpoint, keep func(*endpoint) bool) []*endpoint {
	n := 0
	for _, ep := range eps {
		if keep(ep) {
			n++
		}
	}
	if n == len(eps) {
		return eps
	}
	if n == 0 {
		return nil
	}
	out := make([]*endpoint, 0, n)
	for _, ep := range eps {
		if keep(ep) {
			out = append(out, ep)
		}
	}
	return out
}
