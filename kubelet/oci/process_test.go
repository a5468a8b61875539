package oci

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
)

func TestWithProcessArgs(t *testing.T) {
	tests := []struct {
		name            string
		command, args   []string
		entrypoint, cmd []string
		want            []string
		wantErr         error
	}{
		{name: "image only", entrypoint: []string{"/ep"}, cmd: []string{"c1", "c2"}, want: []string{"/ep", "c1", "c2"}},
		{name: "image cmd only", cmd: []string{"/bin/sh"}, want: []string{"/bin/sh"}},
		{name: "command replaces entrypoint and cmd", command: []string{"/cmd"}, entrypoint: []string{"/ep"}, cmd: []string{"c1"}, want: []string{"/cmd"}},
		{name: "command and args", command: []string{"/cmd"}, args: []string{"a1"}, entrypoint: []string{"/ep"}, cmd: []string{"c1"}, want: []string{"/cmd", "a1"}},
		{name: "args replace cmd keep entrypoint", args: []string{"a1", "a2"}, entrypoint: []string{"/ep"}, cmd: []string{"c1"}, want: []string{"/ep", "a1", "a2"}},
		{name: "args without entrypoint", args: []string{"/bin/true"}, cmd: []string{"c1"}, want: []string{"/bin/true"}},
		{name: "empty-string entrypoint is none", entrypoint: []string{""}, cmd: []string{"/c"}, want: []string{"/c"}},
		{name: "expansion", command: []string{"/cmd", "$(GREETING)"}, args: []string{"$(MISSING)", "$$(GREETING)", "x$(GREETING)y"},
			want: []string{"/cmd", "hi", "$(MISSING)", "$(GREETING)", "xhiy"}},
		{name: "nothing to run", wantErr: ErrNoCommand},
		{name: "empty-string entrypoint and no cmd", entrypoint: []string{""}, wantErr: ErrNoCommand},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod("p")
			c := &pod.Spec.Containers[0]
			c.Command, c.Args = tc.command, tc.args
			c.Env = []v1.EnvVar{{Name: "GREETING", Value: "hi"}}
			opts := testOptions(newTestFS(t), "c1")
			opts.Image.Entrypoint, opts.Image.Cmd = tc.entrypoint, tc.cmd
			s := DefaultSpec()
			err := WithProcessArgs(context.Background(), NewInput(pod, c, opts), s)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, s.Process.Args); d != "" {
				t.Errorf("args (-want +got):\n%s", d)
			}
			if s.Process.Terminal {
				t.Error("terminal is on")
			}
		})
	}
}

func TestWithWorkingDir(t *testing.T) {
	tests := []struct {
		container, image, want string
		wantErr                bool
	}{
		{"", "", "/", false},
		{"", "/img", "/img", false},
		{"/ctr/", "/img", "/ctr", false},
		{"relative", "", "", true},
		{"", "img", "", true},
	}
	for _, tc := range tests {
		pod := testPod("p")
		c := &pod.Spec.Containers[0]
		c.WorkingDir = tc.container
		opts := testOptions(newTestFS(t), "c1")
		opts.Image.WorkingDir = tc.image
		s := DefaultSpec()
		err := WithWorkingDir(context.Background(), NewInput(pod, c, opts), s)
		if tc.wantErr {
			if !errors.Is(err, ErrInvalidSpec) {
				t.Errorf("(%q, %q): err = %v, want ErrInvalidSpec", tc.container, tc.image, err)
			}
			continue
		}
		if err != nil || s.Process.Cwd != tc.want {
			t.Errorf("(%q, %q): cwd %q, %v; want %q", tc.container, tc.image, s.Process.Cwd, err, tc.want)
		}
	}
}
