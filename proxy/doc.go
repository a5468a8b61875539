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
// # Applying to the kernel
//
// A Syncer keeps one IP family's Netfilter in step with a Proxier:
//
//	nf, err := proxy.NewIPTables(ctx, proxy.IPTablesOptions{}) // detects nft/legacy and version once
//	reg := prometheus.NewRegistry()
//	m, err := proxy.NewMetrics(reg)
//	s := proxy.NewSyncer(p, nf, proxy.SyncerOptions{Metrics: m,
//		Conntrack: ct, HealthChecks: proxy.NewHealthCheckServer(proxy.HealthCheckOptions{})})
//	go s.Run(ctx) // call s.Sync() from the informer handlers after each p.On... call
//	...
//	err = proxy.Cleanup(ctx, nf) // kube-proxy --cleanup
//
// IPTables runs iptables-restore --noflush with the lock flags of the
// installed version (-w 5, plus -W 100000 from 1.6.2 to 1.8.7, as
// kube-proxy), and returns a *RestoreError naming the failing line and its
// neighbours; single rules go through github.com/coreos/go-iptables.
// IPTablesOptions.NetNS runs every command inside another network
// namespace. proxytest.FakeNetfilter is the faithful fake.
//
// Run bootstraps first (Bootstrap: the top-level chains, the jumps from
// PREROUTING, INPUT, FORWARD, OUTPUT and POSTROUTING prepended as kube-proxy
// does, and a KUBE-PROXY-CANARY chain in mangle, nat and filter), then
// syncs at most once per MinSyncInterval and at least once per
// MaxSyncInterval, coalescing Sync calls, retrying a failed sync after 1 s,
// 2 s, ... up to 30 s, and making the sync after any failure a full one.
// Every CheckInterval it runs CheckDriftQuick (canaries, jumps and the rule
// counts of the shared chains, with single-chain commands) and every
// FullCheckInterval CheckDrift (every chain it wrote and its rule count,
// from iptables-save); drift is repaired at once by Bootstrap and a full
// sync. After each sync that changed a UDP service it deletes the conntrack
// entries to UDP service frontends whose reply source is not a serving
// endpoint (ReconcileConntrack; services without endpoints included), and
// it updates the healthCheckNodePort servers of ETP=Local services
// (HealthCheckServer, answering as kube-proxy). TestDatapath* check all of
// this with real packets between network namespaces.
//
// On the nf_tables backend a full payload is cut into table sections of at
// most 1,000 chains (SplitPayload), applied ten sections per
// iptables-restore run, and up to DefaultParallelRestores runs at once
// (SyncerOptions.ParallelRestores; no more than GOMAXPROCS): iptables-nft
// 1.8.9 spends time quadratic in the chains one section names and
// searches a cache that grows over a run, mostly in user space (strcmp
// was 34 % of the profile). Each section holds whole services, in an
// order that keeps the table consistent after every commit, with
// KUBE-SERVICES and the deletion of stale chains last. Sections whose
// chains do not jump to each other's (different services) form a wave and
// are applied concurrently; a wave starts once the sections it jumps to
// are committed, and the section that deletes stale chains waits for all
// others. The kernel commits one transaction at a time, but one run's
// parsing and cache work overlaps another's commit.
//
// Measured on this project's 2-core machine, idle apart from the
// benchmark (load average 0.5 to 2), with
// go test ./proxy -run XXX -bench BenchmarkRestore -benchtime 3x:
// 10,000 services x 10 endpoints into a fresh namespace take 7.5 to 8.4 s
// with parallel runs, against 11.2 s with one run at a time (the same
// benchmark on the same idle machine before parallel runs); 2,000 x 10
// take 1.2 s (the raw tool with the unsplit payload: 6.2 s); legacy,
// unsplit, 6.0 s (raw 5.8 s). Applying the 114 sections by hand
// (iptables-nft-restore --noflush -w 5 per run of ten, nsenter into a
// fresh namespace) took 9.4 s one run after the other and 7.3 s with two
// runs at a time (7.1 s with three, 7.2 s with four, 6.9 s with two runs
// of twenty sections), which set DefaultParallelRestores.
//
// Earlier figures, one run at a time, at load average 2 to 5: 10,000 x 10
// took 10.5 to 13.7 s. Of that, Plan took 0.23 s and Bootstrap 0.09 s
// (timed once in a throwaway test), SplitPayload 0.31 s (go test ./proxy
// -run XXX -bench BenchmarkSplitPayload -benchtime 3x; 0.55 s before it
// resolved jump targets once); the rest is iptables-nft-restore. Applying
// the split 10,000 x 10 payload by hand (summing the runs' user and system
// time) showed where the rest goes: in user space it grows with the
// section size (user time 2.1 s at 500 chains a section, 3.4 s at 1,000,
// 6.3 s at 2,000, 8.7 s at 3,000, 13.3 s at 5,000), in the kernel with the
// number of commits (system time 6.6 s at 500, 5.1 s at 1,000, 4.1 to
// 4.6 s above), since every commit walks the table's whole chain list
// (perf: nft_table_validate 19 % and nf_tables_commit 11 % of a late run,
// with no jump from a built-in chain). So 1,000 is about the best section
// size. Inserting the jumps from the built-in chains only after the first
// full sync was tried and not kept: on this kernel (6.18) the sums were
// the same either way (CPU 8.7 to 8.9 s with the jumps inserted first, 8.9
// to 9.4 s with them inserted last).
// A one-service change on top of 10,000 x 10 (3 KB payload) took 355 to
// 372 ms on nft, within 5 % of the raw tool with the same payload (355 to
// 377 ms), and 1.49 s on legacy (raw 1.45 s). On nft nearly all of it is
// the kernel: at every commit that adds a rule with a jump or a target,
// kernel 6.18 validates the whole table again, walking every chain
// reachable from each built-in chain (nft_table_validate), once per
// built-in chain that reaches KUBE-SERVICES. Measured by hand on the split
// 10,000 x 10 payload in a fresh namespace, adding one KUBE-SEP chain of
// two rules (iptables-nft-restore --noflush, /usr/bin/time): 0.03 s with
// no jump to KUBE-SERVICES, 0.18 s (0.17 s system) with the PREROUTING
// jump, 0.32 s (0.32 s system) with the PREROUTING and OUTPUT jumps that
// kube-proxy installs; perf record -a of the last put 75 % of the samples
// in nft_table_validate and nft_chain_validate. So no payload that
// changes a service can commit in under 100 ms on this kernel while the
// built-in chains jump to KUBE-SERVICES, as they must. (A series of
// netfilter patches, "add infrastructure for chain validation on
// updates", posted in May 2025, validates only the chains a transaction
// touches; this kernel does not have it.) Without those jumps, as when
// the issue measured the restore tool at 60 to 90 ms (kube-proxy's payload
// restored into a fresh namespace), the same change takes 49 to 51 ms,
// ours and the raw tool alike (BenchmarkRestorePartial, variant
// jumps=none). iptables-nft-save of one table
// of such a node takes 3 to 4 s, hence the quick drift check.
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
//   - The goal of a one-service change under 100 ms on nft is not met
//     here (355 to 372 ms, most of it the kernel's validation at commit);
//     see above. The 10,000 x 10 full apply meets its 10 s goal on the
//     idle machine (7.5 to 8.4 s).
//   - With ParallelRestores above 1 the Netfilter's Restore is called
//     from several goroutines at once, and after a failed run the runs of
//     the same wave that were already going still commit.
//   - Cleanup cannot delete tables: on nft, the mangle table that only the
//     canary needed stays, empty.
//   - Drift is found by comparing rule counts, not rule text.
package proxy
