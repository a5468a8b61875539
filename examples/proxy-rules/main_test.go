package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		golden string
	}{
		{name: "ipv4", args: []string{"--node-name", "node-a", "--node-ip", "192.168.1.10", "--cluster-cidr", "10.244.0.0/16", "testdata/cluster.yaml"}, golden: "cluster.golden"},
		{name: "masquerade-all", args: []string{"--node-name", "node-a", "--masquerade-all", "testdata/cluster.yaml"}, golden: "cluster-masquerade-all.golden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), tc.args, &stdout, &stderr); err != nil {
				t.Fatalf("run: %v (stderr %s)", err, stderr.String())
			}
			if !strings.Contains(stderr.String(), `Service "default"/"bad name": metadata.name`) {
				t.Errorf("invalid service not reported: %q", stderr.String())
			}
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, stdout.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), stdout.String()); diff != "" {
				t.Errorf("payload differs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--node-ip", "not-an-ip", "x.yaml"},
		{"--cluster-cidr", "10.0.0.0", "x.yaml"},
		{"testdata/does-not-exist.yaml"},
		{"--ipv6", "--cluster-cidr", "10.0.0.0/8", "testdata/cluster.yaml"},
	} {
		var stdout, stderr bytes.Buffer
		if err := run(context.Background(), args, &stdout, &stderr); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
