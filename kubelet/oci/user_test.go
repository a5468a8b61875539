package oci

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestWithUser(t *testing.T) {
	tests := []struct {
		name      string
		imageUser string
		podSC     *v1.PodSecurityContext
		sc        *v1.SecurityContext
		noRootfs  bool
		want      specs.User
		wantErr   error
		errHas    string
	}{
		{name: "image without user is root with root's groups", want: specs.User{UID: 0, GID: 0, AdditionalGids: []uint32{0, 10}}},
		{name: "numeric image user takes passwd gid and groups", imageUser: "1000",
			want: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 10, 29}}},
		{name: "image group part is ignored as in the kubelet", imageUser: "1000:50",
			want: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 10, 29}}},
		{name: "named image user", imageUser: "app",
			want: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 10, 29}}},
		{name: "named image user with runAsGroup", imageUser: "app", sc: &v1.SecurityContext{RunAsGroup: ptr.To[int64](7)},
			want: specs.User{UID: 1000, GID: 7, AdditionalGids: []uint32{7, 10, 29}}},
		{name: "unknown named user", imageUser: "ghost", wantErr: ErrUserNotFound, errHas: `image user "ghost"`},
		{name: "named user without rootfs", imageUser: "app", noRootfs: true, wantErr: ErrMissingOption},
		{name: "uid not in passwd gets gid 0", imageUser: "4242", want: specs.User{UID: 4242, GID: 0, AdditionalGids: []uint32{0}}},
		{name: "numeric user without rootfs", imageUser: "4242", noRootfs: true, want: specs.User{UID: 4242, GID: 0, AdditionalGids: []uint32{0}}},
		{name: "runAsUser overrides image", imageUser: "app", sc: &v1.SecurityContext{RunAsUser: ptr.To[int64](65534)},
			want: specs.User{UID: 65534, GID: 65534, AdditionalGids: []uint32{65534}}},
		{name: "pod runAsUser and runAsGroup", podSC: &v1.PodSecurityContext{RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](3)},
			want: specs.User{UID: 1000, GID: 3, AdditionalGids: []uint32{3, 10, 29}}},
		{name: "container overrides pod", podSC: &v1.PodSecurityContext{RunAsUser: ptr.To[int64](1000)}, sc: &v1.SecurityContext{RunAsUser: ptr.To[int64](1)},
			want: specs.User{UID: 1, GID: 1, AdditionalGids: []uint32{1}}},
		{name: "fsGroup and supplementalGroups follow, deduplicated",
			podSC: &v1.PodSecurityContext{RunAsUser: ptr.To[int64](1000), FSGroup: ptr.To[int64](2000), SupplementalGroups: []int64{3000, 10}},
			want:  specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 10, 29, 2000, 3000}}},
		{name: "strict policy skips image groups",
			podSC: &v1.PodSecurityContext{RunAsUser: ptr.To[int64](1000), SupplementalGroups: []int64{5},
				SupplementalGroupsPolicy: ptr.To(v1.SupplementalGroupsPolicyStrict)},
			want: specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{1000, 5}}},
		{name: "negative runAsUser", sc: &v1.SecurityContext{RunAsUser: ptr.To[int64](-1)}, wantErr: ErrInvalidSpec, errHas: "securityContext.runAsUser"},
		{name: "negative fsGroup", podSC: &v1.PodSecurityContext{FSGroup: ptr.To[int64](-5)}, wantErr: ErrInvalidSpec, errHas: "fsGroup"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod("p")
			pod.Spec.SecurityContext = tc.podSC
			c := &pod.Spec.Containers[0]
			c.SecurityContext = tc.sc
			opts := testOptions(newTestFS(t), "c1")
			opts.Image.User = tc.imageUser
			if tc.noRootfs {
				opts.RootfsPath = ""
			}
			s := DefaultSpec()
			err := WithUser(context.Background(), NewInput(pod, c, opts), s)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("err = %v, want %v containing %q", err, tc.wantErr, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, s.Process.User); d != "" {
				t.Errorf("user (-want +got):\n%s", d)
			}
		})
	}
}

func TestWithUserPasswdSymlinkStaysInRootfs(t *testing.T) {
	f := newTestFS(t)
	// The image's /etc/passwd is an absolute link: it must be read inside
	// the rootfs, not from the host's /etc/passwd.
	if err := f.AddFile("/etc/passwd", []byte("app:x:0:0::/:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.AddFile(testRootfs+"/usr/lib/passwd", []byte(testPasswd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.AddSymlink(testRootfs+"/etc/passwd.real", "/usr/lib/passwd"); err != nil {
		t.Fatal(err)
	}
	// Replace etc/passwd by a link to /etc/passwd.real (absolute, in-image).
	if err := f.AddSymlink(testRootfs+"/etc/passwd", "/etc/passwd.real"); err != nil {
		t.Fatal(err)
	}
	pod := testPod("p")
	opts := testOptions(f, "c1")
	opts.Image.User = "app"
	s := DefaultSpec()
	if err := WithUser(context.Background(), NewInput(pod, &pod.Spec.Containers[0], opts), s); err != nil {
		t.Fatal(err)
	}
	if s.Process.User.UID != 1000 {
		t.Errorf("uid = %d, want 1000 from the image's passwd, not the host's", s.Process.User.UID)
	}
}

func TestRunAsNonRoot(t *testing.T) {
	tests := []struct {
		name      string
		imageUser string
		podSC     *v1.PodSecurityContext
		sc        *v1.SecurityContext
		errHas    string // empty: allowed
	}{
		{name: "image without user is root", podSC: &v1.PodSecurityContext{RunAsNonRoot: ptr.To(true)},
			errHas: `container has runAsNonRoot and image will run as root (pod: "p_default(0f1c6e3a-6f4f-4bd5-9d2e-3a1f0c9b7d11)", container: app)`},
		{name: "image user 0", imageUser: "0:0", sc: &v1.SecurityContext{RunAsNonRoot: ptr.To(true)}, errHas: "image will run as root"},
		{name: "named image user cannot be verified", imageUser: "app", sc: &v1.SecurityContext{RunAsNonRoot: ptr.To(true)},
			errHas: "image has non-numeric user (app), cannot verify user is non-root"},
		{name: "runAsUser 0", sc: &v1.SecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](0)},
			errHas: "container's runAsUser breaks non-root policy"},
		{name: "pod runAsUser 0 with container runAsNonRoot", podSC: &v1.PodSecurityContext{RunAsUser: ptr.To[int64](0)},
			sc: &v1.SecurityContext{RunAsNonRoot: ptr.To(true)}, errHas: "runAsUser breaks non-root policy"},
		{name: "numeric image user", imageUser: "1000", podSC: &v1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}},
		{name: "runAsUser non-root over root image", podSC: &v1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}, sc: &v1.SecurityContext{RunAsUser: ptr.To[int64](1)}},
		{name: "container disables pod's runAsNonRoot", podSC: &v1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}, sc: &v1.SecurityContext{RunAsNonRoot: ptr.To(false)}},
		{name: "not set", imageUser: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod("p")
			pod.Spec.SecurityContext = tc.podSC
			c := &pod.Spec.Containers[0]
			c.SecurityContext = tc.sc
			opts := testOptions(newTestFS(t), "c1")
			opts.Image.User = tc.imageUser
			_, err := GenerateSpec(context.Background(), pod, c, opts)
			if tc.errHas == "" {
				if err != nil {
					t.Fatalf("GenerateSpec: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrRunAsNonRoot) {
				t.Fatalf("err = %v, want ErrRunAsNonRoot", err)
			}
			var ce *ContainerError
			if !errors.As(err, &ce) || ce.Container != "app" || !strings.Contains(ce.Pod, "p_default") {
				t.Errorf("err = %#v, want a ContainerError naming pod and container", err)
			}
			if !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("err = %q, want it to contain %q", err, tc.errHas)
			}
		})
	}
}
