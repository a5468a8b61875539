package oci

import (
	"context"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// WithNamespaces sets the container's namespaces as containerd's CRI plugin
// does for the kubelet's namespace options:
//
//   - network: the sandbox's (Sandbox.NetworkNamespacePath), none with
//     hostNetwork;
//   - UTS: the sandbox's, none with hostNetwork (the host name is the
//     node's);
//   - IPC: the sandbox's, none with hostIPC;
//   - PID: a new one per container, the sandbox's with
//     shareProcessNamespace, none with hostPID;
//   - mount: always new.
//
// A pod asking for a user namespace (hostUsers: false) is refused rather
// than run with more privilege than it asked for.
//
// "None" means the namespace entry is removed, so the container stays in the
// host's. An empty sandbox path gives the container a new namespace of
// that kind.
func WithNamespaces(_ context.Context, in *Input, s *specs.Spec) error {
	spec := in.Pod.Spec
	if spec.HostUsers != nil && !*spec.HostUsers {
		return invalid("spec.hostUsers", "user namespaces (hostUsers: false) are not supported")
	}
	sb := in.Options.Sandbox
	var ns []specs.LinuxNamespace
	if !spec.HostPID {
		n := specs.LinuxNamespace{Type: specs.PIDNamespace}
		if isTrue(spec.ShareProcessNamespace) {
			n.Path = sb.PIDNamespacePath
		}
		ns = append(ns, n)
	}
	if !spec.HostIPC {
		ns = append(ns, specs.LinuxNamespace{Type: specs.IPCNamespace, Path: sb.IPCNamespacePath})
	}
	if !spec.HostNetwork {
		ns = append(ns, specs.LinuxNamespace{Type: specs.UTSNamespace, Path: sb.UTSNamespacePath})
	}
	ns = append(ns, specs.LinuxNamespace{Type: specs.MountNamespace})
	if !spec.HostNetwork {
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: sb.NetworkNamespacePath})
	}
	s.Linux.Namespaces = ns
	return nil
}
