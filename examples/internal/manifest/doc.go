// Package manifest reads a directory of Kubernetes manifests (Pods and
// Services, multi-document YAML or JSON, or "kind: List") the way the
// kubelet reads its static-pod path, fills in what the API server would
// (defaults, UIDs, cluster IPs and node ports), and watches the directory
// for changes.
//
// It is support code of the examples (examples/node), not a public API.
//
// # Usage
//
//	src := manifest.NewSource(dir, manifest.Options{NodeName: "node-1"})
//	set, err := src.Load() // set.Pods, set.Services; err names file and document
//	go src.Run(ctx, time.Second/2, func(set *manifest.Set, err error) { ... })
//
// # Semantics
//
//   - Files are the regular files of the directory (not its subdirectories)
//     whose names end in .yaml, .yml or .json, read in name order; names
//     starting with a dot are skipped, as the kubelet skips them.
//   - A file is taken whole or not at all: if one of its documents is invalid,
//     none of them is used and the file's previous good content (if any)
//     stays in force, so a half-saved edit never stops running pods. The
//     error names the file, the document, the object and the field.
//   - Pods get the kubelet's static-pod treatment: namespace "default" when
//     empty, spec.nodeName set to the node, and a UID that is a hash of the
//     pod and the node name, so that an unchanged manifest keeps its UID
//     across restarts (the engine adopts its containers) and an edited one
//     gets a new UID (the pod is replaced), as with the kubelet's static pods.
//     Unlike the kubelet, the node name is not appended to the pod name: there
//     is no API server whose names could clash.
//   - Services get the API server's defaults (type ClusterIP, protocol TCP,
//     targetPort = port, sessionAffinity None, traffic policies Cluster,
//     single-stack IP family) and, when they leave them empty, a cluster IP
//     from Options.ServiceCIDR and node ports from Options.NodePortRange.
//     Allocations are remembered by the Source for as long as the service
//     exists, and are derived from a hash of the service's name, so they are
//     stable across restarts as long as there is no collision.
//
// # Concurrency
//
// A Source is safe for concurrent use; Run must be called at most once at a
// time. A Set is plain data owned by the caller.
//
// # Caveats
//
// Validation covers what the agent relies on (names, kinds, duplicates,
// ports, addresses) and the kubelet engine's kubelet.ValidatePod; it is not
// the full API server validation. The watcher polls (every interval it stats
// the directory's files and re-reads changed ones): it needs no inotify and
// works on any filesystem, at the cost of up to one interval of delay.
package manifest
