package proxy

import "strings"

// writtenPort is what the Proxier believes it wrote to the kernel for one
// service port: its lines in the shared chains and the names of the nat
// chains it owns. Partial syncs delete exactly these lines ("-D") and
// chains ("-X"), so no iptables-save is ever needed.
type writtenPort struct {
	name   ServicePortName
	key    string
	shared [numShared][]string
	chains []string
}

// splitLines splits rendered text into lines, reusing old when equal so
// that an unchanged service allocates nothing.
func splitLines(text []byte, old []string) []string {
	if linesEqual(text, old) {
		return old
	}
	if len(text) == 0 {
		return nil
	}
	n := 0
	for _, ch := range text {
		if ch == '\n' {
			n++
		}
	}
	lines := make([]string, 0, n)
	s := string(text)
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n')
		lines = append(lines, s[:i])
		s = s[i+1:]
	}
	return lines
}

// linesEqual reports whether text ("a\nb\n") holds exactly lines.
func linesEqual(text []byte, lines []string) bool {
	for _, l := range lines {
		if len(text) < len(l)+1 || string(text[:len(l)]) != l || text[len(l)] != '\n' {
			return false
		}
		text = text[len(l)+1:]
	}
	return len(text) == 0
}

func stringsEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ruleSpec splits "-A CHAIN spec" into CHAIN and spec.
func ruleSpec(line string) (chain, spec string) {
	rest := line[3:]
	i := strings.IndexByte(rest, ' ')
	if i < 0 {
		return rest, ""
	}
	return rest[:i], rest[i+1:]
}
