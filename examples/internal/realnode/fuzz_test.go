package realnode

import (
	"strings"
	"testing"
)

// FuzzUnescapeMountPath: mountinfo's escaped paths never make it panic, and
// unescaping never lengthens a path or invents a backslash-free one from
// nothing.
func FuzzUnescapeMountPath(f *testing.F) {
	for _, seed := range []string{"/a\\040b", "/plain", "\\", "\\0", "\\777", "/x\\134\\040"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := unescapeMountPath(s)
		if len(out) > len(s) {
			t.Fatalf("%q unescaped to the longer %q", s, out)
		}
		if !strings.Contains(s, `\`) && out != s {
			t.Fatalf("%q without escapes changed to %q", s, out)
		}
	})
}
