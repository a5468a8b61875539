package runc

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// newID returns a random 64-hex-digit ID, the form containerd and CRI-O give
// sandboxes and containers.
func newID() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate ID: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// validID reports whether id has the form newID returns, so that an ID from a
// caller can be used as a path component without escaping anything.
func validID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
