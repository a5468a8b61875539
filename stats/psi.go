package stats

// PSIStats holds pressure stall information of a cgroup (cgroup v2
// cpu.pressure, memory.pressure, io.pressure).
type PSIStats struct {
	CPU    Pressure `json:"cpu"`
	Memory Pressure `json:"memory"`
	IO     Pressure `json:"io"`
	// Available is false when the cgroup has no pressure files (cgroup v1
	// only, or a kernel without CONFIG_PSI).
	Available bool `json:"available"`
}

// Pressure is one pressure file: "some" and "full" lines.
type Pressure struct {
	Some PressureLine `json:"some"`
	Full PressureLine `json:"full"`
}

// PressureLine holds the running averages (percent) and the total stall
// time in microseconds of one line of a pressure file.
type PressureLine struct {
	Avg10       float64 `json:"avg10"`
	Avg60       float64 `json:"avg60"`
	Avg300      float64 `json:"avg300"`
	TotalMicros uint64  `json:"totalMicros"`
}

// parsePressure parses a PSI file (Documentation/accounting/psi.rst):
//
//	some avg10=0.00 avg60=0.00 avg300=0.00 total=0
//	full avg10=0.00 avg60=0.00 avg300=0.00 total=0
//
// The "full" line is absent from cpu.pressure before kernel 5.13.
func parsePressure(file string, b []byte, out *Pressure) error {
	seenSome := false
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b = nextLine(b)
		line = trimSpace(line)
		if len(line) == 0 {
			continue
		}
		kind, rest := nextField(line)
		var dst *PressureLine
		switch string(kind) {
		case "some":
			dst = &out.Some
			seenSome = true
		case "full":
			dst = &out.Full
		default:
			return parseErr(file, n, "want \"some\" or \"full\", got %q", clip(kind))
		}
		seen := 0
		for {
			var kv []byte
			kv, rest = nextField(rest)
			if len(kv) == 0 {
				break
			}
			key, val, isKV := splitKeyValue(kv)
			if !isKV {
				return parseErr(file, n, "want key=value, got %q", clip(kv))
			}
			var ok bool
			switch string(key) {
			case "avg10":
				dst.Avg10, ok = parseDecimal(val)
			case "avg60":
				dst.Avg60, ok = parseDecimal(val)
			case "avg300":
				dst.Avg300, ok = parseDecimal(val)
			case "total":
				dst.TotalMicros, ok = parseUint(val)
			default:
				continue
			}
			if !ok {
				return parseErr(file, n, "bad value for %s: %q", key, clip(val))
			}
			seen++
		}
		if seen != 4 {
			return parseErr(file, n, "want avg10, avg60, avg300 and total, got %q", clip(line))
		}
	}
	if !seenSome {
		return parseErr(file, 0, "no \"some\" line")
	}
	return nil
}

// parseDecimal parses the kernel's fixed-point "%lu.%02lu" percentages
// without allocating.
func parseDecimal(b []byte) (float64, bool) {
	dot := -1
	for i, c := range b {
		if c == '.' {
			dot = i
			break
		}
	}
	if dot < 0 {
		v, ok := parseUint(b)
		return float64(v), ok
	}
	ip, ok := parseUint(b[:dot])
	if !ok {
		return 0, false
	}
	frac := b[dot+1:]
	if len(frac) == 0 || len(frac) > 9 {
		return 0, false
	}
	fp, ok := parseUint(frac)
	if !ok {
		return 0, false
	}
	scale := 1.0
	for range frac {
		scale *= 10
	}
	return float64(ip) + float64(fp)/scale, true
}
