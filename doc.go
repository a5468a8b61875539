// Package nodekit is the map of a Go module of Kubernetes node components:
// the kubelet's pod sync, kube-proxy's service rules and cAdvisor's resource
// statistics, rebuilt as libraries that other programs import.
//
// # Packages
//
//   - [github.com/nodekit/nodekit/kubelet]: pod sync. Desired core/v1 Pods
//     go in; runtime actions and the PodStatus the real kubelet would report
//     come out, through a small CRI-shaped Runtime interface. Its
//     subpackages: kubelettest (a faithful fake runtime), oci (OCI
//     runtime-spec generation from a pod's containers), runc (a real runtime
//     on runc, conmon and CNI) and prober (liveness, readiness and startup
//     probes).
//   - [github.com/nodekit/nodekit/proxy]: Services and EndpointSlices in,
//     kube-proxy-compatible (iptables mode) rules out, as iptables-restore
//     payloads, with partial syncs that touch only what changed. Its
//     subpackage proxytest has a payload parser, a fake kernel with
//     iptables-restore semantics and a packet tracer.
//   - [github.com/nodekit/nodekit/stats]: cgroup v1 and v2 and /proc
//     statistics for containers, pods and the node, with history and rates,
//     exported as the kubelet Summary API and as Prometheus metrics with
//     cAdvisor's names.
//   - internal/: code the three share without importing each other: the
//     kubelet's cgroup layout (cgrouplayout) and the test harness for
//     privileged tests (privtest, netnstest).
//   - examples/: the only place where kubelet, proxy and stats meet; see
//     examples/node for a node agent built from all three (make demo runs
//     it), examples/cluster-node for the same agent fed by a cluster,
//     examples/proxy-rules and examples/stats-top for one package each.
//
// # Shared types
//
// The packages never import each other. What they have in common are
// Kubernetes' own types: k8s.io/api core/v1 (Pod, Service, Container,
// PodStatus) and discovery/v1 (EndpointSlice), and k8s.io/apimachinery
// (types.UID, types.NamespacedName, resource.Quantity, metav1.Time). A
// program that uses two of them passes these values between them; there are
// no parallel Pod or Service structs to convert.
//
// # Privileged tests
//
// Tests that need root, the real kernel or system tools go through
// internal/privtest: they skip without root locally, and fail instead when
// NODEKIT_REQUIRE_PRIVILEGED=1, as CI sets it. Network tests run in network
// namespaces they create (internal/netnstest) and never touch the machine's
// own firewall or routes.
package nodekit
