package oci

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestCheckHostPath(t *testing.T) {
	tests := []struct {
		path    string
		typ     v1.HostPathType
		errHas  string // empty: accepted
		created fs.FileMode
	}{
		{path: "/srv/data/logs", typ: v1.HostPathUnset},
		{path: "/does/not/exist", typ: v1.HostPathUnset},
		{path: "/srv/data/logs", typ: v1.HostPathDirectory},
		{path: "/srv/data/missing", typ: v1.HostPathDirectory, errHas: "hostPath type check failed: /srv/data/missing is not a directory"},
		{path: "/etc/conf", typ: v1.HostPathDirectory, errHas: "is not a directory"},
		{path: "/srv/data/new/deep", typ: v1.HostPathDirectoryOrCreate, created: fs.ModeDir | 0o755},
		{path: "/srv/data/logs", typ: v1.HostPathDirectoryOrCreate},
		{path: "/etc/conf", typ: v1.HostPathDirectoryOrCreate, errHas: "is not a directory"},
		{path: "/etc/conf", typ: v1.HostPathFile},
		{path: "/etc/conf-link", typ: v1.HostPathFile},
		{path: "/srv/data/logs", typ: v1.HostPathFile, errHas: "is not a file"},
		{path: "/etc/missing", typ: v1.HostPathFile, errHas: "is not a file"},
		{path: "/etc/new.conf", typ: v1.HostPathFileOrCreate, created: 0o644},
		{path: "/etc/conf", typ: v1.HostPathFileOrCreate},
		{path: "/srv/data/logs", typ: v1.HostPathFileOrCreate, errHas: "is not a file"},
		{path: "/no/parent/file", typ: v1.HostPathFileOrCreate, errHas: "FileOrCreate"},
		{path: "/run/containerd.sock", typ: v1.HostPathSocket},
		{path: "/etc/conf", typ: v1.HostPathSocket, errHas: "is not a socket file"},
		{path: "/dev/kvm", typ: v1.HostPathCharDev},
		{path: "/dev/sda", typ: v1.HostPathCharDev, errHas: "is not a character device"},
		{path: "/dev/sda", typ: v1.HostPathBlockDev},
		{path: "/dev/kvm", typ: v1.HostPathBlockDev, errHas: "is not a block device"},
		{path: "relative", typ: v1.HostPathUnset, errHas: "not an absolute path"},
		{path: "/srv/../etc", typ: v1.HostPathUnset, errHas: "must not contain '..'"},
		{path: "/srv/data/logs", typ: "Weird", errHas: "unknown type"},
	}
	for _, tc := range tests {
		t.Run(string(tc.typ)+tc.path, func(t *testing.T) {
			f := newTestFS(t)
			if err := f.AddFile("/etc/conf", []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := f.AddSymlink("/etc/conf-link", "conf"); err != nil {
				t.Fatal(err)
			}
			err := CheckHostPath(f, &v1.HostPathVolumeSource{Path: tc.path, Type: ptr.To(tc.typ)})
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.errHas)
				}
				if strings.Contains(tc.errHas, "type check") && !errors.Is(err, ErrHostPathType) {
					t.Fatalf("err = %v, want ErrHostPathType", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.created != 0 {
				fi, err := f.Stat(tc.path)
				if err != nil {
					t.Fatalf("not created: %v", err)
				}
				if fi.Mode() != tc.created {
					t.Fatalf("created with mode %v, want %v", fi.Mode(), tc.created)
				}
			}
		})
	}
}

// TestCheckHostPathReal runs the checks that need no privilege on the real
// filesystem, to keep FakeHostFS honest.
func TestCheckHostPathReal(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(p string, typ v1.HostPathType) error {
		return CheckHostPath(OSHostFS{}, &v1.HostPathVolumeSource{Path: p, Type: ptr.To(typ)})
	}
	for _, ok := range []struct {
		p   string
		typ v1.HostPathType
	}{
		{sock, v1.HostPathSocket}, {file, v1.HostPathFile}, {dir, v1.HostPathDirectory},
		{"/dev/null", v1.HostPathCharDev}, {filepath.Join(dir, "new"), v1.HostPathDirectoryOrCreate},
		{filepath.Join(dir, "newfile"), v1.HostPathFileOrCreate},
	} {
		if err := check(ok.p, ok.typ); err != nil {
			t.Errorf("%s %s: %v", ok.typ, ok.p, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "newfile")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("FileOrCreate did not create a file: %v", err)
	}
	for _, bad := range []struct {
		p   string
		typ v1.HostPathType
	}{{file, v1.HostPathSocket}, {sock, v1.HostPathFile}, {file, v1.HostPathDirectory}, {"/dev/null", v1.HostPathBlockDev}} {
		if err := check(bad.p, bad.typ); !errors.Is(err, ErrHostPathType) {
			t.Errorf("%s %s: err = %v, want ErrHostPathType", bad.typ, bad.p, err)
		}
	}
}
