package oci

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseImageConfig(t *testing.T) {
	const file = `{
		"architecture": "amd64", "os": "linux",
		"config": {
			"User": "nobody:nogroup",
			"Env": ["PATH=/usr/bin", "LANG=C.UTF-8"],
			"Entrypoint": ["/docker-entrypoint.sh"],
			"Cmd": ["nginx", "-g", "daemon off;"],
			"WorkingDir": "/srv",
			"StopSignal": "SIGQUIT",
			"ExposedPorts": {"80/tcp": {}}
		},
		"rootfs": {"type": "layers", "diff_ids": []}
	}`
	got, err := ParseImageConfig([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	want := ImageConfig{
		User: "nobody:nogroup", Env: []string{"PATH=/usr/bin", "LANG=C.UTF-8"},
		Entrypoint: []string{"/docker-entrypoint.sh"}, Cmd: []string{"nginx", "-g", "daemon off;"},
		WorkingDir: "/srv", StopSignal: "SIGQUIT",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("config (-want +got):\n%s", d)
	}
	if got, err := ParseImageConfig([]byte(`{"os":"linux"}`)); err != nil || !cmp.Equal(got, ImageConfig{}) {
		t.Errorf("no config: %+v, %v", got, err)
	}
	if _, err := ParseImageConfig([]byte(`{"config":`)); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("truncated: err = %v, want ErrInvalidSpec", err)
	}
}
