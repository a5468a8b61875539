package proxy

import (
	"errors"
	"fmt"
)

// Sentinel errors. Inspect them with errors.Is.
var (
	// ErrInvalidObject reports a Service or EndpointSlice that the API
	// server would reject. The object is skipped: it contributes no rules
	// until a valid version of it arrives. Errors wrapping it are
	// *ObjectError values naming the object and the field.
	ErrInvalidObject = errors.New("invalid object")
	// ErrInvalidOptions reports an Options value New cannot use.
	ErrInvalidOptions = errors.New("invalid options")
	// ErrNotSynced reports a Plan requested before both the Services and
	// the EndpointSlices were synced (OnServicesSynced and
	// OnEndpointSlicesSynced, or SetState). Writing rules from a partial
	// view would briefly break services, so kube-proxy waits too.
	ErrNotSynced = errors.New("services and endpoint slices not synced yet")
	// ErrStalePlan reports a Commit of a Plan that is no longer the latest
	// one: another Plan was made after it, or it was already committed.
	ErrStalePlan = errors.New("plan is stale")
)

// ObjectError describes one invalid Service or EndpointSlice. It wraps
// ErrInvalidObject.
type ObjectError struct {
	// Kind is "Service" or "EndpointSlice".
	Kind string
	// Namespace and Name identify the object.
	Namespace, Name string
	// Field is the path of the offending field, e.g. "spec.ports[1].name".
	Field string
	// Value is the offending value, quoted with %q when printed.
	Value string
	// Reason says what is wrong with it.
	Reason string
}

// Error implements error.
func (e *ObjectError) Error() string {
	return fmt.Sprintf("%s %q/%q: %s %q: %s: %v", e.Kind, e.Namespace, e.Name, e.Field, e.Value, e.Reason, ErrInvalidObject)
}

// Unwrap returns ErrInvalidObject.
func (e *ObjectError) Unwrap() error { return ErrInvalidObject }
