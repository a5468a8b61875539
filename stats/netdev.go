package stats

// NetworkStats holds the interface counters of one network namespace, read
// from /proc/<pid>/net/dev of a process living in it.
type NetworkStats struct {
	// Interfaces lists every interface of the namespace except loopback, in
	// kernel order.
	Interfaces []InterfaceStats `json:"interfaces"`
}

// InterfaceStats holds the counters of one interface (the receive and
// transmit bytes, packets, errs and drop columns of net/dev).
type InterfaceStats struct {
	Name      string `json:"name"`
	RxBytes   uint64 `json:"rxBytes"`
	RxPackets uint64 `json:"rxPackets"`
	RxErrors  uint64 `json:"rxErrors"`
	RxDropped uint64 `json:"rxDropped"`
	TxBytes   uint64 `json:"txBytes"`
	TxPackets uint64 `json:"txPackets"`
	TxErrors  uint64 `json:"txErrors"`
	TxDropped uint64 `json:"txDropped"`
}

// Totals sums the counters of all interfaces.
func (n *NetworkStats) Totals() InterfaceStats {
	var t InterfaceStats
	for i := range n.Interfaces {
		f := &n.Interfaces[i]
		t.RxBytes += f.RxBytes
		t.RxPackets += f.RxPackets
		t.RxErrors += f.RxErrors
		t.RxDropped += f.RxDropped
		t.TxBytes += f.TxBytes
		t.TxPackets += f.TxPackets
		t.TxErrors += f.TxErrors
		t.TxDropped += f.TxDropped
	}
	return t
}

// parseNetDev parses /proc/<pid>/net/dev: two header lines, then
// "name: 16 counters" per interface. Loopback ("lo") is skipped, like the
// kubelet's Summary provider does. Interface names already present at the
// same index in out are reused so steady-state reads do not allocate.
func parseNetDev(b []byte, out *NetworkStats) error {
	const file = "net/dev"
	prev := out.Interfaces
	out.Interfaces = out.Interfaces[:0]
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b = nextLine(b)
		if n <= 2 {
			if n == 1 && !hasPrefix(trimSpace(line), "Inter-|") {
				return parseErr(file, n, "missing header")
			}
			continue
		}
		line = trimSpace(line)
		if len(line) == 0 {
			continue
		}
		colon := -1
		for i, c := range line {
			if c == ':' {
				colon = i
				break
			}
		}
		if colon <= 0 {
			return parseErr(file, n, "want \"name: counters\", got %q", clip(line))
		}
		name := trimSpace(line[:colon])
		rest := line[colon+1:]
		var vals [16]uint64
		for i := range vals {
			var f []byte
			f, rest = nextField(rest)
			v, ok := parseUint(f)
			if !ok {
				return parseErr(file, n, "counter %d of %s is not an unsigned integer: %q", i+1, name, clip(f))
			}
			vals[i] = v
		}
		if len(trimSpace(rest)) != 0 {
			return parseErr(file, n, "more than 16 counters for %s", name)
		}
		if string(name) == "lo" {
			continue
		}
		idx := len(out.Interfaces)
		var nm string
		if idx < len(prev) && prev[idx].Name == string(name) {
			nm = prev[idx].Name
		} else {
			nm = string(name)
		}
		out.Interfaces = append(out.Interfaces, InterfaceStats{
			Name:    nm,
			RxBytes: vals[0], RxPackets: vals[1], RxErrors: vals[2], RxDropped: vals[3],
			TxBytes: vals[8], TxPackets: vals[9], TxErrors: vals[10], TxDropped: vals[11],
		})
	}
	return nil
}

func hasPrefix(b []byte, p string) bool {
	return len(b) >= len(p) && string(b[:len(p)]) == p
}
