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
// It returns an error wrapping ErrSyntax for an unterminated quote or an
// argument longer than 1023 bytes.
func Tokenize(line string) ([]string, error) {
	var (
		args      []string
		cur       strings.Builder
		quoteOpen bool
		escaped   bool
		// emitQuoted is set when a quote closed, so that an empty quoted
		// string ("") still produces an (empty) argument, as in iptables.
		emitQuoted bool
	)
	emit := func() error {
		if cur.Len() > maxTokenLen {
			return fmt.Errorf("argument of %d bytes is longer than %d (Parameter too long!): %w", cur.Len(), maxTokenLen, ErrSyntax)
		}
		args = append(args, cur.String())
		cur.Reset()
		emitQuoted = false
		return nil
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		if quoteOpen {
			switch {
			case escaped:
				cur.WriteByte(c)
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				quoteOpen = false
				emitQuoted = true
				if err := emit(); err != nil {
					return nil, err
				}
			default:
				cur.WriteByte(c)
			}
			continue
		}
		switch c {
		case '"':
			quoteOpen = true
		case ' ', '\t', '\n':
			if cur.Len() > 0 {
				if err := emit(); err != nil {
					return nil, err
				}
			}
		default:
			cur.WriteByte(c)
		}
	}
	if quoteOpen {
		return nil, fmt.Errorf("unterminated quote: %w", ErrSyntax)
	}
	if cur.Len() > 0 || emitQuoted {
		if err := emit(); err != nil {
			return nil, err
		}
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
