package runc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/oci"
)

// Image is an unpacked image: a root filesystem on the host and the part of
// its OCI image configuration a container's process is built from. It is
// plain data.
type Image struct {
	// Ref is the reference the image was looked up by.
	Ref string
	// ID identifies the image content: "sha256:" and the hex digest of its
	// configuration file (of the reference when it has none). It is
	// reported as the container's ImageRef (the pod status' imageID).
	ID string
	// RootfsPath is the image's root filesystem, used read-only: it is the
	// lower layer of each container's overlay.
	RootfsPath string
	// Config is the image's entrypoint, cmd, env, user, working directory
	// and stop signal.
	Config oci.ImageConfig
}

// ImageStore finds images by reference. Implementations must be safe for
// concurrent use. A missing image is an error wrapping ErrImageNotFound, an
// unusable reference one wrapping kubelet.ErrInvalidImageName.
type ImageStore interface {
	Resolve(ctx context.Context, ref string) (*Image, error)
}

// DirImageStore is an ImageStore of unpacked images in a directory, one
// subdirectory per image, named by the reference with url.PathEscape
// ("busybox:latest", "registry.example%2Fapp:v1"):
//
//	<dir>/<escaped ref>/rootfs        the root filesystem
//	<dir>/<escaped ref>/config.json   optional OCI image configuration
//
// The configuration file is an OCI image config (its "config" object holds
// Entrypoint, Cmd, Env, User, WorkingDir and StopSignal). A reference without a
// tag or digest also finds "<ref>:latest", as image references default.
// A DirImageStore is a string; it is safe for concurrent use.
type DirImageStore string

// imageConfigFile is the subset of an OCI image configuration file read by
// DirImageStore.
type imageConfigFile struct {
	Config oci.ImageConfig `json:"config"`
}

// ImageDir returns the directory of the image ref in the store.
func (d DirImageStore) ImageDir(ref string) string {
	return filepath.Join(string(d), url.PathEscape(ref))
}

// Resolve implements ImageStore.
func (d DirImageStore) Resolve(_ context.Context, ref string) (*Image, error) {
	if err := checkImageRef(ref); err != nil {
		return nil, err
	}
	candidates := []string{ref}
	if !hasTagOrDigest(ref) {
		candidates = append(candidates, ref+":latest")
	}
	for _, c := range candidates {
		dir := d.ImageDir(c)
		st, err := os.Stat(filepath.Join(dir, "rootfs"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("image %q: %w", ref, err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("image %q: %s is not a directory", ref, filepath.Join(dir, "rootfs"))
		}
		img := &Image{Ref: ref, RootfsPath: filepath.Join(dir, "rootfs")}
		sum := sha256.Sum256([]byte(c))
		data, err := os.ReadFile(filepath.Join(dir, "config.json"))
		switch {
		case err == nil:
			var cf imageConfigFile
			if err := json.Unmarshal(data, &cf); err != nil {
				return nil, fmt.Errorf("image %q: config.json: %w", ref, err)
			}
			img.Config = cf.Config
			sum = sha256.Sum256(data)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("image %q: %w", ref, err)
		}
		img.ID = "sha256:" + hex.EncodeToString(sum[:])
		return img, nil
	}
	return nil, fmt.Errorf("image %q in %s: %w", ref, string(d), ErrImageNotFound)
}

// checkImageRef refuses references that cannot name an image: empty ones,
// ones with white space or control characters, and ones that could name a
// path outside the store.
func checkImageRef(ref string) error {
	bad := ref == "" || strings.HasPrefix(ref, "/") || strings.Contains(ref, "..") ||
		strings.IndexFunc(ref, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0
	if bad {
		return fmt.Errorf("image reference %q: %w", ref, kubelet.ErrInvalidImageName)
	}
	return nil
}

// hasTagOrDigest reports whether the last path component of ref carries a
// ":tag" or the reference an "@digest".
func hasTagOrDigest(ref string) bool {
	if strings.Contains(ref, "@") {
		return true
	}
	last := ref[strings.LastIndex(ref, "/")+1:]
	return strings.Contains(last, ":")
}
