package stats

// IOStats holds block IO counters of a cgroup, per device and summed.
type IOStats struct {
	// Devices has one entry per block device, in kernel order.
	Devices []IODevice `json:"devices"`
	// ReadBytes is the sum of Devices[].ReadBytes.
	ReadBytes uint64 `json:"readBytes"`
	// WriteBytes is the sum of Devices[].WriteBytes.
	WriteBytes uint64 `json:"writeBytes"`
	// ReadOps is the sum of Devices[].ReadOps.
	ReadOps uint64 `json:"readOps"`
	// WriteOps is the sum of Devices[].WriteOps.
	WriteOps uint64 `json:"writeOps"`
}

// IODevice holds the counters of one block device.
type IODevice struct {
	Major      uint32 `json:"major"`
	Minor      uint32 `json:"minor"`
	ReadBytes  uint64 `json:"readBytes"`
	WriteBytes uint64 `json:"writeBytes"`
	ReadOps    uint64 `json:"readOps"`
	WriteOps   uint64 `json:"writeOps"`
	// DiscardBytes and DiscardOps are v2 dbytes/dios or v1 "Discard" rows.
	DiscardBytes uint64 `json:"discardBytes"`
	DiscardOps   uint64 `json:"discardOps"`
}

func (s *IOStats) sum() {
	s.ReadBytes, s.WriteBytes, s.ReadOps, s.WriteOps = 0, 0, 0, 0
	for i := range s.Devices {
		d := &s.Devices[i]
		s.ReadBytes += d.ReadBytes
		s.WriteBytes += d.WriteBytes
		s.ReadOps += d.ReadOps
		s.WriteOps += d.WriteOps
	}
}

// device returns the entry for major:minor, appending one if needed.
func (s *IOStats) device(major, minor uint32) *IODevice {
	for i := range s.Devices {
		if s.Devices[i].Major == major && s.Devices[i].Minor == minor {
			return &s.Devices[i]
		}
	}
	s.Devices = append(s.Devices, IODevice{Major: major, Minor: minor})
	return &s.Devices[len(s.Devices)-1]
}

// parseDevNumber parses "major:minor".
func parseDevNumber(b []byte) (major, minor uint32, ok bool) {
	for i, c := range b {
		if c == ':' {
			ma, ok1 := parseUint(b[:i])
			mi, ok2 := parseUint(b[i+1:])
			if !ok1 || !ok2 || ma > 1<<32-1 || mi > 1<<32-1 {
				return 0, 0, false
			}
			return uint32(ma), uint32(mi), true
		}
	}
	return 0, 0, false
}

// parseBlkioV1 parses a v1 blkio file of "MAJ:MIN Op value" rows ending with
// "Total N" (blkio.throttle.io_service_bytes_recursive when bytes is true,
// blkio.throttle.io_serviced_recursive otherwise) into s.Devices.
func parseBlkioV1(file string, b []byte, bytes bool, s *IOStats) error {
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b = nextLine(b)
		line = trimSpace(line)
		if len(line) == 0 {
			continue
		}
		f1, rest := nextField(line)
		f2, rest := nextField(rest)
		f3, rest := nextField(rest)
		if string(f1) == "Total" && len(f3) == 0 {
			if _, ok := parseUint(f2); !ok {
				return parseErr(file, n, "bad Total row %q", clip(line))
			}
			continue
		}
		if len(f3) == 0 || len(trimSpace(rest)) != 0 {
			return parseErr(file, n, "want \"MAJ:MIN Op value\", got %q", clip(line))
		}
		major, minor, ok := parseDevNumber(f1)
		if !ok {
			return parseErr(file, n, "bad device number %q", clip(f1))
		}
		v, ok := parseUint(f3)
		if !ok {
			return parseErr(file, n, "value is not an unsigned integer: %q", clip(f3))
		}
		d := s.device(major, minor)
		switch string(f2) {
		case "Read":
			if bytes {
				d.ReadBytes = v
			} else {
				d.ReadOps = v
			}
		case "Write":
			if bytes {
				d.WriteBytes = v
			} else {
				d.WriteOps = v
			}
		case "Discard":
			if bytes {
				d.DiscardBytes = v
			} else {
				d.DiscardOps = v
			}
		case "Sync", "Async", "Total":
		default:
			return parseErr(file, n, "unknown operation %q", clip(f2))
		}
	}
	return nil
}

// parseIOStatV2 parses v2 io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N
// dbytes=N dios=N" per device; unknown keys (io.cost, io.latency) are
// ignored.
func parseIOStatV2(b []byte, s *IOStats) error {
	s.Devices = s.Devices[:0]
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b = nextLine(b)
		line = trimSpace(line)
		if len(line) == 0 {
			continue
		}
		dev, rest := nextField(line)
		major, minor, ok := parseDevNumber(dev)
		if !ok {
			return parseErr("io.stat", n, "bad device number %q", clip(dev))
		}
		d := s.device(major, minor)
		for {
			var kv []byte
			kv, rest = nextField(rest)
			if len(kv) == 0 {
				break
			}
			key, val, ok := splitKeyValue(kv)
			if !ok {
				return parseErr("io.stat", n, "want key=value, got %q", clip(kv))
			}
			var dst *uint64
			switch string(key) {
			case "rbytes":
				dst = &d.ReadBytes
			case "wbytes":
				dst = &d.WriteBytes
			case "rios":
				dst = &d.ReadOps
			case "wios":
				dst = &d.WriteOps
			case "dbytes":
				dst = &d.DiscardBytes
			case "dios":
				dst = &d.DiscardOps
			default:
				continue
			}
			v, ok := parseUint(val)
			if !ok {
				return parseErr("io.stat", n, "value of %s is not an unsigned integer: %q", key, clip(val))
			}
			*dst = v
		}
	}
	s.sum()
	return nil
}
