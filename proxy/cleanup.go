package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"
)

// ownedFixedChains are the fixed chains the library (and kube-proxy's
// iptables mode) creates.
var ownedFixedChains = map[string]bool{
	ChainServices: true, ChainExternalServices: true, ChainNodePorts: true, ChainPostrouting: true,
	ChainMarkMasq: true, ChainForward: true, ChainProxyFirewall: true, ChainKubeletFirewall: true,
	CanaryChain: true,
}

// IsOwnedChain reports whether a chain name is one the library creates:
// the fixed kube-proxy chains, the canary, and the per-service chains
// (KUBE-SVC-, KUBE-SVL-, KUBE-EXT-, KUBE-FW-, KUBE-SEP-).
func IsOwnedChain(name string) bool {
	if ownedFixedChains[name] {
		return true
	}
	for _, p := range []string{prefixServiceCluster, prefixServiceLocal, prefixExternal, prefixFirewall, prefixEndpoint} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Cleanup removes from nf every jump and chain the library (or kube-proxy's
// iptables mode, which uses the same names) creates, as "kube-proxy
// --cleanup" does: the JumpRules from the built-in chains (all copies of
// them), then, in one iptables-restore per table, every owned chain
// (IsOwnedChain) found by iptables-save in mangle, nat and filter, flushed
// and deleted. Other chains and rules are left alone; a rule of someone
// else's that jumps to one of the owned chains makes the restore fail, and
// nothing of that table is deleted.
//
// Cleanup works without a Proxier (after a restart, from what the kernel
// holds) and is idempotent. Tables stay: on the nf_tables backend a table
// that only Bootstrap created (mangle, for the canary) remains, empty,
// because the iptables tools cannot delete tables; an empty table with
// ACCEPT policies changes no packet. KUBE-FIREWALL, which the kubelet shares, is
// removed too; the kubelet recreates it.
func Cleanup(ctx context.Context, nf Netfilter) error {
	for _, j := range JumpRules() {
		target := j.Args[len(j.Args)-1]
		// "iptables -C" of a jump to a missing chain is an error, not "no".
		ok, err := nf.ChainExists(ctx, j.Table, target)
		if err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
		if !ok {
			continue
		}
		for range 100 { // kube-proxy's jumps never repeat more often than that.
			exists, err := nf.RuleExists(ctx, j.Table, j.Chain, j.Args...)
			if err != nil {
				return fmt.Errorf("cleanup: checking jump %s -> %s in %s: %w", j.Chain, target, j.Table, err)
			}
			if !exists {
				break
			}
			if err := nf.DeleteRule(ctx, j.Table, j.Chain, j.Args...); err != nil {
				return fmt.Errorf("cleanup: deleting jump %s -> %s in %s: %w", j.Chain, target, j.Table, err)
			}
		}
	}
	for _, table := range []string{TableNAT, TableFilter, TableMangle} {
		saved, err := nf.Save(ctx, table)
		if err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
		var owned []string
		for _, c := range savedChains(saved) {
			if IsOwnedChain(c) {
				owned = append(owned, c)
			}
		}
		if len(owned) == 0 {
			continue
		}
		var b lineBuf
		b.w("*" + table + "\n")
		for _, c := range owned {
			writeChainLine(&b, c)
		}
		for _, c := range owned {
			b.w("-X " + c + "\n")
		}
		b.w("COMMIT\n")
		if err := nf.Restore(ctx, b); err != nil {
			return fmt.Errorf("cleanup: deleting %d chains of %s: %w", len(owned), table, err)
		}
	}
	return nil
}

// savedChains returns the chains declared in iptables-save output, in
// order.
func savedChains(saved []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(saved))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) > 1 && line[0] == ':' {
			if i := bytes.IndexByte(line, ' '); i > 1 {
				out = append(out, string(line[1:i]))
			}
		}
	}
	return out
}
