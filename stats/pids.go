package stats

// PidsStats holds the pids controller figures of a cgroup.
type PidsStats struct {
	// Current is the number of tasks (threads) in the cgroup (pids.current).
	Current uint64 `json:"current"`
	// Limit is pids.max, read with MaskLimits, 0 when unlimited ("max"), as
	// runc and cAdvisor report it.
	Limit uint64 `json:"limit"`
	// HasCurrent is false for a root cgroup, which has no pids files.
	HasCurrent bool `json:"hasCurrent"`
}

// parsePidsMax parses pids.max ("max" or an integer).
func parsePidsMax(b []byte) (uint64, error) {
	v, unlimited, err := parseLimit("pids.max", b)
	if err != nil {
		return 0, err
	}
	if unlimited {
		return 0, nil
	}
	return v, nil
}
