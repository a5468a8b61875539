package prober

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
)

// FuzzExpandStatic: the $(VAR) expansion of exec probe commands never
// panics, leaves text without '$' alone, and without variables changes
// only "$$" escapes.
func FuzzExpandStatic(f *testing.F) {
	for _, s := range []string{"", "$", "$$", "$(", "$()", "$(A)", "a$(A)b$$(B)$", "$(A", "x$y", "$(A)$(A)"} {
		f.Add(s)
	}
	env := []v1.EnvVar{{Name: "A", Value: "1"}}
	f.Fuzz(func(t *testing.T, in string) {
		out := expandStatic([]string{in}, env)[0]
		if !strings.Contains(in, "$") && out != in {
			t.Fatalf("%q changed to %q", in, out)
		}
		if !strings.Contains(in, "$$") {
			if got := expandStatic([]string{in}, nil)[0]; got != in {
				t.Fatalf("%q changed to %q without variables", in, got)
			}
		}
	})
}
