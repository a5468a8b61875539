package runc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/oci"
)

// networkSetupTimeout bounds the CNI ADD of a sandbox, which runs after
// RunPodSandbox returned and so outside any caller's context.
const networkSetupTimeout = 2 * time.Minute

// netSetup is the CNI ADD of a sandbox running in the background: done is
// closed when it finished, err is then its outcome. RunPodSandbox returns
// once the namespaces exist, and the pod network is set up while the
// engine creates the pod's first container: conmon and runc create do not
// need the pod's IP, only runc start waits for it (StartContainer).
type netSetup struct {
	done chan struct{}
	err  error
}

// podHosts is what the pod's /etc/hosts is made of, taken from the pod when
// the sandbox is created: the network is set up after RunPodSandbox
// returned, when the caller may change the pod object.
type podHosts struct {
	path             string
	hostname, domain string
	aliases          []v1.HostAlias
}

// newPodHosts returns the hosts file of pod, or nil for no pod.
func (r *Runtime) newPodHosts(pod *v1.Pod) (*podHosts, error) {
	if pod == nil {
		return nil, nil
	}
	hostname, domain, err := oci.PodHostname(pod, r.opts.DNS.ClusterDomain)
	if err != nil {
		return nil, err
	}
	layout := oci.Layout{Root: r.kubeletRoot()}
	h := &podHosts{path: layout.PodFiles(pod.UID).HostsPath, hostname: hostname, domain: domain}
	for _, a := range pod.Spec.HostAliases {
		h.aliases = append(h.aliases, *a.DeepCopy())
	}
	return h, nil
}

// write rewrites the hosts file with the pod's IPs, in place: a container
// created meanwhile has the file mounted already.
func (h *podHosts) write(ips []string) error {
	f, err := os.OpenFile(h.path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("pod hosts file: %w", err)
	}
	_, err = f.Write(oci.HostsFileContent(ips, h.hostname, h.domain, h.aliases))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pod hosts file: %w", err)
	}
	return nil
}

// setUpNetworkAsync attaches the sandbox's network namespace to the CNI
// networks, then writes the pod's IPs into its /etc/hosts (hosts, when
// not nil) and into the record. On failure the sandbox turns NotReady, so
// that the engine makes a new one, as after a failed RunPodSandbox. It
// runs on its own goroutine.
func (r *Runtime) setUpNetworkAsync(sb *sandboxRecord, ns *netSetup, netnsPath string, hosts *podHosts) {
	defer close(ns.done)
	ctx, cancel := context.WithTimeout(context.Background(), networkSetupTimeout)
	defer cancel()
	ips, err := r.net.setUp(ctx, sb, netnsPath)
	if err == nil && hosts != nil {
		if err = hosts.write(ips); err != nil {
			if derr := r.net.tearDown(ctx, sb, netnsPath); derr != nil {
				r.opts.Logger.Error("detach pod network", "sandbox", sb.ID, "err", derr)
			}
		}
	}
	r.mu.Lock()
	sb.NetworkPending = false
	if err == nil {
		sb.IPs = ips
	} else {
		sb.State = kubelet.SandboxNotReady
	}
	cp := *sb
	r.mu.Unlock()
	if err != nil {
		ns.err = fmt.Errorf("pod network of sandbox %s: %w", sb.ID, err)
		r.opts.Logger.Error("set up pod network", "pod", sb.PodNamespace+"/"+sb.PodName, "sandbox", sb.ID, "err", err)
	}
	if werr := writeJSON(filepath.Join(r.sandboxDir(sb.ID), fileSandbox), &cp); werr != nil {
		r.opts.Logger.Error("record sandbox", "sandbox", sb.ID, "err", werr)
	}
}

// waitNetwork waits until the sandbox's network setup, if one is running,
// is done, and returns its error.
func waitNetwork(ctx context.Context, ns *netSetup) error {
	if ns == nil {
		return nil
	}
	select {
	case <-ns.done:
		return ns.err
	case <-ctx.Done():
		return fmt.Errorf("waiting for the pod network: %w", ctx.Err())
	}
}

// networkPending reports whether ns is still running.
func networkPending(ns *netSetup) bool {
	if ns == nil {
		return false
	}
	select {
	case <-ns.done:
		return false
	default:
		return true
	}
}
