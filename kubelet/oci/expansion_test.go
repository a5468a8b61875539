package oci

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{
		"VAR_A":     "A",
		"VAR_B":     "B",
		"VAR_C":     "$(VAR_A)-$(VAR_A)",
		"VAR_EMPTY": "",
		"BIG_MONEY": "$$",
	}
	mapping := MappingFor(vars)
	tests := []struct {
		name, in, want string
	}{
		{"whole", "$(VAR_A)", "A"},
		{"embedded", "___$(VAR_B)___", "___B___"},
		{"value not re-expanded", "$(VAR_C)", "$(VAR_A)-$(VAR_A)"},
		{"suffix", "$(VAR_A)-1", "A-1"},
		{"several", "$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_$(VAR_A)-$(VAR_A)"},
		{"escaped reference", "$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"},
		{"escaped undefined", "$$(VAR_DNE)", "$(VAR_DNE)"},
		{"undefined stays literal", "$(VAR_DNE)", "$(VAR_DNE)"},
		{"empty value", "x$(VAR_EMPTY)y", "xy"},
		{"three escapes", "$$$$$$(BIG_MONEY)", "$$$(BIG_MONEY)"},
		{"escapes then reference", "$$$$$$$(BIG_MONEY)", "$$$$$"},
		{"incomplete opener", "$(", "$("},
		{"incomplete reference", "$(VAR_A", "$(VAR_A"},
		{"incomplete after text", "foo $(VAR_A bar", "foo $(VAR_A bar"},
		{"lone operator", "$", "$"},
		{"trailing operator", "$(VAR_A)$", "A$"},
		{"operator before text", "$VAR_A", "$VAR_A"},
		{"empty name", "$()", "$()"},
		{"double", "$$", "$"},
		{"triple", "$$$", "$$"},
		{"nested parens", "$(VAR_A(x))", "$(VAR_A(x))"},
		{"no operator", "plain text", "plain text"},
		{"utf8 after operator", "$é", "$é"},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Expand(tc.in, mapping); got != tc.want {
				t.Errorf("Expand(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzExpand checks properties of Expand on any input: with an identity
// mapping (every name maps to its own reference) the only change is that
// "$$" becomes "$"; valid UTF-8 stays valid; and a mapping that knows no
// name leaves every reference literal.
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"", "$", "$$", "$(", "$()", "$(A)", "a$(B)c$$(D)", "$$$(E", "$é$(ü)", "\x00$(\x00)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		identity := func(name string) string { return "$(" + name + ")" }
		got := Expand(in, identity)
		if want := unescapeDollars(in); got != want {
			t.Fatalf("Expand(%q, identity) = %q, want %q", in, got, want)
		}
		if utf8.ValidString(in) && !utf8.ValidString(got) {
			t.Fatalf("Expand(%q) = %q is not valid UTF-8", in, got)
		}
		if got2 := Expand(in, MappingFor()); got2 != got {
			t.Fatalf("Expand(%q, MappingFor()) = %q, want %q", in, got2, got)
		}
		if !strings.Contains(in, "$") && got != in {
			t.Fatalf("Expand(%q) changed input without '$'", in)
		}
	})
}

// unescapeDollars is an independent statement of what identity expansion
// does: scanning left to right, "$$" becomes "$" and everything else is
// kept (a "$(" reference is copied through, ")" included).
func unescapeDollars(in string) string {
	var b strings.Builder
	for i := 0; i < len(in); i++ {
		if in[i] != '$' || i+1 >= len(in) {
			b.WriteByte(in[i])
			continue
		}
		switch in[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			if j := strings.IndexByte(in[i+2:], ')'); j >= 0 {
				b.WriteString(in[i : i+2+j+1])
				i += 2 + j
			} else {
				b.WriteString("$(")
				i++
			}
		default:
			b.WriteByte('$')
			b.WriteByte(in[i+1])
			i++
		}
	}
	return b.String()
}
