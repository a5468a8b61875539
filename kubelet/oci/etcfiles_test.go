package oci

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestHostsFileContent(t *testing.T) {
	aliases := []v1.HostAlias{
		{IP: "123.45.67.89", Hostnames: []string{"foo", "bar", "baz"}},
		{IP: "456.78.90.123", Hostnames: []string{"park", "doo", "boo"}},
	}
	const localhost = "# Kubernetes-managed hosts file.\n" +
		"127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\n" +
		"fe00::0\tip6-mcastprefix\n" +
		"fe00::1\tip6-allnodes\n" +
		"fe00::2\tip6-allrouters\n"
	tests := []struct {
		name             string
		ips              []string
		hostname, domain string
		aliases          []v1.HostAlias
		want             string
	}{
		{name: "single IP", ips: []string{"203.0.113.1"}, hostname: "podFoo", want: localhost + "203.0.113.1\tpodFoo\n"},
		{name: "domain", ips: []string{"203.0.113.1"}, hostname: "podFoo", domain: "domainFoo",
			want: localhost + "203.0.113.1\tpodFoo.domainFoo\tpodFoo\n"},
		{name: "dual stack", ips: []string{"203.0.113.1", "fd00::6"}, hostname: "podFoo", domain: "domainFoo",
			want: localhost + "203.0.113.1\tpodFoo.domainFoo\tpodFoo\nfd00::6\tpodFoo.domainFoo\tpodFoo\n"},
		{name: "host aliases", ips: []string{"203.0.113.1"}, hostname: "podFoo", aliases: aliases,
			want: localhost + "203.0.113.1\tpodFoo\n\n# Entries added by HostAliases.\n" +
				"123.45.67.89\tfoo\tbar\tbaz\n456.78.90.123\tpark\tdoo\tboo\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := string(HostsFileContent(tc.ips, tc.hostname, tc.domain, tc.aliases))
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("hosts (-want +got):\n%s", d)
			}
		})
	}
	got := string(NodeHostsFileContent([]byte("127.0.0.1\tlocalhost\n10.0.0.1\tnode\n"), aliases[:1]))
	want := "# Kubernetes-managed hosts file (host network).\n127.0.0.1\tlocalhost\n10.0.0.1\tnode\n" +
		"\n# Entries added by HostAliases.\n123.45.67.89\tfoo\tbar\tbaz\n"
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("node hosts (-want +got):\n%s", d)
	}
}

func TestPodDNSConfig(t *testing.T) {
	hostResolv := []byte("# generated\n; also a comment\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n" +
		"search corp.example. lab.example .\noptions timeout:2 ndots:1\noptions timeout:3\n")
	rc := ResolverConfig{ClusterDNS: []string{"10.96.0.10"}, ClusterDomain: "cluster.local", HostResolvConf: hostResolv}
	tests := []struct {
		name    string
		policy  v1.DNSPolicy
		hostNet bool
		config  *v1.PodDNSConfig
		rc      *ResolverConfig
		want    string
		errHas  string
	}{
		{name: "ClusterFirst", policy: v1.DNSClusterFirst,
			want: "search ns1.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.96.0.10\noptions ndots:5\n"},
		{name: "empty policy is ClusterFirst",
			want: "search ns1.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.96.0.10\noptions ndots:5\n"},
		{name: "ClusterFirst on host network falls back to Default", policy: v1.DNSClusterFirst, hostNet: true,
			want: "search corp.example lab.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions timeout:3 ndots:1\n"},
		{name: "ClusterFirstWithHostNet", policy: v1.DNSClusterFirstWithHostNet, hostNet: true,
			want: "search ns1.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example\nnameserver 10.96.0.10\noptions ndots:5\n"},
		{name: "ClusterFirst without cluster DNS falls back", policy: v1.DNSClusterFirst, rc: &ResolverConfig{HostResolvConf: hostResolv},
			want: "search corp.example lab.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions timeout:3 ndots:1\n"},
		{name: "Default", policy: v1.DNSDefault,
			want: "search corp.example lab.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\noptions timeout:3 ndots:1\n"},
		{name: "Default without host resolv.conf", policy: v1.DNSDefault, rc: &ResolverConfig{NodeIPs: []string{"192.0.2.1", "fd00::1"}},
			want: "search .\nnameserver 127.0.0.1\nnameserver ::1\n"},
		{name: "None with dnsConfig", policy: v1.DNSNone, config: &v1.PodDNSConfig{
			Nameservers: []string{"1.1.1.1", "1.1.1.1", "8.8.8.8"}, Searches: []string{"a.example"},
			Options: []v1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("2")}, {Name: "edns0"}}},
			want: "search a.example\nnameserver 1.1.1.1\nnameserver 8.8.8.8\noptions edns0 ndots:2\n"},
		{name: "ClusterFirst merged with dnsConfig, cut to 3 servers", policy: v1.DNSClusterFirst, config: &v1.PodDNSConfig{
			Nameservers: []string{"1.1.1.1", "8.8.8.8", "9.9.9.9"}, Searches: []string{"cluster.local", "x.example"},
			Options: []v1.PodDNSConfigOption{{Name: "ndots", Value: ptr.To("1")}}},
			want: "search ns1.svc.cluster.local svc.cluster.local cluster.local corp.example lab.example x.example\n" +
				"nameserver 10.96.0.10\nnameserver 1.1.1.1\nnameserver 8.8.8.8\noptions ndots:1\n"},
		{name: "bad policy", policy: "Sometimes", errHas: "invalid DNSPolicy=Sometimes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod("p")
			pod.Namespace = "ns1"
			pod.Spec.DNSPolicy = tc.policy
			pod.Spec.HostNetwork = tc.hostNet
			pod.Spec.DNSConfig = tc.config
			r := rc
			if tc.rc != nil {
				r = *tc.rc
			}
			cfg, err := PodDNSConfig(pod, r)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("err = %v, want %q", err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, string(ResolvConfContent(cfg))); d != "" {
				t.Errorf("resolv.conf (-want +got):\n%s", d)
			}
		})
	}
}

func TestSearchLimits(t *testing.T) {
	long := strings.Repeat("x", 254)
	var many []string
	for i := 0; i < 40; i++ {
		many = append(many, strings.Repeat("d", 60)+string(rune('a'+i%26)))
	}
	got := fitSearches(append([]string{long}, many...))
	if len(got) > MaxDNSSearchPaths || len(strings.Join(got, " ")) > MaxDNSSearchListChars {
		t.Fatalf("limits not applied: %d paths, %d chars", len(got), len(strings.Join(got, " ")))
	}
	for _, s := range got {
		if s == long {
			t.Fatal("a search domain longer than 253 characters was kept")
		}
	}
}

func TestWritePodFiles(t *testing.T) {
	dir := t.TempDir()
	pod := testPod("web-0")
	pod.Spec.Subdomain = "web"
	pod.Spec.SetHostnameAsFQDN = ptr.To(true)
	pod.Spec.HostAliases = []v1.HostAlias{{IP: "10.1.1.1", Hostnames: []string{"db"}}}
	opts := Options{Layout: &Layout{Root: dir}, PodIPs: []string{"10.244.0.7"}, ClusterDomain: "cluster.local"}
	rc := ResolverConfig{ClusterDNS: []string{"10.96.0.10"}, HostResolvConf: []byte("nameserver 192.0.2.53\n")}
	if err := WritePodFiles(context.Background(), pod, opts, rc, "/nonexistent"); err != nil {
		t.Fatal(err)
	}
	files := opts.Layout.PodFiles(pod.UID)
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read(files.HostnamePath); got != "web-0.web.default.svc.cluster.local\n" {
		t.Errorf("hostname = %q", got)
	}
	if got := read(files.HostsPath); !strings.Contains(got, "10.244.0.7\tweb-0.web.default.svc.cluster.local\tweb-0\n") || !strings.Contains(got, "10.1.1.1\tdb\n") {
		t.Errorf("hosts = %q", got)
	}
	if got := read(files.ResolvConfPath); got != "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n" {
		t.Errorf("resolv.conf = %q", got)
	}
	leftovers, _ := filepath.Glob(filepath.Join(opts.Layout.PodDir(pod.UID), ".*tmp*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	pod.Spec.HostNetwork = true
	opts.Node.Hostname = "node-7"
	if err := WritePodFiles(context.Background(), pod, opts, rc, "/nonexistent"); err == nil {
		t.Error("a hostNetwork pod with an unreadable node hosts file gave no error")
	}
	nodeHosts := filepath.Join(dir, "node-hosts")
	if err := os.WriteFile(nodeHosts, []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WritePodFiles(context.Background(), pod, opts, rc, nodeHosts); err != nil {
		t.Fatal(err)
	}
	if got := read(files.HostnamePath); got != "node-7\n" {
		t.Errorf("hostNetwork hostname = %q", got)
	}
	if got := read(files.HostsPath); !strings.HasPrefix(got, "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n") {
		t.Errorf("hostNetwork hosts = %q", got)
	}
}
