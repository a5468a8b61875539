package runc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	cnitypes100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"golang.org/x/sys/unix"
)

// network attaches pod network namespaces to the CNI networks: a loopback
// list, then the pod network list (the default bridge list or the caller's).
// It is safe for concurrent use: each call execs the plugins anew and
// host-local serialises its allocations with a file lock.
type network struct {
	cni      *libcni.CNIConfig
	loopback *libcni.NetworkConfigList
	pod      *libcni.NetworkConfigList
	nodeNS   string
}

// DefaultConfList returns the default CNI configuration list of pod networks:
// a bridge plugin (bridge name, isGateway, hairpin mode, no IP masquerade so
// that no iptables rule is written) with host-local addresses from subnet kept
// in ipamDataDir, and a default route through the bridge.
func DefaultConfList(networkName, bridgeName, subnet, ipamDataDir string) ([]byte, error) {
	if _, err := netip.ParsePrefix(subnet); err != nil {
		return nil, fmt.Errorf("network %q: subnet %q: %w", networkName, subnet, ErrInvalidOptions)
	}
	if bridgeName == "" || len(bridgeName) > 15 {
		return nil, fmt.Errorf("network %q: bridge name %q must have 1 to 15 bytes: %w", networkName, bridgeName, ErrInvalidOptions)
	}
	defaultRoute := "0.0.0.0/0"
	if p, _ := netip.ParsePrefix(subnet); p.Addr().Is6() {
		defaultRoute = "::/0"
	}
	conf := map[string]any{
		"cniVersion": DefaultCNIVersion,
		"name":       networkName,
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      bridgeName,
				"isGateway":   true,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": subnet}}},
					"routes":  []map[string]string{{"dst": defaultRoute}},
					"dataDir": ipamDataDir,
				},
			},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

func newNetwork(o NetworkOptions) (*network, error) {
	confList := o.ConfList
	if confList == nil {
		var err error
		confList, err = DefaultConfList(o.NetworkName, o.BridgeName, o.Subnet, o.IPAMDataDir)
		if err != nil {
			return nil, err
		}
	}
	pod, err := libcni.ConfListFromBytes(confList)
	if err != nil {
		return nil, fmt.Errorf("CNI configuration list: %v: %w", err, ErrInvalidOptions)
	}
	loopback, err := libcni.ConfListFromBytes([]byte(`{"cniVersion":"` + DefaultCNIVersion + `","name":"cni-loopback","plugins":[{"type":"loopback"}]}`))
	if err != nil {
		return nil, fmt.Errorf("CNI loopback list: %w", err)
	}
	return &network{
		// An explicit Exec: libcni sets its default lazily, which races
		// when two lists are added at once.
		cni: libcni.NewCNIConfigWithCacheDir(o.PluginDirs, o.CacheDir, &invoke.DefaultExec{
			RawExec:       &invoke.RawExec{Stderr: os.Stderr},
			PluginDecoder: version.PluginDecoder{},
		}),
		loopback: loopback,
		pod:      pod,
		nodeNS:   o.NodeNetNSPath,
	}, nil
}

func (n *network) runtimeConf(sb *sandboxRecord, netnsPath string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID: sb.ID,
		NetNS:       netnsPath,
		IfName:      "eth0",
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", sb.PodNamespace},
			{"K8S_POD_NAME", sb.PodName},
			{"K8S_POD_INFRA_CONTAINER_ID", sb.ID},
			{"K8S_POD_UID", string(sb.PodUID)},
		},
	}
}

// setUp attaches the namespace to loopback and the pod network and returns
// the pod's IPs, IPv4 first. The two lists touch different devices of the
// pod's namespace (lo and eth0), so they run concurrently, each from a thread
// in the node's namespace. On failure whatever was attached is detached.
func (n *network) setUp(ctx context.Context, sb *sandboxRecord, netnsPath string) ([]string, error) {
	rt := n.runtimeConf(sb, netnsPath)
	lo := *rt
	lo.IfName = "lo"
	loErr := make(chan error, 1)
	go func() {
		if sb.InternalLoopback {
			loErr <- inNetNS(netnsPath, func() error {
				if err := loopbackUp(); err != nil {
					return fmt.Errorf("loopback of sandbox %s: %w: %w", sb.ID, ErrNetwork, err)
				}
				return nil
			})
			return
		}
		loErr <- inNetNS(n.nodeNS, func() error {
			if _, err := n.cni.AddNetworkList(ctx, n.loopback, &lo); err != nil {
				return fmt.Errorf("CNI loopback of sandbox %s: %w: %w", sb.ID, ErrNetwork, err)
			}
			return nil
		})
	}()
	var ips []string
	err := inNetNS(n.nodeNS, func() error {
		res, err := n.cni.AddNetworkList(ctx, n.pod, rt)
		if err != nil {
			return fmt.Errorf("CNI network %q of sandbox %s: %w: %w", n.pod.Name, sb.ID, ErrNetwork, err)
		}
		r, err := cnitypes100.NewResultFromResult(res)
		if err != nil {
			return fmt.Errorf("CNI result of sandbox %s: %w: %w", sb.ID, ErrNetwork, err)
		}
		var v4, v6 []string
		for _, ip := range r.IPs {
			if ip.Address.IP.To4() != nil {
				v4 = append(v4, ip.Address.IP.String())
			} else {
				v6 = append(v6, ip.Address.IP.String())
			}
		}
		ips = append(v4, v6...)
		return nil
	})
	if err = errors.Join(err, <-loErr); err != nil {
		if derr := n.tearDown(context.WithoutCancel(ctx), sb, netnsPath); derr != nil {
			err = errors.Join(err, derr)
		}
		return nil, err
	}
	return ips, nil
}

// loopbackUp sets the calling thread's network namespace's loopback
// interface up, as the CNI loopback plugin does (the kernel then gives it
// 127.0.0.1/8 and ::1).
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("flags of lo: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

// tearDown detaches the namespace from the pod network (releasing its
// addresses) and from loopback. The namespace may already be gone.
func (n *network) tearDown(ctx context.Context, sb *sandboxRecord, netnsPath string) error {
	rt := n.runtimeConf(sb, netnsPath)
	return inNetNS(n.nodeNS, func() error {
		if err := n.cni.DelNetworkList(ctx, n.pod, rt); err != nil {
			return fmt.Errorf("CNI network %q of sandbox %s: delete: %w: %w", n.pod.Name, sb.ID, ErrNetwork, err)
		}
		if sb.InternalLoopback {
			return nil // goes down with the namespace
		}
		lo := *rt
		lo.IfName = "lo"
		if err := n.cni.DelNetworkList(ctx, n.loopback, &lo); err != nil {
			return fmt.Errorf("CNI loopback of sandbox %s: delete: %w: %w", sb.ID, ErrNetwork, err)
		}
		return nil
	})
}
