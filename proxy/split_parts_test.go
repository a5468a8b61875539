package proxy

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// hubPayload is a nat section of n services, each a KUBE-SVC chain jumping
// to two KUBE-SEP chains that jump to the hub KUBE-MARK-MASQ, a
// KUBE-SERVICES hub jumping to every service, and a stale chain deleted.
func hubPayload(n int) []byte {
	var b strings.Builder
	b.WriteString("*filter\n:KUBE-FORWARD - [0:0]\n-A KUBE-FORWARD -j ACCEPT\nCOMMIT\n")
	b.WriteString("*nat\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-OLD - [0:0]\n")
	for i := range n {
		fmt.Fprintf(&b, ":KUBE-SVC-%d - [0:0]\n:KUBE-SEP-%dA - [0:0]\n:KUBE-SEP-%dB - [0:0]\n", i, i, i)
	}
	b.WriteString("-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000\n")
	for i := range n {
		fmt.Fprintf(&b, "-A KUBE-SERVICES -d 10.0.%d.1/32 -j KUBE-SVC-%d\n", i, i)
		fmt.Fprintf(&b, "-A KUBE-SVC-%d -m statistic --mode random --probability 0.5 -j KUBE-SEP-%dA\n", i, i)
		fmt.Fprintf(&b, "-A KUBE-SVC-%d -j KUBE-SEP-%dB\n", i, i)
		for _, s := range []string{"A", "B"} {
			fmt.Fprintf(&b, "-A KUBE-SEP-%d%s -s 10.1.%d.1/32 -j KUBE-MARK-MASQ\n", i, s, i)
			fmt.Fprintf(&b, "-A KUBE-SEP-%d%s -p tcp -j DNAT --to-destination 10.1.%d.1:80\n", i, s, i)
		}
	}
	b.WriteString("-X KUBE-SVC-OLD\nCOMMIT\n")
	return []byte(b.String())
}

// TestSplitPartsOrder checks the order constraints of the parts: every
// part comes after the parts declaring the chains it jumps to, the part
// deleting stale chains after all of its table, and no wave holds two
// parts of which one depends on the other.
func TestSplitPartsOrder(t *testing.T) {
	out, parts, ok := splitPayloadParts(hubPayload(60), 30)
	if !ok {
		t.Fatal("not split")
	}
	if !bytes.Equal(out, SplitPayload(hubPayload(60), 30)) {
		t.Fatal("SplitPayload and splitPayloadParts differ")
	}
	declaredIn := map[string]int{}
	table := make([]string, len(parts))
	for i, p := range parts {
		text := out[p.start:p.end]
		table[i] = string(text[:bytes.IndexByte(text, '\n')])
		for _, l := range strings.Split(string(text), "\n") {
			if strings.HasPrefix(l, ":") {
				declaredIn[table[i]+" "+strings.Fields(l[1:])[0]] = i
			}
		}
	}
	if table[0] != "*filter" || parts[0].after != -1 {
		t.Errorf("part 0: table %s after %d, want *filter after -1", table[0], parts[0].after)
	}
	for i, p := range parts {
		text := string(out[p.start:p.end])
		if p.after >= i {
			t.Errorf("part %d comes after part %d", i, p.after)
		}
		for _, l := range strings.Split(text, "\n") {
			if !strings.HasPrefix(l, "-A ") {
				continue
			}
			target := jumpTarget([]byte(l))
			if j, ok := declaredIn[table[i]+" "+target]; ok && j != i && j > p.after {
				t.Errorf("part %d (after %d) jumps to %s of part %d: %s", i, p.after, target, j, l)
			}
		}
		if strings.Contains(text, "\n-X ") && p.after != i-1 {
			t.Errorf("part %d deletes chains but comes after part %d only", i, p.after)
		}
	}
	waves := splitWaves(parts, 2)
	var flat []int
	for w, runs := range waves {
		start := runs[0][0]
		for _, r := range runs {
			if r[1]-r[0]+1 > 2 {
				t.Errorf("wave %d: run %v longer than 2", w, r)
			}
			for i := r[0]; i <= r[1]; i++ {
				flat = append(flat, i)
				if i != start && parts[i].after >= start {
					t.Errorf("wave %d: part %d comes after part %d of the same wave", w, i, parts[i].after)
				}
			}
		}
	}
	for i, p := range flat {
		if p != i {
			t.Fatalf("waves do not cover the parts in order: %v", flat)
		}
	}
	// filter and the first nat part (the hub KUBE-MARK-MASQ), then the
	// services' parts, then KUBE-SERVICES with the deletion.
	if len(waves) != 3 || len(waves[1]) < 2 {
		t.Errorf("waves %v, want 3 with a parallel middle one", waves)
	}
}
