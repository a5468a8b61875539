package oci

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	v1 "k8s.io/api/core/v1"
)

// WritePodFiles writes the kubelet-managed /etc/hosts, /etc/hostname and
// /etc/resolv.conf of pod to the paths of opts.Files (else opts.Layout),
// each replaced atomically (written beside, then renamed), mode 0644:
//
//   - hosts: HostsFileContent with the pod's IPs (opts.PodIPs, else the
//     status), host name and domain, or for hostNetwork pods
//     NodeHostsFileContent of nodeHostsPath (normally /etc/hosts);
//   - hostname: the UTS host name (KernelHostname, or the node's for
//     hostNetwork) and a newline;
//   - resolv.conf: ResolvConfContent of PodDNSConfig(pod, rc).
//
// The runtime calls it once the sandbox has its IPs, before creating the
// pod's containers.
func WritePodFiles(ctx context.Context, pod *v1.Pod, opts Options, rc ResolverConfig, nodeHostsPath string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	in := NewInput(pod, nil, opts)
	files := in.podFiles()
	if files == (PodFiles{}) {
		return fmt.Errorf("pod files: neither Options.Files nor Options.Layout is set: %w", ErrMissingOption)
	}
	if rc.ClusterDomain == "" {
		rc.ClusterDomain = opts.ClusterDomain
	}
	hostname, domain, err := PodHostname(pod, rc.ClusterDomain)
	if err != nil {
		return err
	}
	utsName := hostname
	if pod.Spec.HostNetwork {
		utsName = opts.Node.Hostname
		if utsName == "" {
			if utsName, err = os.Hostname(); err != nil {
				return fmt.Errorf("hostname of the node: %w", err)
			}
		}
	} else if utsName, err = KernelHostname(pod, rc.ClusterDomain); err != nil {
		return err
	}
	if files.HostsPath != "" {
		var content []byte
		if pod.Spec.HostNetwork {
			nodeHosts, err := os.ReadFile(nodeHostsPath)
			if err != nil {
				return fmt.Errorf("node hosts file: %w", err)
			}
			content = NodeHostsFileContent(nodeHosts, pod.Spec.HostAliases)
		} else {
			content = HostsFileContent(in.podIPs(), hostname, domain, pod.Spec.HostAliases)
		}
		if err := writeFileAtomic(files.HostsPath, content); err != nil {
			return err
		}
	}
	if files.HostnamePath != "" {
		if err := writeFileAtomic(files.HostnamePath, []byte(utsName+"\n")); err != nil {
			return err
		}
	}
	if files.ResolvConfPath != "" {
		cfg, err := PodDNSConfig(pod, rc)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(files.ResolvConfPath, ResolvConfContent(cfg)); err != nil {
			return err
		}
	}
	return nil
}

// writeFileAtomic writes data to a temporary file beside name and renames it
// over name, creating the directory if needed.
func writeFileAtomic(name string, data []byte) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(name)+".tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := firstErr(werr, cerr, os.Chmod(tmp, 0o644)); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
