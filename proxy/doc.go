// Package proxy turns core/v1 Services and discovery/v1 EndpointSlices into
// the iptables rules that kube-proxy's iptables mode (v1.3x) writes on one
// node, and keeps them current as the objects change.
//
// It is the rule-generation half of a service proxy: it renders
// iptables-restore payloads (the filter and nat tables) and remembers what
// it has written; applying a payload is the job of a Restorer (the real
// iptables-restore, or proxytest.FakeKernel in tests). Users are custom
// service proxies, CNI plugins that replace kube-proxy, and tools that want
// to see what kube-proxy would do.
//
// # Usage
//
//	p, err := proxy.New(proxy.Options{
//		NodeName:    "node-a",
//		NodeIPs:     []netip.Addr{nodeIP},
//		ClusterCIDR: netip.MustParsePrefix("10.244.0.0/16"),
//	})
//	// Wire p.OnServiceAdd/Update/Delete, p.OnEndpointSliceAdd/Update/Delete
//	// and p.OnServicesSynced/OnEndpointSlicesSynced to informers, or call
//	// p.SetState(services, slices) with a snapshot. Then, on each change:
//	stats, err := p.SyncTo(ctx, restorer, false) // Plan + Restore + Commit
//	// or, to apply by other means:
//	plan, err := p.Plan(false)
//	apply(plan.Payload())
//	err = p.Commit(plan) // only after the payload was applied
//
// The kube-proxy jump rules from the built-in chains (PREROUTING to
// KUBE-SERVICES and so on) are not part of the payloads; see JumpRules
// and JumpRulesPayload.
//
// # What it generates
//
// Chain names, rule text, comments and probabilities are kube-proxy's:
// KUBE-SVC-, KUBE-SVL-, KUBE-EXT- and KUBE-FW- followed by the first 16
// characters of base32(sha256("ns/name:port" + protocol)), KUBE-SEP- with
// the endpoint's "ip:port" added to the hash; the shared chains
// KUBE-SERVICES, KUBE-NODEPORTS, KUBE-EXTERNAL-SERVICES, KUBE-POSTROUTING,
// KUBE-MARK-MASQ, KUBE-FORWARD, KUBE-PROXY-FIREWALL and KUBE-FIREWALL;
// ClusterIP, NodePort (with --nodeport-addresses), externalIPs,
// LoadBalancer ingress IPs (VIP mode), loadBalancerSourceRanges, health
// check node ports, ClientIP session affinity, external and internal
// traffic policy Local, the fall back to serving-terminating endpoints,
// topology hints (same zone, same node), TCP, UDP and SCTP, masquerading
// with a configurable mark bit, masquerade-all, detection of pod traffic
// by cluster CIDR or interface prefix, --random-fully, and large-cluster
// mode (no per-endpoint comments above 1000 endpoints). For the objects of
// kube-proxy's TestOverallIPTablesRules the full payload is byte-identical
// to that test's expectation (testdata/kubeproxy/overall.golden).
//
// Slices of one service are merged and endpoints de-duplicated by
// "ip:port". Headless and ExternalName services, and objects labelled
// service.kubernetes.io/service-proxy-name or service.kubernetes.io/headless
// (which kube-proxy's informers filter out) are ignored. Services without a
// selector work with hand-made slices. One Proxier handles one IP family;
// a dual-stack node runs two.
//
// # Changes and partial syncs
//
// Every event only records the object and marks its service dirty. Plan
// first rebuilds the node-local model of the dirty services (their ports
// and merged endpoints, validated and formatted) and compares it with the
// previous model: an update that changes nothing this node's rules depend
// on (labels, annotations, resyncs, other nodes' topology) stops there.
// The service ports whose model changed are rendered again, and the
// partial payload only touches them: their lines in the shared chains are
// deleted by rule ("-D CHAIN spec") and inserted at their place ("-I CHAIN
// n", or "-A" at the end; always anchored on a rule that existed before the
// transaction, as iptables-nft requires), their own chains are declared
// (which flushes them) and rewritten, and the chains they no longer use
// are flushed and deleted ("-X"). What to delete comes from the Proxier's
// own record of what it committed, never from iptables-save. A payload
// therefore costs O(changed service ports) plus an O(service ports) pass
// to compute insert positions, and the kernel ends up exactly as after a
// full sync of the same objects (TestPartialSyncsEqualFullSync checks this
// on random event sequences against proxytest.FakeKernel).
//
// The output is deterministic: for the same objects the payload is the same
// bytes whatever the order of the events that produced them.
//
// # Invalid objects
//
// An object the API server would reject (an address that does not parse,
// a port out of range, a name with spaces, newlines or quotes, a missing
// port name on a multi-port service, a slice without a service-name label)
// is skipped as a whole: it contributes no rule, and a service that turns
// invalid loses its rules at the next sync. Errors() lists one
// *ObjectError per skipped object, naming the object and the field;
// SetState returns them joined. FuzzHostileStrings checks that no string
// reaches a rule unvalidated.
//
// # Differences from kube-proxy
//
//   - Order. kube-proxy writes services in map order; this package writes
//     the canonical order kube-proxy's tests sort into (tables filter then
//     nat; chains KUBE-NODEPORTS, KUBE-SERVICES, then by name; each chain's
//     rules together; services by name), so payloads can be compared and
//     diffed.
//   - Partial syncs. kube-proxy restates KUBE-SERVICES and KUBE-NODEPORTS on
//     every sync and finds stale chains with iptables-save; this package
//     edits them line by line from its own record. Consequently chains left
//     by another process (a previous kube-proxy) are not removed.
//   - The mark is written "0x4000" (as kube-proxy's tests and iptables-save
//     print it); kube-proxy itself formats it "%#08x" ("0x00004000"), which
//     the kernel stores identically.
//   - LocalhostNodePorts defaults to false (kube-proxy: true), because it
//     needs net.ipv4.conf.all.route_localnet=1, which this package does not
//     set. NFAcct and ConntrackTCPBeLiberal are options instead of probes.
//   - Node-port addresses are Options.NodeIPs and the loopback address
//     filtered by Options.NodePortAddresses, rather than the addresses of
//     the host's interfaces; the "primary" keyword is not supported.
//   - Invalid objects are skipped as a whole; kube-proxy drops single bad
//     values (such as one unparsable external IP) and keeps the rest.
//   - When two slices hold the same endpoint, kube-proxy keeps whichever it
//     meets first in map order (preferring non-terminating); this package
//     takes slices in name order, so the choice is deterministic.
//   - Topology: the node's zone is fixed by Options.NodeZone (kube-proxy
//     watches its Node object), and same-node hints are always honoured (the
//     PreferSameTrafficDistribution feature).
//
// # Performance
//
// Each model keeps the text of its chains once rendered, so a full sync of
// unchanged services is a sort of the chain names and a copy into a reused
// buffer, and a partial sync renders only what changed. Measured on this
// project's 2-core machine while other builds were running, with
//
//	go test ./proxy/ -run '^$' -bench 'FullSync|PartialSync' -benchtime 20x -count 3
//	go test ./proxy/ -run '^$' -bench PartialSync -benchtime 2000x -count 3
//
// (one service in ten is a NodePort, endpoints spread over 100 nodes, all
// of it in large-cluster mode); the first range is at a load average of
// 5-7, the second at 10-12:
//
//	BenchmarkFullSync/services=1000,endpoints=10       4-10 ms/op     0.18 MB/op   3.3 MB payload
//	BenchmarkFullSync/services=10000,endpoints=10     51-68 ms/op     1.5 MB/op     33 MB payload
//	                                                114-169 ms/op
//	BenchmarkFullSync/services=10000,endpoints=50   276-580 ms/op     1.5 MB/op    151 MB payload
//	BenchmarkPartialSync/services=10000,endpoints=10  87-164 µs/op    0.09 MB/op   3156 B payload
//	                                                 110-260 µs/op
//	BenchmarkColdFullSync/services=10000,endpoints=10  0.5-0.75 s/op  125 MB/op
//
// BenchmarkColdFullSync is a new Proxier given the whole state and doing
// its first full sync (validation, hashing, merging, rendering from
// scratch): the cost of a start, paid once. The rendered-chain cache costs
// about as much memory as the nat payload.
//
// # Concurrency
//
// A Proxier is safe for concurrent use: all methods take an internal lock,
// so informer handlers may run on their goroutines while others sync, and
// concurrent SyncTo calls run one after the other. Plans are sequential: a
// Plan is invalidated by the next Plan, its payload buffer is reused by it,
// and only the latest Plan can be committed, so code that calls Plan and
// Commit from several goroutines must serialize plan, apply and commit
// itself. A Plan itself is not safe for concurrent use.
//
// # Caveats
//
//   - Commit a plan only after its payload was applied; after a failed
//     apply call RequestFullSync (SyncTo does), since iptables-restore
//     commits each table separately.
//   - If something else edits kube-proxy's chains, the next partial payload
//     may fail (a "-D" finds no rule); apply a full sync then.
//   - The payloads never touch the built-in chains; install JumpRules once.
//   - Options cannot change after New; create a new Proxier and do a full
//     sync instead.
//   - Payload() of a Plan is only valid until the next Plan.
package proxy
