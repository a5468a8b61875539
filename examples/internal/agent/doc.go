// Package agent is the node agent the examples share: it wires the kubelet
// engine (package kubelet), the service proxy (package proxy) and the stats
// collector (package stats) into one node, and serves its state over HTTP.
//
// It is support code of examples/node (pods and services from a manifests
// directory, EndpointSlices built from the pods) and examples/cluster-node
// (everything from an API server), not a public API: a program that wants a
// node copies it and changes what it needs.
//
// # Usage
//
//	a, err := agent.New(agent.Options{
//		NodeName: "node-1", NodeIPs: ips,
//		Runtime: rt, Netfilter: nf, Stats: collector, Targets: resolve,
//		BuildEndpointSlices: true,
//	})
//	a.SetServices(services)
//	_ = a.SetPods(pods)
//	go a.Run(ctx)
//	http.ListenAndServe("127.0.0.1:10255", a.Handler())
//
// # What it does
//
//   - Pods go to a kubelet.Syncer on the Runtime, with a prober.Manager
//     running their probes. Every status change of a pod marks the node
//     dirty.
//   - On each change (debounced by Options.Debounce), the pods with their
//     current statuses give the EndpointSlices (package
//     examples/internal/endpointslice, the EndpointSlice controller's rules)
//     unless slices come from elsewhere (SetEndpointSlices); Services and
//     slices go to the proxy.Proxier as a snapshot (it diffs them, so an
//     unchanged service costs no rule work) and the proxy.Syncer is asked to
//     sync, which programs the Netfilter.
//   - The containers and pods the Targets function names are registered in
//     the stats.Collector (and removed when they go away).
//   - Handler serves /pods (the pods with their statuses, a v1.PodList),
//     /stats/summary (the kubelet Summary API), /metrics (stats, proxy and
//     engine metrics on one registry) and /healthz.
//
// # Concurrency
//
// An Agent is safe for concurrent use; Run may be active only once at a time.
//
// # Caveats
//
// The kubelet's engine and prober series come from kubelet.Metrics and
// prober.Metrics, registered on the agent's registry unless the caller
// set its own in the options (then they are exported wherever the caller
// registered them). The kube-state-metrics style kube_pod_status_phase,
// kube_pod_status_ready and kube_pod_container_status_restarts_total are
// computed from the engine's pod statuses at scrape time.
package agent
