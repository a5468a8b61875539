// Package proxytest holds public test helpers for code that writes
// kube-proxy-style iptables rules: a parser for iptables-restore payloads, a
// FakeKernel that applies them with the semantics of "iptables-restore
// --noflush", and a packet tracer that walks a packet through the
// resulting rules and reports where it would go.
//
// It does not import the proxy package, so the proxy package's tests (and
// anyone else's) can use it to check generated payloads without root.
//
// # Usage
//
//	k := proxytest.NewFakeKernel(proxytest.IPv4)
//	if err := k.Restore(ctx, payload); err != nil {
//		var re *proxytest.RestoreError
//		if errors.As(err, &re) { ... re.Line, re.Text ... }
//		if errors.Is(err, proxytest.ErrNoChain) { ... }
//	}
//	res, err := k.Trace(proxytest.Packet{
//		Src: netip.MustParseAddr("10.0.0.2"), Dst: netip.MustParseAddr("172.30.0.1"),
//		Proto: "tcp", DstPort: 80, Hook: "PREROUTING", InInterface: "eth0",
//		LocalAddrs: []netip.Addr{nodeIP},
//	})
//	// res.Outcomes: DNAT destination, probability, verdict, masquerade, path.
//	golden := k.Dump() // deterministic iptables-save-like text
//
// ParsePayload and ParseRule give the structure of a payload or rule without
// applying it; Rule has accessors (Value, Option, Has, HasMatch, Target,
// Goto, Comment) and a Canonical form in which two rules the kernel
// considers the same compare equal.
//
// # Restore semantics
//
// FakeKernel follows the real tool as measured with iptables v1.8.9
// (nf_tables backend) on kernel 6.18 in throwaway network namespaces. The
// privileged tests TestFakeKernelMatchesIPTablesRestore,
// TestFakeKernelMatchesIP6TablesRestore and
// TestKubeProxyPayloadsMatchIPTablesRestore replay the same payloads on both
// and compare which ones fail and the resulting iptables-save output. What
// they pin down:
//
//   - Atomicity is per table section, not per payload: each COMMIT commits
//     its table, so when the nat section of "*filter ... COMMIT *nat ...
//     COMMIT" fails, the filter section stays applied. A caller that needs
//     all-or-nothing must treat any restore error as "state unknown" and
//     resynchronise, as kube-proxy does (it forces a full sync).
//   - ":CHAIN - [0:0]" flushes an existing user chain but never a built-in
//     one, so restating jumps from PREROUTING, INPUT, ... in every payload
//     duplicates them: kube-proxy installs those with "iptables -C/-I".
//   - -X refuses a chain that holds rules ("CHAIN_DEL failed (Device or
//     resource busy)"): declare it first to flush it, as kube-proxy does. It
//     also refuses chains that a rule still jumps to, and built-in chains.
//   - "-D CHAIN spec" deletes the first rule with the same matches in the
//     same order; option order inside a match, "-d 10.0.0.1" versus
//     "10.0.0.1/32", "--or-mark" versus "--set-xmark" and default options do
//     not matter. A different match order deletes nothing.
//   - Jump loops are refused only when a built-in chain reaches them.
//   - DNAT and REDIRECT may only be reached from PREROUTING and OUTPUT,
//     MASQUERADE from POSTROUTING, SNAT from POSTROUTING and INPUT, REJECT
//     from INPUT, FORWARD and OUTPUT; -o is refused in built-in PREROUTING
//     and INPUT, -i in POSTROUTING and OUTPUT.
//   - Positional inserts ("-I CHAIN n", n > 1) are refused with
//     ErrUnreliableInsert where iptables-nft 1.8.9 mishandles them: after
//     the chain was flushed in the same section, or one past the end right
//     after an -A of the same section (both silently put the rule in the
//     wrong place), and when the rule the insert was placed before, itself
//     added in the section, is then deleted ("RULE_INSERT failed (No such
//     file or directory)"). Inserts relative to rules committed earlier, or
//     to new rules that stay, work and are accepted.
//   - A comment longer than 255 bytes is silently cut to 255 bytes.
//
// One difference is deliberate: iptables-restore 1.8.9 takes an
// unterminated double quote to run to the end of the line, newline
// included, so a payload line `-A X -m comment --comment "abc -j RETURN`
// adds a rule with the comment "abc -j RETURN\n" and no target. Tokenize,
// ParsePayload and FakeKernel refuse such a line with ErrSyntax instead:
// it is always a bug in whatever wrote the payload (an unescaped quote in a
// name), the rule the real tool would add is not what was meant, and its
// iptables-save output no longer restores. TestUnterminatedQuoteIsRefused
// keeps the measured real behaviour on record.
//
// # Tracer semantics
//
// The privileged test TestTraceMatchesRealForwarding loads a payload into a
// node namespace that routes between a client and a pod namespace, opens
// real TCP connections to the ClusterIPs and checks that the endpoint
// reached, the source address it sees (masqueraded or not) and refused
// connections are all among the tracer's predictions.
//
// The tracer models the first packet of a new connection (or, with
// Packet.CTState, a later one, which skips nat). It evaluates
// -s, -d, -p, -i, -o (with '+' wildcards), -f, the comment, nfacct, tcp,
// udp, sctp (--dport, --sport, ranges), multiport, mark, addrtype (LOCAL
// only), conntrack --ctstate and state --state (NEW by default, plus DNAT
// once DNATed), statistic --mode random (weighted branches) and recent
// (--set is recorded in Outcome.Recent; --rcheck and --update match only
// lists named in Packet.Recent) matches, and the ACCEPT, DROP, REJECT,
// RETURN, LOG, MARK, DNAT, SNAT and MASQUERADE targets, jumps and gotos.
// Anything else it meets is an error wrapping ErrUnsupported, never a
// silent match or skip. Like netfilter, a packet delivered locally after
// PREROUTING goes through INPUT and never through POSTROUTING, so it is not
// masqueraded.
//
// # Performance
//
// Measured on this project's 2-core test machine (shared, so expect noise)
// with
//
//	go test ./proxy/proxytest -run XXX -bench . -benchtime 5x
//
// a full restore of 1,000 services with 10 endpoints each (31,000 rules)
// took 0.15 to 0.29 s (65 MB, 495,000 allocations); a restore that
// rewrites one service took 0.13 to 0.24 ms whether the kernel held 1,000
// or 10,000 services, because a section applies to a copy-on-write
// overlay; a trace to the last of 1,000 services took about 0.3 ms.
//
// # Concurrency
//
// FakeKernel is safe for concurrent use: every method takes an internal
// mutex, so Restore is atomic with respect to Dump, Rules and Trace.
// Payload, Table, Rule and the other value types are plain data, safe for
// concurrent reads; Rule.Options returns values that share memory with the
// rule's Args.
//
// # Caveats
//
//   - Only the extensions listed in extensions.go are known; others are
//     refused with ErrUnknownExtension, as if iptables could not load them.
//   - Counters are not kept; Dump prints [0:0]. Address ranges in DNAT and
//     SNAT are refused. Hook checks cover the targets listed above only.
//   - Where the real tool reports a failure at COMMIT (a reachable loop),
//     the fake reports the COMMIT line too; other failures carry the line
//     that caused them.
//   - The tracer's probabilities are products of the --probability values
//     (kube-proxy's 10-digit decimals), so they sum to 1 only to within
//     about 1e-9.
package proxytest
