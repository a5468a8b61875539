package proxytest

import (
	"fmt"
	"strings"
)

// maxTokenLen is the longest argument iptables-restore accepts: its parse
// buffer is 1024 bytes including the terminating NUL ("Parameter too long!").
const maxTokenLen = 1023

// Tokenize splits one payload line into arguments the way iptables-restore
// does (iptables/xshared.c add_param_to_argv): spaces and tabs separate
// arguments; a double quote opens a quoted section in which spaces are kept
// and a backslash makes the next character literal; the closing quote ends
// the argument. Outside quotes a backslash is an ordinary character.
//
// It returns an error wrapping ErrSyntax for an argument longer than 1023
// bytes and for an unterminated quote, which iptables-restore 1.8.9
// accepts (the argument then runs to the end of the line) but which is
// refused here on purpose: see the package documentation.
func Tokenize(line string) ([]string, error) {
	args := make([]string, 0, strings.Count(line, " ")+1)
	for i := 0; i < len(line); {
		switch line[i] {
		case ' ', '\t', '\n':
			i++
			continue
		}
		// Fast path: an argument without quotes is a substring.
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' && line[j] != '\n' && line[j] != '"' {
			j++
		}
		if j == len(line) || line[j] != '"' {
			if j-i > maxTokenLen {
				return nil, fmt.Errorf("argument of %d bytes is longer than %d (Parameter too long!): %w", j-i, maxTokenLen, ErrSyntax)
			}
			args = append(args, line[i:j])
			i = j
			continue
		}
		// Slow path: the argument holds a quoted part, which ends it.
		var cur strings.Builder
		cur.WriteString(line[i:j])
		i = j + 1
		closed := false
		for ; i < len(line); i++ {
			c := line[i]
			if c == '\\' && i+1 < len(line) {
				i++
				cur.WriteByte(line[i])
				continue
			}
			if c == '\\' {
				break // a trailing backslash escapes nothing: unterminated
			}
			if c == '"' {
				closed = true
				i++
				break
			}
			cur.WriteByte(c)
		}
		if !closed {
			return nil, fmt.Errorf("unterminated quote: %w", ErrSyntax)
		}
		if cur.Len() > maxTokenLen {
			return nil, fmt.Errorf("argument of %d bytes is longer than %d (Parameter too long!): %w", cur.Len(), maxTokenLen, ErrSyntax)
		}
		args = append(args, cur.String())
	}
	if len(args) == 0 {
		return nil, nil
	}
	return args, nil
}

// Quote renders one argument so that Tokenize reads it back unchanged. Plain
// words are returned as they are; anything empty or holding a space, tab,
// quote, backslash or '#' is double-quoted with '"' and '\' escaped, the
// way iptables-save quotes comments. Arguments holding a newline cannot be
// represented on a payload line; Quote escapes nothing for them and the
// resulting line will not parse back.
func Quote(arg string) string {
	if arg != "" && !strings.ContainsAny(arg, " \t\r\n\"\\'#") {
		return arg
	}
	var b strings.Builder
	b.Grow(len(arg) + 2)
	b.WriteByte('"')
	for i := 0; i < len(arg); i++ {
		if arg[i] == '"' || arg[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(arg[i])
	}
	b.WriteByte('"')
	return b.String()
}

// joinArgs renders args separated by single spaces, quoting as needed.
func joinArgs(b *strings.Builder, args []string) {
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(Quote(a))
	}
}
