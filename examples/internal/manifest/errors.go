package manifest

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidManifest is wrapped by every *DocumentError.
var ErrInvalidManifest = errors.New("invalid manifest")

// DocumentError reports an invalid document of a manifest file. It wraps
// ErrInvalidManifest and the underlying error.
type DocumentError struct {
	// File is the file's path.
	File string
	// Document is the 1-based index of the YAML document in the file (0
	// when the file as a whole could not be read).
	Document int
	// Kind, Namespace and Name identify the object, when known.
	Kind, Namespace, Name string
	// Field is the path of the offending field ("spec.ports[0].port"),
	// when known.
	Field string
	// Err says what is wrong.
	Err error
}

// Error names the file, the document, the object and the field.
func (e *DocumentError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Document > 0 {
		fmt.Fprintf(&b, ": document %d", e.Document)
	}
	if e.Kind != "" || e.Name != "" {
		b.WriteString(" (")
		b.WriteString(e.Kind)
		if e.Name != "" {
			b.WriteString(" ")
			if e.Namespace != "" {
				b.WriteString(e.Namespace + "/")
			}
			b.WriteString(e.Name)
		}
		b.WriteString(")")
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns ErrInvalidManifest and the underlying error.
func (e *DocumentError) Unwrap() []error { return []error{ErrInvalidManifest, e.Err} }
