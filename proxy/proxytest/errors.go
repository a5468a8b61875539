package proxytest

import (
	"errors"
	"fmt"
)

// Sentinel errors returned (wrapped in a *RestoreError) by ParsePayload,
// ParseRule, FakeKernel.Restore and Trace. Inspect them with errors.Is.
var (
	// ErrSyntax reports a line that iptables-restore cannot parse: an unknown
	// command, a missing argument, an unterminated quote, a bad chain name.
	ErrSyntax = errors.New("syntax error")
	// ErrNoTable reports a table name the kernel does not have, or a line
	// outside of any "*table" section.
	ErrNoTable = errors.New("table does not exist")
	// ErrNoCommit reports a table section that is not closed by COMMIT.
	ErrNoCommit = errors.New("COMMIT expected")
	// ErrNoChain reports a rule, jump, deletion or flush naming a chain that
	// does not exist ("No chain/target/match by that name").
	ErrNoChain = errors.New("no chain/target/match by that name")
	// ErrChainExists reports "-N" of a chain that already exists.
	ErrChainExists = errors.New("chain already exists")
	// ErrChainInUse reports "-X" of a chain that a rule still jumps to.
	ErrChainInUse = errors.New("chain is referenced by a rule")
	// ErrChainNotEmpty reports "-X" of a chain that still holds rules
	// (iptables-nft: "CHAIN_DEL failed (Device or resource busy)").
	ErrChainNotEmpty = errors.New("chain is not empty")
	// ErrBuiltinChain reports an operation that only user-defined chains
	// support, such as "-X INPUT".
	ErrBuiltinChain = errors.New("built-in chain")
	// ErrNoRule reports "-D" of a rule that is not in the chain ("Bad rule
	// (does a matching rule exist in that chain?)") or a rule number past the
	// end ("Index of deletion too big").
	ErrNoRule = errors.New("bad rule (does a matching rule exist in that chain?)")
	// ErrBadPosition reports "-I CHAIN n" with n past the end of the chain
	// plus one ("Index of insertion too big").
	ErrBadPosition = errors.New("index of insertion too big")
	// ErrUnreliableInsert reports a positional insert ("-I CHAIN n", n > 1)
	// that iptables-nft 1.8.9 gets wrong: after the chain was flushed in the
	// same table section, or one past the end right after an -A of that
	// section (both put the rule in the wrong place, silently), or when the
	// rule it was placed relative to, itself added in the section, is then
	// deleted ("RULE_INSERT failed (No such file or directory)"). The fake
	// refuses them. See doc.go.
	ErrUnreliableInsert = errors.New("positional insert that iptables-nft 1.8.9 mishandles")
	// ErrBadPolicy reports a chain policy other than ACCEPT or DROP.
	ErrBadPolicy = errors.New("bad policy name")
	// ErrUnknownExtension reports a match module, target or option the
	// fake does not know. The fake refuses what it cannot check rather than
	// accepting it silently.
	ErrUnknownExtension = errors.New("unknown match, target or option")
	// ErrBadArgument reports an option value the real tool would reject,
	// such as an address that does not parse or DNAT with a port but no
	// protocol.
	ErrBadArgument = errors.New("bad argument")
	// ErrLoop reports a jump cycle between chains, which the kernel refuses
	// at commit ("Too many levels of symbolic links").
	ErrLoop = errors.New("chain jump loop")
	// ErrUnsupported reports an input the tracer or fake cannot model, such
	// as a match the tracer cannot evaluate. It is never ignored silently.
	ErrUnsupported = errors.New("not supported by the fake")
)

// RestoreError is the error returned by ParsePayload and FakeKernel.Restore
// for a payload line: the 1-based line number, the line's text and the
// underlying cause, which wraps one of the sentinel errors above.
//
// A RestoreError is an immutable value and safe for concurrent use.
type RestoreError struct {
	// Line is the 1-based line number in the payload; 0 when the error is
	// not tied to a line (for example a missing COMMIT at end of input).
	Line int
	// Text is the payload line as written, without its newline.
	Text string
	// Err is the cause; it wraps a sentinel such as ErrNoChain.
	Err error
}

// Error implements error as `line N ("text"): cause`.
func (e *RestoreError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("iptables-restore payload: %v", e.Err)
	}
	return fmt.Sprintf("line %d (%q): %v", e.Line, e.Text, e.Err)
}

// Unwrap returns the cause so that errors.Is(err, ErrNoChain) works.
func (e *RestoreError) Unwrap() error { return e.Err }
