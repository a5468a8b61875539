package oci

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/nodekit/nodekit/kubelet"
)

// WithProcessArgs sets the process arguments with the kubelet's and
// containerd's rules: command and args have their $(VAR) references
// expanded against the container's environment
// (ExpandContainerCommandAndArgs); a command replaces the image's
// entrypoint and cmd; args alone replace the image's cmd and keep its
// entrypoint; neither runs the image's entrypoint and cmd. An image
// entrypoint of exactly [""] counts as none. No arguments at all is
// ErrNoCommand. The terminal is off even for containers with tty: true,
// since runc needs a console socket for one; a runtime that provides it
// turns it on with an extra SpecOpt.
func WithProcessArgs(ctx context.Context, in *Input, s *specs.Spec) error {
	c := in.Container
	var mapping func(string) string
	if len(c.Command) > 0 || len(c.Args) > 0 {
		vars, err := in.ContainerEnv(ctx)
		if err != nil {
			return err
		}
		mapping = MappingFor(envMap(vars))
	}
	command := expandAll(c.Command, mapping)
	args := expandAll(c.Args, mapping)
	img := in.Options.Image
	if len(command) == 0 {
		if len(args) == 0 {
			args = append([]string(nil), img.Cmd...)
		}
		if !(len(img.Entrypoint) == 1 && img.Entrypoint[0] == "") {
			command = append([]string(nil), img.Entrypoint...)
		}
	}
	argv := append(command, args...)
	if len(argv) == 0 {
		return fmt.Errorf("command: the container has no command or args and the image no entrypoint or cmd: %w", ErrNoCommand)
	}
	s.Process.Args = argv
	s.Process.Terminal = false
	return nil
}

func expandAll(in []string, mapping func(string) string) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = Expand(v, mapping)
	}
	return out
}

// WithWorkingDir sets the process's working directory: the container's
// workingDir, else the image's, else "/". It must be absolute.
func WithWorkingDir(_ context.Context, in *Input, s *specs.Spec) error {
	cwd := in.Container.WorkingDir
	field := "workingDir"
	if cwd == "" {
		cwd, field = in.Options.Image.WorkingDir, "image WorkingDir"
	}
	if cwd == "" {
		cwd = "/"
	}
	if !path.IsAbs(cwd) {
		return invalid(field, "%q is not an absolute path", cwd)
	}
	s.Process.Cwd = path.Clean(cwd)
	return nil
}

// WithRlimits sets the process rlimits: Options.Rlimits, else
// DefaultRlimits.
func WithRlimits(_ context.Context, in *Input, s *specs.Spec) error {
	if in.Options.Rlimits != nil {
		s.Process.Rlimits = append([]specs.POSIXRlimit(nil), in.Options.Rlimits...)
	}
	return nil
}

// WithOOMScoreAdj sets oom_score_adj by QoS class with
// kubelet.OOMScoreAdjust: -997 for Guaranteed (and node-critical) pods,
// 1000 for BestEffort, and for Burstable a score that falls as the
// container's memory request grows relative to the node's memory
// (NodeInfo.MemoryCapacity, else the allocatable memory, else the
// machine's memory from sysinfo(2)). A limit without a request counts as a
// request of the same amount, as after the API server's defaulting.
func WithOOMScoreAdj(_ context.Context, in *Input, s *specs.Spec) error {
	capacity := in.Options.Node.MemoryCapacity
	if capacity == 0 {
		if q, ok := in.Options.Node.Allocatable[v1.ResourceMemory]; ok {
			capacity = q.Value()
		}
	}
	if capacity == 0 {
		capacity = machineMemory()
	}
	adj := kubelet.OOMScoreAdjust(in.Pod, in.Container, capacity)
	s.Process.OOMScoreAdj = &adj
	return nil
}

// WithHostname sets the container's hostname for pods on the pod network:
// KernelHostname, the sandbox's, since the UTS namespace is shared.
// hostNetwork pods keep the node's UTS namespace, where runc may not set a
// host name, so the spec names none (HOSTNAME in the environment is still
// the node's).
func WithHostname(_ context.Context, in *Input, s *specs.Spec) error {
	if in.Pod.Spec.HostNetwork {
		s.Hostname = ""
		return nil
	}
	h, err := in.hostname()
	if err != nil {
		return err
	}
	s.Hostname = h
	return nil
}

// hostname returns the container's host name: the node's (Options.Node,
// else os.Hostname) for hostNetwork pods, KernelHostname otherwise.
func (in *Input) hostname() (string, error) {
	if in.Pod.Spec.HostNetwork {
		if h := in.Options.Node.Hostname; h != "" {
			return h, nil
		}
		h, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("hostname of the node: %w", err)
		}
		return h, nil
	}
	return KernelHostname(in.Pod, in.Options.ClusterDomain)
}

// PodHostname returns the pod's host name and domain as the kubelet's
// GeneratePodHostNameAndDomain: spec.hostname (a DNS label) or the pod's
// name, cut to 63 characters without a trailing '-' or '.'; and, with a
// subdomain, "<subdomain>.<namespace>.svc.<clusterDomain>".
func PodHostname(pod *v1.Pod, clusterDomain string) (hostname, domain string, err error) {
	hostname = pod.Name
	if pod.Spec.Hostname != "" {
		if msgs := validation.IsDNS1123Label(pod.Spec.Hostname); len(msgs) != 0 {
			return "", "", invalid("spec.hostname", "%q is not a valid DNS label: %s", pod.Spec.Hostname, strings.Join(msgs, ";"))
		}
		hostname = pod.Spec.Hostname
	}
	const hostnameMaxLen = 63
	if len(hostname) > hostnameMaxLen {
		hostname = strings.TrimRight(hostname[:hostnameMaxLen], "-.")
	}
	if hostname == "" {
		return "", "", invalid("metadata.name", "the pod has no name to use as its hostname")
	}
	if pod.Spec.Subdomain != "" {
		if msgs := validation.IsDNS1123Label(pod.Spec.Subdomain); len(msgs) != 0 {
			return "", "", invalid("spec.subdomain", "%q is not a valid DNS label: %s", pod.Spec.Subdomain, strings.Join(msgs, ";"))
		}
		domain = fmt.Sprintf("%s.%s.svc.%s", pod.Spec.Subdomain, pod.Namespace, clusterDomain)
	}
	return hostname, domain, nil
}

// KernelHostname returns the host name the pod's UTS namespace gets, as the
// kubelet's GetNodenameForKernel: PodHostname, or with
// setHostnameAsFQDN its fully qualified name (at most 64 characters).
func KernelHostname(pod *v1.Pod, clusterDomain string) (string, error) {
	hostname, domain, err := PodHostname(pod, clusterDomain)
	if err != nil {
		return "", err
	}
	if isTrue(pod.Spec.SetHostnameAsFQDN) && domain != "" {
		fqdn := hostname + "." + domain
		if len(fqdn) > 64 {
			return "", invalid("spec.setHostnameAsFQDN", "fully qualified hostname %q is longer than 64 characters", fqdn)
		}
		return fqdn, nil
	}
	return hostname, nil
}
