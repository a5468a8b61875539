package stats

import (
	"fmt"
	"os"
	"path/filepath"
)

// DeviceNames maps block device numbers to "/dev/<name>" as cAdvisor labels
// its per-device metrics.
type DeviceNames map[[2]uint32]string

// Name returns the device path for major:minor, or "MAJ:MIN" when unknown.
func (d DeviceNames) Name(major, minor uint32) string {
	if n, ok := d[[2]uint32{major, minor}]; ok {
		return n
	}
	return fmt.Sprintf("%d:%d", major, minor)
}

// DeviceNames reads /proc/partitions.
func (fs FS) DeviceNames() (DeviceNames, error) {
	b, err := os.ReadFile(filepath.Join(fs.procRoot, "partitions"))
	if err != nil {
		return nil, fmt.Errorf("read partitions: %w", err)
	}
	return parsePartitions(b)
}

// parsePartitions parses /proc/partitions ("major minor #blocks name" after
// a header line and a blank line).
func parsePartitions(b []byte) (DeviceNames, error) {
	out := DeviceNames{}
	for n := 1; len(b) > 0; n++ {
		var line []byte
		line, b = nextLine(b)
		line = trimSpace(line)
		if len(line) == 0 {
			continue
		}
		if n == 1 {
			if !hasPrefix(line, "major") {
				return nil, parseErr("partitions", n, "missing header")
			}
			continue
		}
		f1, rest := nextField(line)
		f2, rest := nextField(rest)
		f3, rest := nextField(rest)
		f4, rest := nextField(rest)
		ma, ok1 := parseUint(f1)
		mi, ok2 := parseUint(f2)
		_, ok3 := parseUint(f3)
		if !ok1 || !ok2 || !ok3 || len(f4) == 0 || len(trimSpace(rest)) != 0 || ma > 1<<32-1 || mi > 1<<32-1 {
			return nil, parseErr("partitions", n, "want \"major minor #blocks name\", got %q", clip(line))
		}
		out[[2]uint32{uint32(ma), uint32(mi)}] = "/dev/" + string(f4)
	}
	return out, nil
}
