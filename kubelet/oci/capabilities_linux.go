package oci

import "golang.org/x/sys/unix"

// BoundingCapabilities returns the known capabilities in the calling
// thread's bounding set (prctl PR_CAPBSET_READ), in kernel order: the
// capabilities a runtime started from this process can grant.
func BoundingCapabilities() []string {
	var out []string
	for i, name := range KnownCapabilities() {
		if r, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, uintptr(i), 0, 0, 0); err == nil && r == 1 {
			out = append(out, name)
		}
	}
	return out
}
