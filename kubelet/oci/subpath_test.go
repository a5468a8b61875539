package oci

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// subPathTree is a volume "vol" beside a directory "outside", with links
// that stay inside and links that escape. Paths are relative to a root;
// "@ROOT" in a link target is replaced by the root.
var subPathTree = []struct {
	path, link string
	dir        bool
}{
	{path: "outside/secret", dir: true},
	{path: "vol/a/b", dir: true},
	{path: "vol/file"},
	{path: "vol/in", link: "a"},
	{path: "vol/chain", link: "in/b"},
	{path: "vol/abs-in", link: "@ROOT/vol/a"},
	{path: "vol/detour", link: "../vol/a"},
	{path: "vol/up", link: ".."},
	{path: "vol/a/up2", link: "../../outside"},
	{path: "vol/root", link: "/"},
	{path: "vol/abs-out", link: "@ROOT/outside"},
	{path: "vol/loop", link: "loop"},
	{path: "vol/dangling", link: "nowhere/x"},
}

// buildSubPathTree creates the tree on the real filesystem below root and
// on a fake one below the same root.
func buildSubPathTree(t testing.TB, root string) *FakeHostFS {
	t.Helper()
	fake := NewFakeHostFS()
	for _, e := range subPathTree {
		p := filepath.Join(root, e.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err, ferr error
		switch {
		case e.link != "":
			target := strings.ReplaceAll(e.link, "@ROOT", root)
			err, ferr = os.Symlink(target, p), fake.AddSymlink(p, target)
		case e.dir:
			err, ferr = os.MkdirAll(p, 0o755), fake.AddDir(p, 0o755)
		default:
			err, ferr = os.WriteFile(p, nil, 0o644), fake.AddFile(p, nil, 0o644)
		}
		if err != nil || ferr != nil {
			t.Fatal(err, ferr)
		}
	}
	if err := fake.AddDir(filepath.Join(root, "vol"), 0o755); err != nil {
		t.Fatal(err)
	}
	return fake
}

func TestResolveSubPath(t *testing.T) {
	tests := []struct {
		subPath string
		want    string // relative to the volume; "" when an error is expected
		wantErr error  // nil: any error will do when want is ""
	}{
		{subPath: "a", want: "a"},
		{subPath: "a/b", want: "a/b"},
		{subPath: "./a//b/", want: "a/b"},
		{subPath: "file", want: "file"},
		{subPath: "in", want: "a"},
		{subPath: "in/b", want: "a/b"},
		{subPath: "chain", want: "a/b"},
		{subPath: "abs-in", want: "a"},
		{subPath: "detour", want: "a"},
		{subPath: "new/dir", want: "new/dir"},
		{subPath: "in/created", want: "a/created"},
		{subPath: ".", want: "."},
		{subPath: "up", wantErr: ErrSubPathEscape},
		{subPath: "a/up2", wantErr: ErrSubPathEscape},
		{subPath: "a/up2/secret", wantErr: ErrSubPathEscape},
		{subPath: "root", wantErr: ErrSubPathEscape},
		{subPath: "root/etc", wantErr: ErrSubPathEscape},
		{subPath: "abs-out", wantErr: ErrSubPathEscape},
		{subPath: "abs-out/new", wantErr: ErrSubPathEscape},
		{subPath: "../outside", wantErr: ErrSubPathEscape},
		{subPath: "a/../../outside", wantErr: ErrSubPathEscape},
		{subPath: "/etc", wantErr: ErrSubPathEscape},
		{subPath: "loop", wantErr: syscall.ELOOP},
		{subPath: "dangling", wantErr: fs.ErrNotExist},
		{subPath: "file/x", wantErr: syscall.ENOTDIR},
		{subPath: "", wantErr: ErrInvalidSpec},
	}
	root := t.TempDir()
	fake := buildSubPathTree(t, root)
	vol := filepath.Join(root, "vol")
	for _, fsys := range []struct {
		name string
		fs   HostFS
	}{{"os", OSHostFS{}}, {"fake", fake}} {
		for _, tc := range tests {
			t.Run(fsys.name+"/"+tc.subPath, func(t *testing.T) {
				got, err := ResolveSubPath(fsys.fs, vol, tc.subPath)
				if tc.want == "" {
					if err == nil {
						t.Fatalf("ResolveSubPath(%q) = %q, want an error", tc.subPath, got)
					}
					if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
						t.Fatalf("ResolveSubPath(%q) error = %v, want %v", tc.subPath, err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatalf("ResolveSubPath(%q): %v", tc.subPath, err)
				}
				if want := filepath.Join(vol, tc.want); got != want {
					t.Fatalf("ResolveSubPath(%q) = %q, want %q", tc.subPath, got, want)
				}
				if _, err := fsys.fs.Stat(got); err != nil {
					t.Fatalf("resolved path: %v", err)
				}
				if fsys.name == "os" {
					real, err := filepath.EvalSymlinks(got)
					if err != nil || real != got {
						t.Fatalf("resolved path %q has links (real %q, %v)", got, real, err)
					}
				}
			})
		}
	}
	if _, err := os.Stat(filepath.Join(root, "outside", "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a directory was created outside the volume: %v", err)
	}
}

// FuzzResolveSubPath resolves arbitrary subPaths in a volume full of
// hostile links on the real filesystem: the result, when there is one, is
// a real directory or file inside the volume (checked with
// filepath.EvalSymlinks), and nothing is ever created outside it.
func FuzzResolveSubPath(f *testing.F) {
	for _, e := range subPathTree {
		f.Add(strings.TrimPrefix(e.path, "vol/"))
		f.Add(strings.TrimPrefix(e.path, "vol/") + "/x/y")
	}
	for _, s := range []string{"", ".", "..", "a/../..", "/", "//a", "a/./b", "in/../..", "abs-out/../vol", "new\x00x", strings.Repeat("a/", 50)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, subPath string) {
		root := t.TempDir()
		buildSubPathTree(t, root)
		vol := filepath.Join(root, "vol")
		got, err := ResolveSubPath(OSHostFS{}, vol, subPath)
		if err == nil {
			real, rerr := filepath.EvalSymlinks(got)
			if rerr != nil {
				t.Fatalf("ResolveSubPath(%q) = %q which does not resolve: %v", subPath, got, rerr)
			}
			if !pathWithin(real, vol) {
				t.Fatalf("ResolveSubPath(%q) = %q, really %q, outside %q", subPath, got, real, vol)
			}
		}
		entries, rerr := os.ReadDir(filepath.Join(root, "outside"))
		if rerr != nil || len(entries) != 1 {
			t.Fatalf("outside/ changed: %v %v", entries, rerr)
		}
		top, rerr := os.ReadDir(root)
		if rerr != nil || len(top) != 2 {
			t.Fatalf("the root changed: %v %v", top, rerr)
		}
	})
}
