package oci

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// Limits of a pod's resolver configuration (pkg/apis/core/validation and
// the kubelet's dns package).
const (
	MaxDNSNameservers     = 3
	MaxDNSSearchPaths     = 32
	MaxDNSSearchListChars = 2048
	maxSearchDomainLength = 253
)

// DNSConfig is a resolver configuration: the CRI's DNSConfig. It is plain
// data.
type DNSConfig struct {
	Servers  []string
	Searches []string
	Options  []string
}

// ResolverConfig is the node side of pod DNS, the kubelet's DNS flags. It
// is plain data, read-only to PodDNSConfig.
type ResolverConfig struct {
	// ClusterDNS are the cluster DNS servers (--cluster-dns). Without
	// them ClusterFirst pods fall back to Default, as in the kubelet.
	ClusterDNS []string
	// ClusterDomain is --cluster-domain (for example "cluster.local").
	ClusterDomain string
	// HostResolvConf is the content of the node's resolver file
	// (--resolv-conf, /etc/resolv.conf). Nil means the kubelet's
	// --resolv-conf="" behaviour: Default pods get a localhost
	// nameserver and search ".".
	HostResolvConf []byte
	// NodeIPs are the node's IPs, used only when HostResolvConf is nil
	// (an IPv6 node gets "::1").
	NodeIPs []string
}

// PodDNSConfig returns the resolver configuration of pod, as the kubelet's
// dns.Configurer.GetPodDNS:
//
//   - ClusterFirst (the default; Default for hostNetwork pods) and
//     ClusterFirstWithHostNet: the cluster DNS servers, the search list
//     "<ns>.svc.<domain> svc.<domain> <domain>" then the node's, and
//     option ndots:5;
//   - Default: the node's resolver configuration;
//   - None: nothing but the pod's dnsConfig;
//
// then the pod's dnsConfig nameservers, searches and options are merged
// (duplicates dropped, a pod option replacing the node's of the same
// name), and the result is cut to 3 nameservers and the kubelet's search
// limits. Options are sorted by name (the kubelet's order is a map's).
func PodDNSConfig(pod *v1.Pod, rc ResolverConfig) (*DNSConfig, error) {
	host := &DNSConfig{}
	if rc.HostResolvConf != nil {
		var err error
		host, err = ParseResolvConf(rc.HostResolvConf)
		if err != nil {
			return nil, err
		}
	}
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = v1.DNSClusterFirst
	}
	cfg := host
	switch policy {
	case v1.DNSNone:
		cfg = &DNSConfig{}
	case v1.DNSClusterFirst, v1.DNSClusterFirstWithHostNet:
		if policy == v1.DNSClusterFirst && pod.Spec.HostNetwork {
			cfg = hostDNS(host, rc)
			break
		}
		if len(rc.ClusterDNS) == 0 {
			cfg = hostDNS(host, rc)
			break
		}
		for i, ip := range rc.ClusterDNS {
			if _, err := netip.ParseAddr(ip); err != nil {
				return nil, fmt.Errorf("cluster DNS server [%d] %q: %v: %w", i, ip, err, ErrInvalidSpec)
			}
		}
		cfg = &DNSConfig{Servers: append([]string(nil), rc.ClusterDNS...), Searches: host.Searches, Options: []string{"ndots:5"}}
		if rc.ClusterDomain != "" {
			cfg.Searches = omitDuplicates(append([]string{
				pod.Namespace + ".svc." + rc.ClusterDomain,
				"svc." + rc.ClusterDomain,
				rc.ClusterDomain,
			}, host.Searches...))
		}
	case v1.DNSDefault:
		cfg = hostDNS(host, rc)
	default:
		return nil, invalid("spec.dnsPolicy", "invalid DNSPolicy=%v", policy)
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		cfg.Servers = omitDuplicates(append(cfg.Servers, dc.Nameservers...))
		cfg.Searches = omitDuplicates(append(cfg.Searches, dc.Searches...))
		cfg.Options = mergeDNSOptions(cfg.Options, dc.Options)
	}
	if len(cfg.Servers) > MaxDNSNameservers {
		cfg.Servers = cfg.Servers[:MaxDNSNameservers]
	}
	cfg.Searches = fitSearches(cfg.Searches)
	return cfg, nil
}

// hostDNS is the Default policy's configuration.
func hostDNS(host *DNSConfig, rc ResolverConfig) *DNSConfig {
	cfg := &DNSConfig{
		Servers:  append([]string(nil), host.Servers...),
		Searches: append([]string(nil), host.Searches...),
		Options:  append([]string(nil), host.Options...),
	}
	if rc.HostResolvConf == nil {
		cfg.Servers = nil
		for _, ip := range rc.NodeIPs {
			if a, err := netip.ParseAddr(ip); err == nil && a.Is6() && !a.Is4In6() {
				cfg.Servers = append(cfg.Servers, "::1")
			} else {
				cfg.Servers = append(cfg.Servers, "127.0.0.1")
			}
		}
		if len(cfg.Servers) == 0 {
			cfg.Servers = []string{"127.0.0.1"}
		}
		cfg.Searches = []string{"."}
	}
	return cfg
}

func omitDuplicates(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := in[:0:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func mergeDNSOptions(existing []string, pod []v1.PodDNSConfigOption) []string {
	m := map[string]string{}
	for _, op := range existing {
		name, value, _ := strings.Cut(op, ":")
		m[name] = value
	}
	for _, op := range pod {
		v := ""
		if op.Value != nil {
			v = *op.Value
		}
		m[op.Name] = v
	}
	out := make([]string, 0, len(m))
	for name, v := range m {
		if v != "" {
			name += ":" + v
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// fitSearches applies the kubelet's formDNSSearchFitsLimits.
func fitSearches(s []string) []string {
	if len(s) > MaxDNSSearchPaths {
		s = s[:MaxDNSSearchPaths]
	}
	out := s[:0:0]
	for _, d := range s {
		if len(d) <= maxSearchDomainLength {
			out = append(out, d)
		}
	}
	if l := len(strings.Join(out, " ")); l > MaxDNSSearchListChars {
		cut, n := 0, 0
		for i := len(out) - 1; i >= 0; i-- {
			cut += len(out[i]) + 1
			n++
			if l-cut <= MaxDNSSearchListChars {
				break
			}
		}
		out = out[:len(out)-n]
	}
	return out
}

// ParseResolvConf parses a resolv.conf as the kubelet's parseResolvConf:
// nameserver lines accumulate, the last search line wins (with "." dropped
// and a trailing dot trimmed), options accumulate with a later option
// replacing an earlier one of the same name; comments start with '#' or
// ';'.
func ParseResolvConf(data []byte) (*DNSConfig, error) {
	cfg := &DNSConfig{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if len(text) > 0 && (text[0] == '#' || text[0] == ';') {
			continue
		}
		f := strings.Fields(text)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) < 2 {
				return nil, fmt.Errorf("resolv.conf line %d: nameserver list is empty: %w", line, ErrInvalidSpec)
			}
			cfg.Servers = append(cfg.Servers, f[1:]...)
		case "search":
			cfg.Searches = []string{}
			for _, s := range f[1:] {
				if s != "." {
					cfg.Searches = append(cfg.Searches, strings.TrimSuffix(s, "."))
				}
			}
		case "options":
			for _, o := range f[1:] {
				name, _, _ := strings.Cut(o, ":")
				replaced := false
				for i, e := range cfg.Options {
					if en, _, _ := strings.Cut(e, ":"); en == name {
						cfg.Options[i], replaced = o, true
						break
					}
				}
				if !replaced {
					cfg.Options = append(cfg.Options, o)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("resolv.conf: %w", err)
	}
	return cfg, nil
}

// ResolvConfContent renders a resolver configuration as containerd's CRI
// plugin writes a sandbox's resolv.conf: the search line, one nameserver
// line per server, the options line.
func ResolvConfContent(cfg *DNSConfig) []byte {
	var b bytes.Buffer
	if len(cfg.Searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(cfg.Searches, " "))
	}
	for _, s := range cfg.Servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(cfg.Options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(cfg.Options, " "))
	}
	return b.Bytes()
}
