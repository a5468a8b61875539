package oci

import "strings"

// The $(VAR) syntax of container command, args, env values and
// subPathExpr.
const (
	expansionOperator = '$'
	referenceOpener   = '('
	referenceCloser   = ')'
)

// Expand replaces each $(NAME) in input with mapping(NAME), exactly as the
// kubelet's third_party/forked/golang/expansion.Expand does:
//
//   - "$$" is an escaped "$": it becomes a single "$" and the text after it
//     is not read as a reference ("$$(VAR)" gives "$(VAR)");
//   - "$(" without a closing ")" is kept literally;
//   - a "$" followed by anything else is kept with that byte.
//
// Whether an undefined name stays literal is up to mapping: MappingFor
// returns "$(NAME)" for a name it does not know, as the kubelet does.
//
// One deliberate difference: after a lone "$" the kubelet converts the next
// byte to a rune, which re-encodes a non-ASCII byte ("$é" becomes "$Ã©"); we
// copy the byte, so valid UTF-8 stays valid UTF-8.
func Expand(input string, mapping func(name string) string) string {
	if strings.IndexByte(input, expansionOperator) < 0 {
		return input
	}
	var buf strings.Builder
	buf.Grow(len(input))
	checkpoint := 0
	for cursor := 0; cursor < len(input); cursor++ {
		if input[cursor] != expansionOperator || cursor+1 >= len(input) {
			continue
		}
		buf.WriteString(input[checkpoint:cursor])
		read, isVar, advance := readVariableName(input[cursor+1:])
		if isVar {
			buf.WriteString(mapping(read))
		} else {
			buf.WriteString(read)
		}
		cursor += advance
		checkpoint = cursor + 1
	}
	buf.WriteString(input[checkpoint:])
	return buf.String()
}

// readVariableName reads what follows a '$': the name of a reference, an
// escaped '$', or literal text. It returns the text to emit (or the name),
// whether it is a name, and how many bytes of input it consumed.
func readVariableName(input string) (string, bool, int) {
	switch input[0] {
	case expansionOperator:
		return input[0:1], false, 1
	case referenceOpener:
		if i := strings.IndexByte(input[1:], referenceCloser); i >= 0 {
			return input[1 : i+1], true, i + 2
		}
		return string(expansionOperator) + string(referenceOpener), false, 1
	default:
		return string(expansionOperator) + input[0:1], false, 1
	}
}

// MappingFor returns a mapping for Expand that looks a name up in each map in
// turn and leaves an unknown name as the literal "$(NAME)", as the kubelet's
// expansion.MappingFuncFor.
func MappingFor(maps ...map[string]string) func(string) string {
	return func(name string) string {
		for _, m := range maps {
			if v, ok := m[name]; ok {
				return v
			}
		}
		return string(expansionOperator) + string(referenceOpener) + name + string(referenceCloser)
	}
}
