package oci

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/nodekit/nodekit/internal/privtest"
)

func TestOpenNoFollow(t *testing.T) {
	root := t.TempDir()
	buildSubPathTree(t, root)
	vol := filepath.Join(root, "vol")
	fd, err := openNoFollow(vol, "a/b")
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	// A component that is (or became) a link is refused, even one that
	// points inside the volume: the path was resolved before.
	for _, rel := range []string{"in/b", "in", "up", "root/etc"} {
		if fd, err := openNoFollow(vol, rel); !errors.Is(err, ErrSubPathEscape) {
			if err == nil {
				unix.Close(fd)
			}
			t.Errorf("openNoFollow(%q) = %v, want ErrSubPathEscape", rel, err)
		}
	}
}

// TestBindSubPath bind-mounts subPaths from file descriptors and releases
// them, leaving the volume intact.
func TestBindSubPath(t *testing.T) {
	privtest.Require(t)
	root := t.TempDir()
	buildSubPathTree(t, root)
	vol := filepath.Join(root, "vol")
	if err := os.WriteFile(filepath.Join(vol, "a", "b", "data"), []byte("payload"), 0o644); err != nil {
		t.Fatal(err)
	}
	subpaths := filepath.Join(root, "volume-subpaths")
	t.Cleanup(func() { _ = UnbindSubPaths(subpaths) })

	dirTarget := filepath.Join(subpaths, "vol", "app", "0")
	if err := BindSubPath(vol, "in/b", dirTarget); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dirTarget, "data")); err != nil || string(b) != "payload" {
		t.Fatalf("through the bind mount: %q, %v", b, err)
	}
	fileTarget := filepath.Join(subpaths, "vol", "app", "1")
	if err := BindSubPath(vol, "a/b/data", fileTarget); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(fileTarget); err != nil || string(b) != "payload" {
		t.Fatalf("file bind mount: %q, %v", b, err)
	}
	// Binding again replaces the mount instead of stacking it.
	if err := BindSubPath(vol, "a/b/data", fileTarget); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"up", "root/etc", "a/up2/secret"} {
		if err := BindSubPath(vol, bad, filepath.Join(subpaths, "vol", "app", "9")); !errors.Is(err, ErrSubPathEscape) {
			t.Errorf("BindSubPath(%q) = %v, want ErrSubPathEscape", bad, err)
		}
	}

	if err := UnbindSubPaths(subpaths); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(subpaths); !os.IsNotExist(err) {
		t.Errorf("subpaths dir still there: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(vol, "a", "b", "data")); err != nil || string(b) != "payload" {
		t.Fatalf("the volume lost its data: %q, %v", b, err)
	}
}
