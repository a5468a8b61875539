// Package endpointslice builds the EndpointSlices of Services from Pods with
// the rules of the Kubernetes EndpointSlice controller
// (k8s.io/endpointslice: reconciler.go, utils.go, util/controller_utils.go),
// for a node that has no control plane to run that controller.
//
// It is support code of the examples (examples/node), not a public API.
//
// # Rules
//
//   - Only Services with a selector get slices (a nil selector selects
//     nothing); pods match when they are in the Service's namespace and
//     their labels match the selector.
//   - Pods in a terminal phase (Succeeded, Failed) or without an IP are left
//     out; terminating pods (deletionTimestamp set) are kept.
//   - Conditions: serving is the pod's Ready condition; terminating is
//     deletionTimestamp != nil; ready is serving and not terminating, or
//     always true with publishNotReadyAddresses.
//   - Ports: each Service port is resolved per pod: a number as is, a name
//     through the pod's container ports (and restartable init containers')
//     of the same protocol; a port a pod does not have is left out for that
//     pod. Pods are grouped by their resolved port list, one group of slices
//     each.
//   - Address types follow spec.ipFamilies (or the cluster IP's family); a
//     pod contributes its IPs of the slice's family.
//   - nodeName is the pod's spec.nodeName; zone comes from the node's
//     topology.kubernetes.io/zone label when a NodeLookup is given; hostname
//     is set when the pod's hostname is set and its subdomain is the
//     Service's name.
//   - At most MaxEndpointsPerSlice endpoints per slice; a Service whose pods
//     give no endpoint gets one placeholder slice without ports or endpoints.
//   - Labels: the Service's labels (minus the reserved ones), plus
//     kubernetes.io/service-name, endpointslice.kubernetes.io/managed-by and,
//     for headless Services, service.kubernetes.io/headless; a controller
//     owner reference to the Service.
//
// # Differences
//
// The controller reconciles against existing slices and names new ones with
// generateName; this package is a pure function of the Service and the
// pods, so names are derived from the Service name, the address type and a
// hash of the port list (and a chunk number), and endpoints are sorted by
// address so the same input always gives the same slices. Topology hints
// (trafficDistribution, the topology-mode annotation) are not computed.
//
// # Concurrency
//
// The functions are pure and safe for concurrent use; they do not modify
// their arguments.
package endpointslice
