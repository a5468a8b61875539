package stats

// Zero-allocation helpers shared by the parsers of kernel files. Every parser
// takes the whole file content as []byte and never keeps a reference to it.

// nextLine splits b at the first newline.
func nextLine(b []byte) (line, rest []byte) {
	for i, c := range b {
		if c == '\n' {
			return b[:i], b[i+1:]
		}
	}
	return b, nil
}

// trimSpace trims ASCII blanks (space, tab, newline, carriage return).
func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// splitKeyValue splits "key=value" at its first '='; ok is false when there
// is no '=' or the key is empty.
func splitKeyValue(kv []byte) (key, val []byte, ok bool) {
	for i, c := range kv {
		if c == '=' {
			return kv[:i], kv[i+1:], i > 0
		}
	}
	return nil, nil, false
}

// nextField returns the next blank-separated field of b and the remainder.
func nextField(b []byte) (field, rest []byte) {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	i := 0
	for i < len(b) && !isSpace(b[i]) {
		i++
	}
	return b[:i], b[i:]
}

// parseUint parses an unsigned decimal integer, rejecting empty input, signs,
// non-digits and overflow.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// parseInt parses a decimal integer with an optional leading minus sign.
func parseInt(b []byte) (int64, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg = true
		b = b[1:]
	}
	u, ok := parseUint(b)
	if !ok {
		return 0, false
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > 1<<63-1 {
		return 0, false
	}
	return int64(u), true
}

// parseSingleUint parses a file holding one unsigned integer and a newline,
// such as memory.usage_in_bytes.
func parseSingleUint(file string, b []byte) (uint64, error) {
	v, ok := parseUint(trimSpace(b))
	if !ok {
		return 0, parseErr(file, 1, "want one unsigned integer, got %q", clip(b))
	}
	return v, nil
}

// parseLimit parses a file holding an unsigned integer or the word "max"
// (cgroup v2 limits, pids.max). "max" yields math.MaxUint64 and unlimited.
func parseLimit(file string, b []byte) (v uint64, unlimited bool, err error) {
	t := trimSpace(b)
	if string(t) == "max" {
		return 1<<64 - 1, true, nil
	}
	v, ok := parseUint(t)
	if !ok {
		return 0, false, parseErr(file, 1, "want an unsigned integer or \"max\", got %q", clip(b))
	}
	return v, false, nil
}

// clip shortens file content quoted in an error message.
func clip(b []byte) string {
	const limit = 64
	if len(b) > limit {
		return string(b[:limit]) + "..."
	}
	return string(b)
}

// keyValueLines calls fn for each "key value" line of a flat-keyed file
// (memory.stat, cpu.stat, memory.events). Blank lines are skipped. A line
// without exactly two fields or with a non-numeric value is an error.
func keyValueLines(file string, b []byte, fn func(key []byte, value uint64)) error {
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b = nextLine(b)
		line = trimSpace(line)
		if len(line) == 0 {
			continue
		}
		key, rest := nextField(line)
		val, rest := nextField(rest)
		if len(trimSpace(rest)) != 0 || len(val) == 0 {
			return parseErr(file, n, "want \"key value\", got %q", clip(line))
		}
		v, ok := parseUint(val)
		if !ok {
			return parseErr(file, n, "value of %q is not an unsigned integer: %q", key, clip(val))
		}
		fn(key, v)
	}
	return nil
}
