package runc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/oci"
)

func TestDirImageStoreResolve(t *testing.T) {
	dir := t.TempDir()
	store := DirImageStore(dir)
	mk := func(ref, config string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(store.ImageDir(ref), "rootfs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if config != "" {
			if err := os.WriteFile(filepath.Join(store.ImageDir(ref), "config.json"), []byte(config), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("busybox:latest", `{"config":{"Cmd":["sh"],"Env":["PATH=/bin"],"StopSignal":"SIGQUIT"}}`)
	mk("plain:1", "")
	mk("broken:1", `{"config":`)
	if err := os.MkdirAll(store.ImageDir("file:1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(store.ImageDir("file:1"), "rootfs"), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		ref     string
		want    oci.ImageConfig
		wantErr error
		errText string
	}{
		{name: "tag defaults to latest", ref: "busybox", want: oci.ImageConfig{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}, StopSignal: "SIGQUIT"}},
		{name: "exact reference", ref: "busybox:latest", want: oci.ImageConfig{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}, StopSignal: "SIGQUIT"}},
		{name: "no configuration", ref: "plain:1"},
		{name: "missing", ref: "plain:2", wantErr: ErrImageNotFound},
		{name: "no latest for a tagged reference", ref: "busybox:1", wantErr: ErrImageNotFound},
		{name: "empty", ref: "", wantErr: kubelet.ErrInvalidImageName},
		{name: "space", ref: "a b", wantErr: kubelet.ErrInvalidImageName},
		{name: "dot dot", ref: "../x", wantErr: kubelet.ErrInvalidImageName},
		{name: "absolute", ref: "/etc", wantErr: kubelet.ErrInvalidImageName},
		{name: "bad configuration", ref: "broken:1", errText: "config.json"},
		{name: "rootfs not a directory", ref: "file:1", errText: "not a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img, err := store.Resolve(context.Background(), tc.ref)
			switch {
			case tc.wantErr != nil || tc.errText != "":
				if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("Resolve(%q) = %v, %v; want error %v %q", tc.ref, img, err, tc.wantErr, tc.errText)
				}
				return
			case err != nil:
				t.Fatalf("Resolve(%q): %v", tc.ref, err)
			}
			if diff := cmp.Diff(tc.want, img.Config); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
			if !strings.HasPrefix(img.ID, "sha256:") || len(img.ID) != 71 || !strings.HasSuffix(img.RootfsPath, "rootfs") {
				t.Errorf("image %+v: want a sha256 ID and the rootfs path", img)
			}
		})
	}
}

func TestDefaultConfListRefusals(t *testing.T) {
	for _, tc := range []struct{ bridge, subnet string }{
		{"cni0", "10.88.0.0"},
		{"cni0", "not-a-subnet"},
		{"", "10.88.0.0/16"},
		{"a-bridge-name-too-long", "10.88.0.0/16"},
	} {
		if _, err := DefaultConfList("n", tc.bridge, tc.subnet, "/d"); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("DefaultConfList(bridge %q, subnet %q) = %v; want ErrInvalidOptions", tc.bridge, tc.subnet, err)
		}
	}
	conf, err := DefaultConfList("n", "cni0", "fd00:88::/64", "/d")
	if err != nil || !strings.Contains(string(conf), `"dst": "::/0"`) {
		t.Errorf("IPv6 subnet: %s, %v; want a ::/0 route", conf, err)
	}
}

func TestParseOOMKillCount(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		want   uint64
		wantOK bool
	}{
		{"cgroup v1 oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", 2, true},
		{"cgroup v2 memory.events", "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n", 1, true},
		{"none yet", "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n", 0, true},
		{"old kernel without the counter", "oom_kill_disable 0\nunder_oom 0\n", 0, false},
		{"garbage value", "oom_kill x\n", 0, false},
		{"empty", "", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseOOMKillCount([]byte(tc.data))
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("parseOOMKillCount(%q) = %d, %v; want %d, %v", tc.data, got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func FuzzParseOOMKillCount(f *testing.F) {
	f.Add([]byte("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"))
	f.Add([]byte("oom_kill 18446744073709551615"))
	f.Add([]byte("oom_kill  \n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, ok := parseOOMKillCount(data)
		if !ok && n != 0 {
			t.Errorf("not ok but %d", n)
		}
	})
}

const sampleMountinfo = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
100 22 0:50 / /state/containers/a/rootfs rw,relatime - overlay overlay rw,lowerdir=/img
101 22 0:51 / /state/sandboxes/b/shm rw - tmpfs tmpfs rw,size=65536k
102 22 0:4 net:[4026532000] /state/sandboxes/b/net rw - nsfs nsfs rw
103 22 0:52 / /state/with\040space rw - tmpfs tmpfs rw
104 22 0:53 / /stateful rw - tmpfs tmpfs rw
105 100 0:54 / /state/containers/a/rootfs/proc rw - proc proc rw
`

func TestMountPointsUnder(t *testing.T) {
	got := mountPointsUnder([]byte(sampleMountinfo), "/state/")
	want := []string{
		"/state/containers/a/rootfs/proc",
		"/state/containers/a/rootfs",
		"/state/sandboxes/b/shm",
		"/state/sandboxes/b/net",
		"/state/with space",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mount points (-want +got):\n%s", diff)
	}
}

func FuzzMountPointsUnder(f *testing.F) {
	f.Add([]byte(sampleMountinfo), "/state")
	f.Add([]byte("1 2 3 4 \\0\n"), "/")
	f.Add([]byte("1 2 3 4 /a\\777b x\n"), "/a")
	f.Fuzz(func(t *testing.T, info []byte, dir string) {
		prev := -1
		for _, mp := range mountPointsUnder(info, dir) {
			if prev >= 0 && len(mp) > prev {
				t.Errorf("not deepest first: %q after a shorter path", mp)
			}
			prev = len(mp)
		}
	})
}

func TestRuncMessage(t *testing.T) {
	for in, want := range map[string]string{
		`time="2026-11-27T05:28:42Z" level=error msg="runc create failed: unable to start container process: exec: \"/x\": stat /x: no such file or directory"` + "\n": `runc create failed: unable to start container process: exec: "/x": stat /x: no such file or directory`,
		"plain failure\n":   "plain failure",
		`msg="unterminated`: `msg="unterminated`,
	} {
		if got := runcMessage(in); got != want {
			t.Errorf("runcMessage(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestValidID(t *testing.T) {
	id, err := newID()
	if err != nil || !validID(id) {
		t.Fatalf("newID() = %q, %v; not valid", id, err)
	}
	for _, bad := range []string{"", "../" + id[3:], strings.ToUpper(id), id + "0"} {
		if validID(bad) {
			t.Errorf("validID(%q) = true", bad)
		}
	}
}

func TestWriteBusyboxImageRefusesDynamicBinaries(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A Go test binary is static unless cgo linked it; find a dynamic one.
	dynamic := ""
	for _, p := range []string{"/bin/sh", "/usr/bin/env", self} {
		if checkStatic(p) != nil {
			dynamic = p
			break
		}
	}
	if dynamic == "" {
		t.Skip("no dynamically linked executable found")
	}
	err = WriteBusyboxImage(context.Background(), DirImageStore(t.TempDir()), "bb:1", dynamic)
	if !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("WriteBusyboxImage with %s: %v; want ErrInvalidOptions", dynamic, err)
	}
}
