package stats

import (
	"errors"
	"fmt"
	"io/fs"
)

// ErrNotFound reports that a cgroup (or the process whose network namespace
// was asked for) does not exist, typically because the container stopped
// between two samples. Errors wrapping it also match fs.ErrNotExist when the
// kernel reported ENOENT. A read that meets ErrNotFound returns no sample at
// all: callers never see a half-filled sample that looks valid.
var ErrNotFound error = notFoundError{}

type notFoundError struct{}

// Error implements error.
func (notFoundError) Error() string { return "not found" }

// Is makes ErrNotFound match fs.ErrNotExist too.
func (notFoundError) Is(target error) bool { return target == fs.ErrNotExist }

// ErrMissingFile reports that a cgroup exists but lacks a file this package
// needs, which means the kernel does not support the feature (for example a
// kernel without swap accounting) or the controller is not enabled for the
// cgroup.
var ErrMissingFile = errors.New("cgroup file missing")

// ErrNoController reports that a controller the caller asked for (through a
// Mask) is mounted neither as cgroup v1 nor as cgroup v2 under the FS root.
var ErrNoController = errors.New("cgroup controller not available")

// ErrMalformed is wrapped by every ParseError: a kernel file did not have the
// format this package expects.
var ErrMalformed = errors.New("malformed kernel file")

// ErrAlreadyRegistered is returned by Collector.Add for a cgroup ID that is
// already watched.
var ErrAlreadyRegistered = errors.New("target already registered")

// ErrUnknownTarget is returned by Collector queries for an ID that is not
// registered.
var ErrUnknownTarget = errors.New("unknown target")

// ErrInvalidTarget is returned by Collector.Add for a Target that fails
// validation; the message names the field.
var ErrInvalidTarget = errors.New("invalid target")

// ParseError describes a kernel file that could not be parsed. It wraps
// ErrMalformed.
type ParseError struct {
	// File is the kernel file name, for example "memory.stat".
	File string
	// Line is the 1-based line number, 0 when not line oriented.
	Line int
	// Msg says what was wrong.
	Msg string
}

// Error implements error.
func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("parse %s line %d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("parse %s: %s", e.File, e.Msg)
}

// Unwrap returns ErrMalformed.
func (e *ParseError) Unwrap() error { return ErrMalformed }

func parseErr(file string, line int, format string, args ...any) error {
	return &ParseError{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}
}
