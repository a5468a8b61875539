package realnode

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigComplete(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // "" for no error
	}{
		{"defaults", Config{NodeName: "n", PodCIDR: "10.88.0.0/16"}, ""},
		{"bad node name", Config{NodeName: "a/b", PodCIDR: "10.88.0.0/16"}, `--node-name "a/b"`},
		{"host network needs a node IP", Config{NodeName: "n", HostNetwork: true, PodCIDR: "10.88.0.0/16"}, "--node-ip is required"},
		{"node IP without prefix", Config{NodeName: "n", NodeIP: "10.0.0.1", PodCIDR: "10.88.0.0/16"}, `--node-ip "10.0.0.1"`},
		{"root cgroup", Config{NodeName: "n", CgroupRoot: "/", PodCIDR: "10.88.0.0/16"}, "--cgroup-root"},
		{"backend", Config{NodeName: "n", Backend: "ebpf", PodCIDR: "10.88.0.0/16"}, "--iptables-backend"},
		{"pod CIDR", Config{NodeName: "n", PodCIDR: "10.88.0.0"}, "--pod-cidr"},
		{"enforce", Config{NodeName: "n", PodCIDR: "10.88.0.0/16", EnforceNodeAllocatable: "system-reserved"}, "--enforce-node-allocatable"},
		{"kube reserved", Config{NodeName: "n", PodCIDR: "10.88.0.0/16", KubeReserved: "gpu=1"}, "--kube-reserved"},
		{"system reserved", Config{NodeName: "n", PodCIDR: "10.88.0.0/16", SystemReserved: "memory=x"}, "--system-reserved"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Complete()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				c := tc.cfg
				if c.StateDir != "/var/lib/nodekit/n" || c.NetnsName != "nodekit-n" || c.CgroupRoot != "/nodekit/n" || c.ParsedNodeIP.String() != DefaultNodeIP {
					t.Errorf("defaults %+v", c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestMountsUnder(t *testing.T) {
	if got := unescapeMountPath(`/a\040b/c\134d`); got != `/a b/c\d` {
		t.Errorf("unescape: %q", got)
	}
	mounts, err := MountsUnder("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) == 0 || mounts[len(mounts)-1] != "/proc" {
		t.Errorf("mounts under /proc %v; want /proc last (deepest first)", mounts)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := RemoveStateDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still there: %v", dir, err)
	}
}

func TestRemoveCgroupTreeRefusesRoot(t *testing.T) {
	for _, root := range []string{"/", "", "/.."} {
		if err := RemoveCgroupTree(root); err == nil {
			t.Errorf("RemoveCgroupTree(%q) accepted", root)
		}
	}
}
