package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Sentinel errors of the kernel side. Inspect them with errors.Is.
var (
	// ErrRestoreFailed reports an iptables-restore run that failed.
	// Errors wrapping it are *RestoreError values.
	ErrRestoreFailed = errors.New("iptables-restore failed")
	// ErrNoBackend reports that the iptables tools of the requested
	// backend are not installed or do not run.
	ErrNoBackend = errors.New("iptables backend not available")
	// ErrDrift reports that the kernel's rules differ from what the
	// library wrote: a canary chain, a jump or one of its chains is
	// missing, or a chain holds a different number of rules.
	ErrDrift = errors.New("rules drifted from what was written")
)

// restoreContextLines is how many lines on each side of the failing one a
// RestoreError keeps.
const restoreContextLines = 2

// RestoreError is the error of a failed iptables-restore: the tool's
// message, the failing payload line when the tool named one, and its
// neighbours. It wraps ErrRestoreFailed and the underlying exec error.
//
// A RestoreError is an immutable value, safe for concurrent use.
type RestoreError struct {
	// Command is the tool that ran, such as "iptables-nft-restore".
	Command string
	// Line is the 1-based payload line the tool reported ("line N
	// failed", "Error occurred at line: N"), or 0 when it named none.
	Line int
	// Text is that line, without its newline ("" when Line is 0).
	Text string
	// Context holds the lines around Line, each "N: text", the failing
	// one included.
	Context []string
	// Output is what the tool wrote to standard error, trimmed.
	Output string
	// Err is the exec error (usually an exit status).
	Err error
}

// Error implements error.
func (e *RestoreError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %v", e.Command, e.Err)
	if e.Line > 0 {
		fmt.Fprintf(&b, ": line %d %q", e.Line, e.Text)
	}
	if e.Output != "" {
		fmt.Fprintf(&b, ": %s", oneLine(e.Output))
	}
	return b.String()
}

// Unwrap returns ErrRestoreFailed and the exec error.
func (e *RestoreError) Unwrap() []error { return []error{ErrRestoreFailed, e.Err} }

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " | ")), " ")
}

// The two forms in which iptables-restore 1.8 names the failing line:
// "iptables-restore: line 5 failed" (errors at COMMIT, both backends) and
// "Error occurred at line: 3" (parse errors).
var restoreLineRE = regexp.MustCompile(`(?:line ([1-9][0-9]*) failed|Error occurred at line: ([1-9][0-9]*))`)

// newRestoreError builds the RestoreError of a failed run from the tool's
// standard error and the payload it was given.
func newRestoreError(command string, payload, stderr []byte, err error) *RestoreError {
	e := &RestoreError{Command: command, Output: strings.TrimSpace(string(stderr)), Err: err}
	e.Line = FailedLine(stderr)
	if e.Line > 0 {
		e.Text, e.Context = payloadLines(payload, e.Line, restoreContextLines)
	}
	return e
}

// FailedLine returns the payload line number an iptables-restore error
// message names, or 0 if it names none.
func FailedLine(output []byte) int {
	m := restoreLineRE.FindSubmatch(output)
	if m == nil {
		return 0
	}
	s := m[1]
	if len(s) == 0 {
		s = m[2]
	}
	n, err := strconv.Atoi(string(s))
	if err != nil {
		return 0
	}
	return n
}

// payloadLines returns line n (1-based) of payload and the lines within
// radius of it, numbered. Lines past the end are left out.
func payloadLines(payload []byte, n, radius int) (string, []string) {
	var text string
	var ctx []string
	line := 1
	for len(payload) > 0 && line <= n+radius {
		i := bytes.IndexByte(payload, '\n')
		var l []byte
		if i < 0 {
			l, payload = payload, nil
		} else {
			l, payload = payload[:i], payload[i+1:]
		}
		if line >= n-radius {
			ctx = append(ctx, strconv.Itoa(line)+": "+string(l))
		}
		if line == n {
			text = string(l)
		}
		line++
	}
	return text, ctx
}
