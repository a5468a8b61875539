// Package realnode sets up a real node for the examples: a network namespace
// of its own (or the host's network), an image store, the runc runtime on
// CNI, iptables, conntrack, health check servers and the stats collector,
// around an agent.Agent; and removes all of it again. As the kubelet, it
// derives the node's resources from the machine's capacity and the
// reserved flags (NodeResources): the kubepods cgroup's limits and the
// allocatable resources a downward API reference to an unset limit reads.
//
// It is support code of examples/node and examples/cluster-node, not a
// public API.
//
// # Concurrency
//
// A Node's methods may be called from any goroutine, but Remove and Close only
// once the agent's Run has returned.
//
// # Caveats
//
// The node's address sits on a dummy device "node0" in the node namespace, or,
// on kernels without the dummy module, on one end of a veth pair whose other
// end (also inside the namespace) stays down. Cleanup removes the cgroups
// below the cgroup root with rmdir, deepest first, and a state directory only
// once nothing is mounted below it (a pod volume left mounted would otherwise
// have os.RemoveAll reach into another filesystem).
package realnode
