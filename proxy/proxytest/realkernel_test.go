package proxytest_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/nodekit/nodekit/internal/netnstest"
	"github.com/nodekit/nodekit/internal/privtest"
	"github.com/nodekit/nodekit/proxy/proxytest"
)

// restoreStep is one payload applied to both the fake and the real tool.
type restoreStep struct {
	name    string
	payload string
	// wantErr is the sentinel the fake must return; nil means success. The
	// real tool must fail exactly when the fake does.
	wantErr error
}

// ipv4Steps exercises the --noflush semantics the fake models, including
// the failures. Each step starts from the state the previous ones left.
var ipv4Steps = []restoreStep{
	{name: "kube-proxy base", payload: `*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL
-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT
-A KUBE-NODEPORTS -m comment --comment "ns2/svc2:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
-A KUBE-PROXY-FIREWALL -m comment --comment "ns5/svc5:p80 traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
:KUBE-SEP-UKSFD7AGPMPPLUHC - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m recent --name KUBE-SEP-SXIVWICOYRO3J4NJ --rcheck --seconds 10800 --reap -j KUBE-SEP-SXIVWICOYRO3J4NJ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-SXIVWICOYRO3J4NJ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.2:80" -j KUBE-SEP-UKSFD7AGPMPPLUHC
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m recent --name KUBE-SEP-SXIVWICOYRO3J4NJ --set -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns1/svc1:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp --dport 3001 -j KUBE-SVC-XPGD46QRK7WJZT7O
COMMIT
`},
	{name: "declaration flushes a user chain, not a built-in one", payload: `*nat
:PREROUTING ACCEPT [0:0]
:KUBE-NODEPORTS - [0:0]
-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp --dport 3002 -j KUBE-SVC-XPGD46QRK7WJZT7O
COMMIT
`},
	{name: "delete by spec written differently", payload: `*filter
-D KUBE-SERVICES -d 172.30.0.46/32 -p tcp -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
COMMIT
`},
	{name: "delete a MARK rule written in another form", payload: `*nat
-D KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
COMMIT
`},
	{name: "delete by spec with matches in another order", wantErr: proxytest.ErrNoRule, payload: `*filter
-D KUBE-NODEPORTS -p tcp -m tcp --dport 30000 -m comment --comment "ns2/svc2:p80 health check node port" -j ACCEPT
COMMIT
`},
	{name: "delete of a missing rule", wantErr: proxytest.ErrNoRule, payload: `*filter
-D KUBE-SERVICES -d 172.30.0.46/32 -j REJECT
COMMIT
`},
	{name: "delete by number past the end", wantErr: proxytest.ErrNoRule, payload: `*filter
-D KUBE-FORWARD 4
COMMIT
`},
	{name: "delete by number", payload: `*filter
-D KUBE-FORWARD 1
COMMIT
`},
	{name: "delete a referenced chain", wantErr: proxytest.ErrChainInUse, payload: `*nat
:KUBE-SEP-UKSFD7AGPMPPLUHC - [0:0]
-X KUBE-SEP-UKSFD7AGPMPPLUHC
COMMIT
`},
	{name: "delete a chain that holds rules", wantErr: proxytest.ErrChainNotEmpty, payload: `*nat
:KUBE-STALE - [0:0]
-A KUBE-STALE -j RETURN
-X KUBE-STALE
COMMIT
`},
	{name: "delete a missing chain", wantErr: proxytest.ErrNoChain, payload: `*nat
-X KUBE-NOPE
COMMIT
`},
	{name: "delete a built-in chain", wantErr: proxytest.ErrBuiltinChain, payload: `*nat
-X OUTPUT
COMMIT
`},
	{name: "stale chain removal as kube-proxy writes it", payload: `*nat
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
:KUBE-SEP-UKSFD7AGPMPPLUHC - [0:0]
:KUBE-NODEPORTS - [0:0]
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.2:80" -j KUBE-SEP-UKSFD7AGPMPPLUHC
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns1/svc1:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-UKSFD7AGPMPPLUHC -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
-X KUBE-SEP-SXIVWICOYRO3J4NJ
COMMIT
`},
	{name: "insert at positions of committed rules", payload: `*nat
-I KUBE-SERVICES 2 -m comment --comment "ns3/svc3:p53 cluster IP" -m udp -p udp -d 172.30.0.43 --dport 53 -j KUBE-SVC-XPGD46QRK7WJZT7O
-I KUBE-SERVICES -m comment --comment "ns4/svc4:p53 cluster IP" -m udp -p udp -d 172.30.0.44 --dport 53 -j KUBE-SVC-XPGD46QRK7WJZT7O
-I KUBE-SERVICES 4 -m comment --comment "ns5/svc5:p53 cluster IP" -m udp -p udp -d 172.30.0.45 --dport 53 -j KUBE-SVC-XPGD46QRK7WJZT7O
COMMIT
`},
	{name: "insert past the end", wantErr: proxytest.ErrBadPosition, payload: `*nat
-I KUBE-MARK-MASQ 3 -j RETURN
COMMIT
`},
	{name: "insert anchored on a new rule that is then deleted", wantErr: proxytest.ErrUnreliableInsert, payload: `*nat
:KUBE-NEW - [0:0]
-A KUBE-NEW -s 10.1.0.1 -j RETURN
-A KUBE-NEW -s 10.1.0.2 -j RETURN
-I KUBE-NEW 2 -s 10.1.0.3 -j RETURN
-D KUBE-NEW -s 10.1.0.2 -j RETURN
COMMIT
`},
	{name: "positional inserts that iptables-nft gets right", payload: `*nat
:KUBE-POS - [0:0]
-A KUBE-POS -s 10.2.0.1 -j RETURN
-A KUBE-POS -s 10.2.0.2 -j RETURN
-A KUBE-POS -s 10.2.0.3 -j RETURN
-I KUBE-POS 2 -s 10.2.0.4 -j RETURN
-I KUBE-POS 2 -s 10.2.0.5 -j RETURN
COMMIT
*nat
-D KUBE-POS -s 10.2.0.1 -j RETURN
-I KUBE-POS 2 -s 10.2.0.6 -j RETURN
-I KUBE-POS 3 -s 10.2.0.7 -j RETURN
-D KUBE-POS -s 10.2.0.5 -j RETURN
-A KUBE-POS -s 10.2.0.8 -j RETURN
-I KUBE-POS 6 -s 10.2.0.9 -j RETURN
-D KUBE-POS 1
COMMIT
`},
	{name: "jump to a missing chain", wantErr: proxytest.ErrNoChain, payload: `*nat
-A KUBE-SERVICES -j KUBE-SVC-DOESNOTEXIST
COMMIT
`},
	{name: "tables commit one by one", wantErr: proxytest.ErrNoChain, payload: `*filter
:KUBE-COMMITTED - [0:0]
-A KUBE-COMMITTED -j ACCEPT
COMMIT
*nat
:KUBE-NOT-COMMITTED - [0:0]
-A KUBE-NOT-COMMITTED -j KUBE-MISSING
COMMIT
`},
	{name: "missing COMMIT", wantErr: proxytest.ErrNoCommit, payload: `*nat
:KUBE-NEVER - [0:0]
`},
	{name: "unknown table", wantErr: proxytest.ErrNoTable, payload: `*bogus
COMMIT
`},
	{name: "create an existing chain", wantErr: proxytest.ErrChainExists, payload: `*nat
-N KUBE-SERVICES
COMMIT
`},
	{name: "DNAT with a port needs a protocol", wantErr: proxytest.ErrBadArgument, payload: `*nat
:KUBE-SEP-X - [0:0]
-A KUBE-SEP-X -j DNAT --to-destination 10.180.0.9:80
COMMIT
`},
	{name: "tcp match needs -p tcp", wantErr: proxytest.ErrBadArgument, payload: `*nat
:KUBE-SEP-X - [0:0]
-A KUBE-SEP-X -m tcp --dport 80 -j RETURN
COMMIT
`},
	{name: "unreachable jump loop is accepted", payload: `*nat
:KUBE-LOOP-A - [0:0]
:KUBE-LOOP-B - [0:0]
-A KUBE-LOOP-A -j KUBE-LOOP-B
-A KUBE-LOOP-B -j KUBE-LOOP-A
COMMIT
`},
	{name: "reachable jump loop", wantErr: proxytest.ErrLoop, payload: `*nat
-A OUTPUT -j KUBE-LOOP-A
COMMIT
`},
	{name: "chains must be flushed before deletion", wantErr: proxytest.ErrChainNotEmpty, payload: `*nat
:KUBE-LOOP-B - [0:0]
-X KUBE-LOOP-A
-X KUBE-LOOP-B
COMMIT
`},
	{name: "break the loop", payload: `*nat
:KUBE-LOOP-A - [0:0]
:KUBE-LOOP-B - [0:0]
-X KUBE-LOOP-A
-X KUBE-LOOP-B
COMMIT
`},
	{name: "policy and mark forms", payload: `*filter
:FORWARD DROP [0:0]
:KUBE-MARKS - [0:0]
-A KUBE-MARKS -j MARK --set-xmark 0x4000/0x4000
-A KUBE-MARKS -j MARK --set-mark 0x8000
-A KUBE-MARKS -j MARK --and-mark 0xffff
-A KUBE-MARKS -m mark --mark 0x1 -j RETURN
-A KUBE-MARKS -m conntrack --ctstate DNAT,NEW -m statistic --mode random --probability 0.25 -j RETURN
-A KUBE-MARKS -g KUBE-FORWARD
COMMIT
`},
	{name: "DNAT reached from POSTROUTING", wantErr: proxytest.ErrBadArgument, payload: `*nat
:KUBE-HOOK - [0:0]
-A KUBE-HOOK -p tcp -j DNAT --to-destination 10.1.1.1:80
-A POSTROUTING -j KUBE-HOOK
COMMIT
`},
	{name: "MASQUERADE reached from PREROUTING through two chains", wantErr: proxytest.ErrBadArgument, payload: `*nat
:KUBE-HOOK-A - [0:0]
:KUBE-HOOK-B - [0:0]
-A PREROUTING -j KUBE-HOOK-A
-A KUBE-HOOK-A -j KUBE-HOOK-B
-A KUBE-HOOK-B -j MASQUERADE
COMMIT
`},
	{name: "REJECT in mangle PREROUTING", wantErr: proxytest.ErrBadArgument, payload: `*mangle
-A PREROUTING -j REJECT
COMMIT
`},
	{name: "output interface in PREROUTING", wantErr: proxytest.ErrBadArgument, payload: `*nat
-A PREROUTING -o eth0 -j RETURN
COMMIT
`},
	{name: "input interface in a user chain reached from OUTPUT", payload: `*nat
:KUBE-IFACE - [0:0]
-A KUBE-IFACE -i eth0 -j RETURN
-A OUTPUT -j KUBE-IFACE
-A POSTROUTING -o eth0 -j MASQUERADE
COMMIT
`},
	{name: "comment of 255 bytes", payload: "*nat\n:KUBE-LONG - [0:0]\n-A KUBE-LONG -m comment --comment " + strings.Repeat("c", 255) + " -j RETURN\nCOMMIT\n"},
	{name: "comment of 300 bytes is truncated", payload: "*nat\n-A KUBE-LONG -m comment --comment " + strings.Repeat("d", 300) + " -j RETURN\nCOMMIT\n"},
	{name: "delete with the untruncated comment", payload: "*nat\n-D KUBE-LONG -m comment --comment " + strings.Repeat("d", 300) + " -j RETURN\nCOMMIT\n"},
	{name: "chain name of 28 bytes", payload: "*nat\n:" + strings.Repeat("K", 28) + " - [0:0]\nCOMMIT\n"},
	{name: "chain name of 29 bytes", wantErr: proxytest.ErrSyntax, payload: "*nat\n:" + strings.Repeat("K", 29) + " - [0:0]\nCOMMIT\n"},
	{name: "interface name of 16 bytes", wantErr: proxytest.ErrBadArgument, payload: "*nat\n-A OUTPUT -o " + strings.Repeat("e", 16) + " -j RETURN\nCOMMIT\n"},
	{name: "port option without protocol", wantErr: proxytest.ErrUnknownExtension, payload: "*nat\n-A OUTPUT --dport 80 -j RETURN\nCOMMIT\n"},
	{name: "unknown match module", wantErr: proxytest.ErrUnknownExtension, payload: "*nat\n-A OUTPUT -m nosuchmatch -j RETURN\nCOMMIT\n"},
	{name: "option given twice", wantErr: proxytest.ErrSyntax, payload: "*nat\n-A OUTPUT -p tcp -m tcp --dport 80 --dport 81 -j RETURN\nCOMMIT\n"},
	{name: "two comment matches", payload: "*nat\n-A OUTPUT -m comment --comment a -m comment --comment b -j RETURN\nCOMMIT\n"},
	{name: "flush and delete everything in a table", payload: `*nat
-F
-X
COMMIT
`},
}

// TestFakeKernelMatchesIPTablesRestore applies the same payloads to the fake
// and to iptables-restore --noflush in a throwaway network namespace, and
// checks that they fail on the same payloads and end in the same state
// (iptables-save output, compared in canonical form).
func TestFakeKernelMatchesIPTablesRestore(t *testing.T) {
	privtest.Require(t, "iptables-restore", "iptables-save")
	sb := netnstest.New(t)
	ns := sb.Namespace("iptfake")
	compareWithReal(t, ns, proxytest.IPv4, "iptables-restore", "iptables-save", ipv4Steps)
}

var ipv6Steps = []restoreStep{
	{name: "ipv6 service", payload: `*nat
:KUBE-SERVICES - [0:0]
:KUBE-SEP-V6 - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d fd00:10:96::1 --dport 80 -j KUBE-SEP-V6
-A KUBE-SEP-V6 -s fd00:10:244::5/128 -m recent --name KUBE-SEP-V6 --set -m tcp -p tcp -j DNAT --to-destination [fd00:10:244::5]:8080
COMMIT
`},
	{name: "ipv4 address in ip6tables", wantErr: proxytest.ErrBadArgument, payload: `*nat
-A KUBE-SERVICES -d 10.0.0.1 -j RETURN
COMMIT
`},
}

// TestFakeKernelMatchesIP6TablesRestore is the IPv6 counterpart.
func TestFakeKernelMatchesIP6TablesRestore(t *testing.T) {
	privtest.Require(t, "ip6tables-restore", "ip6tables-save")
	sb := netnstest.New(t)
	ns := sb.Namespace("ip6tfake")
	compareWithReal(t, ns, proxytest.IPv6, "ip6tables-restore", "ip6tables-save", ipv6Steps)
}

func compareWithReal(t *testing.T, ns *netnstest.Namespace, family proxytest.Family, restoreCmd, saveCmd string, steps []restoreStep) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fake := proxytest.NewFakeKernel(family)
	for _, step := range steps {
		fakeErr := fake.Restore(ctx, []byte(step.payload))
		switch {
		case step.wantErr == nil && fakeErr != nil:
			t.Errorf("%s: fake: unexpected error %v", step.name, fakeErr)
		case step.wantErr != nil && !errors.Is(fakeErr, step.wantErr):
			t.Errorf("%s: fake: error %v, want %v", step.name, fakeErr, step.wantErr)
		}
		cmd := ns.Command(ctx, restoreCmd, "--noflush")
		cmd.Stdin = strings.NewReader(step.payload)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		realErr := cmd.Run()
		if (realErr == nil) != (fakeErr == nil) {
			t.Errorf("%s: real %s error %v (%s), fake error %v", step.name, restoreCmd, realErr, strings.TrimSpace(stderr.String()), fakeErr)
		}
		saved, err := ns.Run(ctx, saveCmd)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		got := canonicalSave(t, family, saved)
		if diff := cmp.Diff(got, fake.DumpCanonical()); diff != "" {
			t.Errorf("%s: state differs (-real +fake):\n%s", step.name, diff)
		}
	}
}

// canonicalSave loads iptables-save output into a fresh fake and dumps it
// in canonical form, so that formatting differences do not count.
func canonicalSave(t *testing.T, family proxytest.Family, saved []byte) string {
	t.Helper()
	k := proxytest.NewFakeKernel(family)
	if err := k.Restore(context.Background(), saved); err != nil {
		t.Fatalf("loading iptables-save output into the fake: %v\n%s", err, saved)
	}
	return k.DumpCanonical()
}

// TestKubeProxyPayloadsMatchIPTablesRestore replays the kube-proxy payload
// of the tracer tests and a partial sync on top of it.
func TestKubeProxyPayloadsMatchIPTablesRestore(t *testing.T) {
	privtest.Require(t, "iptables-restore", "iptables-save")
	sb := netnstest.New(t)
	ns := sb.Namespace("iptkp")
	compareWithReal(t, ns, proxytest.IPv4, "iptables-restore", "iptables-save", []restoreStep{
		{name: "full sync", payload: string(readTestdata(t, "trace/kube-proxy.payload"))},
		{name: "partial sync", payload: partialSync},
		// Declarations flush the user chains but not the built-in ones, so
		// the jumps from PREROUTING, INPUT, ... are appended a second time,
		// by the real tool as by the fake: which is why kube-proxy installs
		// them with "iptables -C/-I" rather than in the payload.
		{name: "full sync again", payload: string(readTestdata(t, "trace/kube-proxy.payload"))},
	})
}

// TestUnterminatedQuoteIsRefused pins down the one place where the fake is
// deliberately stricter than the real tool: iptables-restore 1.8.9 takes an
// unterminated quote to run to the end of the line, newline included, so
// `--comment "abc -j RETURN` adds a rule whose comment is "abc -j
// RETURN\n" and which has no target. The fake refuses the line.
func TestUnterminatedQuoteIsRefused(t *testing.T) {
	privtest.Require(t, "iptables-restore", "iptables-save")
	sb := netnstest.New(t)
	ns := sb.Namespace("iptquote")
	ctx := context.Background()
	payload := "*nat\n:KUBE-Q - [0:0]\n-A KUBE-Q -m comment --comment \"abc -j RETURN\nCOMMIT\n"
	cmd := ns.Command(ctx, "iptables-restore", "--noflush")
	cmd.Stdin = strings.NewReader(payload)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the real tool now refuses an unterminated quote (%v: %s): the fake's deliberate difference can go", err, out)
	}
	saved := ns.MustRun(t, "iptables-save", "-t", "nat")
	if !strings.Contains(saved, "-A KUBE-Q -m comment --comment \"abc -j RETURN\n\"") {
		t.Errorf("real tool stored something else than a comment ending in a newline:\n%s", saved)
	}
	k := proxytest.NewFakeKernel(proxytest.IPv4)
	if err := k.Restore(ctx, []byte(payload)); !errors.Is(err, proxytest.ErrSyntax) {
		t.Errorf("fake: %v, want ErrSyntax", err)
	}
}
