package proxytest_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/nodekit/nodekit/proxy/proxytest"
)

// examplePayload is a trimmed kube-proxy payload: one ClusterIP service
// with two endpoints and the masquerade machinery.
const examplePayload = `*nat
:KUBE-SERVICES - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
:KUBE-SEP-AAAAAAAAAAAAAAAA - [0:0]
:KUBE-SEP-BBBBBBBBBBBBBBBB - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-AAAAAAAAAAAAAAAA
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.2:80" -j KUBE-SEP-BBBBBBBBBBBBBBBB
-A KUBE-SEP-AAAAAAAAAAAAAAAA -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-AAAAAAAAAAAAAAAA -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SEP-BBBBBBBBBBBBBBBB -m comment --comment ns1/svc1:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-BBBBBBBBBBBBBBBB -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
COMMIT
`

func ExampleFakeKernel_Restore() {
	ctx := context.Background()
	k := proxytest.NewFakeKernel(proxytest.IPv4)
	if err := k.Restore(ctx, []byte(examplePayload)); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(k.Rules("nat", "KUBE-SVC-XPGD46QRK7WJZT7O")), "rules in the service chain")

	// A chain that a rule still jumps to cannot be deleted, and the
	// failing table section changes nothing.
	err := k.Restore(ctx, []byte("*nat\n:KUBE-SEP-AAAAAAAAAAAAAAAA - [0:0]\n-X KUBE-SEP-AAAAAAAAAAAAAAAA\nCOMMIT\n"))
	var re *proxytest.RestoreError
	fmt.Println(errors.Is(err, proxytest.ErrChainInUse), errors.As(err, &re) && re.Line == 3)
	fmt.Println(len(k.Rules("nat", "KUBE-SEP-AAAAAAAAAAAAAAAA")), "rules still in the endpoint chain")
	// Output:
	// 3 rules in the service chain
	// true true
	// 2 rules still in the endpoint chain
}

func ExampleFakeKernel_Trace() {
	k := proxytest.NewFakeKernel(proxytest.IPv4)
	if err := k.Restore(context.Background(), []byte(examplePayload)); err != nil {
		fmt.Println(err)
		return
	}
	// A packet from outside the cluster CIDR to the ClusterIP: two equally
	// likely endpoints, masqueraded because the source is not a pod.
	res, err := k.Trace(proxytest.Packet{
		Src:     netip.MustParseAddr("192.168.1.10"),
		Dst:     netip.MustParseAddr("172.30.0.41"),
		Proto:   "tcp",
		SrcPort: 40000, DstPort: 80,
		Hook:        "PREROUTING",
		InInterface: "eth0", OutInterface: "cbr0",
		LocalAddrs: []netip.Addr{netip.MustParseAddr("192.168.1.2")},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, o := range res.Outcomes {
		fmt.Printf("%.2f %s %s masquerade=%v\n", o.Probability, o.Verdict, o.DNAT, o.Masquerade)
	}
	// Output:
	// 0.50 ACCEPT 10.180.0.1:80 masquerade=true
	// 0.50 ACCEPT 10.180.0.2:80 masquerade=true
}

func ExampleParseRule() {
	r, err := proxytest.ParseRule("KUBE-SERVICES",
		`-m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O`)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Comment())
	fmt.Println(r.Value("-d"), r.Value("--dport"), r.Target(), r.HasMatch("tcp"), r.HasMatch("recent"))
	c, _ := r.Canonical()
	fmt.Println(c)
	// Output:
	// ns1/svc1:p80 cluster IP
	// 172.30.0.41 80 KUBE-SVC-XPGD46QRK7WJZT7O true false
	// -A KUBE-SERVICES -d 172.30.0.41/32 -p tcp -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
}

func ExampleParsePayload() {
	p, err := proxytest.ParsePayload([]byte(`*nat
:KUBE-SVC-X - [0:0]
-A KUBE-SVC-X -m comment --comment "ns/svc:p -> 10.0.0.1:80" -j KUBE-SEP-X
-D KUBE-SERVICES 3
-X KUBE-SEP-OLD
COMMIT
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range p.Tables {
		for _, op := range t.Ops {
			fmt.Printf("line %d: %s (target %q)\n", op.Line, op, op.Rule.Target())
		}
	}
	_, err = proxytest.ParsePayload([]byte("*nat\n-A KUBE-SVC-X -j\nCOMMIT\n"))
	fmt.Println(err)
	// Output:
	// line 3: -A KUBE-SVC-X -m comment --comment "ns/svc:p -> 10.0.0.1:80" -j KUBE-SEP-X (target "KUBE-SEP-X")
	// line 4: -D KUBE-SERVICES 3 (target "")
	// line 5: -X KUBE-SEP-OLD (target "")
	// line 2 ("-A KUBE-SVC-X -j"): rule in chain KUBE-SVC-X: option -j requires an argument: syntax error
}

func ExampleFakeKernel_Dump() {
	k := proxytest.NewFakeKernel(proxytest.IPv4)
	err := k.Restore(context.Background(), []byte(`*nat
:KUBE-B - [0:0]
:KUBE-A - [0:0]
-A KUBE-B -j KUBE-A
-A KUBE-A -m comment --comment "two words" -j RETURN
COMMIT
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(k.Dump())
	// Output:
	// *nat
	// :PREROUTING ACCEPT [0:0]
	// :INPUT ACCEPT [0:0]
	// :OUTPUT ACCEPT [0:0]
	// :POSTROUTING ACCEPT [0:0]
	// :KUBE-A - [0:0]
	// :KUBE-B - [0:0]
	// -A KUBE-A -m comment --comment "two words" -j RETURN
	// -A KUBE-B -j KUBE-A
	// COMMIT
}
