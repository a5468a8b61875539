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
//	// res.Outcomes: DNAT destination, probability, verdict, masquerade.
//	golden := k.Dump() // deterministic iptables-save-like text
//
// ParsePayload and ParseRule give the structure of a payload or rule without
// applying it; Rule has accessors (Value, Option, Has, HasMatch, Target,
// Comment) and a Canonical form in which two rules iptables considers equal
// compare equal.
//
// # Restore semantics
//
// FakeKernel follows the real tool as measured with iptables v1.8.9
// (nf_tables backend) in a throwaway network namespace; the privileged test
// TestFakeKernelMatchesIPTablesRestore replays the same payloads on both
// and compares the results. In particular:
//
//   - Atomicity is per table section, not per payload: each COMMIT commits
//     its table, so when the nat section of a "*filter ... COMMIT *nat ...
//     COMMIT" payload fails, the filter section stays applied. A caller that
//     needs all-or-nothing must treat any restore error as "state unknown"
//     and resynchronise, as kube-proxy does (it forces a full sync).
//   - ":CHAIN - [0:0]" flushes an existing user chain but never a built-in
//     one; -X refuses chains that hold rules (declare the chain first to
//     flush it, as kube-proxy does) or that a rule jumps to.
//   - "-I CHAIN n" with n > 1 anchored on a rule added earlier in the same
//     table section is refused with ErrUnreliableInsert: iptables-nft 1.8.9
//     either fails such a line ("RULE_INSERT failed (No such file or
//     directory)") or inserts the rule at the wrong place. "-I CHAIN" and
//     "-I CHAIN 1" are always fine.
//   - "-D CHAIN spec" deletes the first rule equal in Canonical form, so
//     "-d 10.0.0.1" matches a rule written "-d 10.0.0.1/32" and option
//     order inside a match does not matter, as in the kernel.
//
// # Tracer semantics
//
// The tracer models the first packet of a new connection. It evaluates
// -s, -d, -p, -i, -o (with '+' wildcards), -f, the comment, nfacct, tcp,
// udp, sctp (--dport, --sport, ranges), multiport, mark, addrtype (LOCAL
// only), conntrack --ctstate and state --state (NEW by default, DNAT after
// DNAT), statistic --mode random (weighted branches) and recent (--set
// recorded in Outcome.Recent; --rcheck/--update match only lists named in
// Packet.Recent) matches, and the ACCEPT, DROP, REJECT, RETURN, LOG, MARK,
// DNAT, SNAT and MASQUERADE targets, jumps and gotos. Anything else it
// meets is an error wrapping ErrUnsupported. Like netfilter, a packet
// delivered locally after PREROUTING goes through INPUT and never through
// POSTROUTING, so it is not masqueraded there.
//
// # Concurrency
//
// FakeKernel is safe for concurrent use: every method takes an internal
// mutex, so Restore is atomic with respect to Dump, Rules and Trace.
// Payload, Table, Rule and the other value types are plain data, safe for
// concurrent reads.
//
// # Caveats
//
//   - Only the extensions listed in extensions.go are known; others are
//     refused with ErrUnknownExtension, as if iptables could not load them.
//   - Kernel-side checks on which hook a target may be used in (DNAT only in
//     PREROUTING and OUTPUT, MASQUERADE only in POSTROUTING) are not
//     modelled; nat-only targets outside the nat table are refused.
//   - Counters are not kept; Dump prints [0:0]. Address ranges in DNAT and
//     SNAT are refused.
//   - The tracer's probabilities are products of the --probability values
//     (kube-proxy's 10-digit decimals), so they sum to 1 only to within
//     about 1e-9.
package proxytest
