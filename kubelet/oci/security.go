package oci

import (
	"context"
	"fmt"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
)

// WithSecurityContext applies the container's securityContext (over the
// pod's) as the kubelet and containerd's CRI plugin do:
//
//   - privileged: all capabilities (Options.AllCapabilities), no masked or read-only /proc paths,
//     writable /sys and /sys/fs/cgroup, all devices allowed in the device
//     cgroup and Options.HostDevices created in the container (seccomp is
//     left unconfined by WithSeccomp);
//   - otherwise the capabilities of ContainerCapabilities, in the bounding,
//     permitted and effective sets (none inheritable or ambient);
//   - readOnlyRootFilesystem: a read-only root;
//   - allowPrivilegeEscalation explicitly false: noNewPrivileges;
//   - procMount Unmasked: no masked or read-only paths;
//   - the pod's sysctls.
//
// A Localhost AppArmor profile is refused (AppArmor is not supported, and
// running the container unconfined would weaken it); RuntimeDefault and
// Unconfined are accepted and leave the spec unchanged.
func WithSecurityContext(_ context.Context, in *Input, s *specs.Spec) error {
	sc := in.Container.SecurityContext
	if sc == nil {
		sc = &v1.SecurityContext{}
	}
	eff := effectiveSecurityContext(in.Pod, in.Container)
	if ap := eff.AppArmorProfile; ap != nil && ap.Type == v1.AppArmorProfileTypeLocalhost {
		return invalid("securityContext.appArmorProfile", "Localhost AppArmor profiles are not supported")
	}
	privileged := isTrue(sc.Privileged)
	if privileged {
		if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
			return invalid("securityContext.allowPrivilegeEscalation", "cannot be false for a privileged container")
		}
		all := in.allCapabilities()
		s.Process.Capabilities = &specs.LinuxCapabilities{
			Bounding:  all,
			Permitted: append([]string(nil), all...),
			Effective: append([]string(nil), all...),
		}
		s.Linux.MaskedPaths = nil
		s.Linux.ReadonlyPaths = nil
		for i := range s.Mounts {
			if d := s.Mounts[i].Destination; d == "/sys" || d == "/sys/fs/cgroup" {
				s.Mounts[i].Options = writable(s.Mounts[i].Options)
			}
		}
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		s.Linux.Devices = append([]specs.LinuxDevice(nil), in.Options.HostDevices...)
	} else {
		caps, err := ContainerCapabilities(sc.Capabilities, in.allCapabilities())
		if err != nil {
			return err
		}
		s.Process.Capabilities = &specs.LinuxCapabilities{
			Bounding:  caps,
			Permitted: append([]string{}, caps...),
			Effective: append([]string{}, caps...),
		}
	}
	if isTrue(sc.ReadOnlyRootFilesystem) {
		s.Root.Readonly = true
	}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		s.Process.NoNewPrivileges = true
	}
	if sc.ProcMount != nil {
		switch *sc.ProcMount {
		case v1.UnmaskedProcMount:
			s.Linux.MaskedPaths = nil
			s.Linux.ReadonlyPaths = nil
		case v1.DefaultProcMount:
		default:
			return invalid("securityContext.procMount", "unknown value %q", *sc.ProcMount)
		}
	}
	if psc := in.Pod.Spec.SecurityContext; psc != nil && len(psc.Sysctls) > 0 {
		s.Linux.Sysctl = make(map[string]string, len(psc.Sysctls))
		for i, sysctl := range psc.Sysctls {
			name := sysctlDotted(sysctl.Name)
			if name == "" {
				return invalid(fmt.Sprintf("spec.securityContext.sysctls[%d].name", i), "must not be empty")
			}
			if in.Pod.Spec.HostNetwork && strings.HasPrefix(name, "net.") {
				return invalid(fmt.Sprintf("spec.securityContext.sysctls[%d]", i), "sysctl %q is not allowed with hostNetwork", name)
			}
			if in.Pod.Spec.HostIPC && (strings.HasPrefix(name, "kernel.shm") || strings.HasPrefix(name, "kernel.msg") || strings.HasPrefix(name, "kernel.sem") || strings.HasPrefix(name, "fs.mqueue.")) {
				return invalid(fmt.Sprintf("spec.securityContext.sysctls[%d]", i), "sysctl %q is not allowed with hostIPC", name)
			}
			s.Linux.Sysctl[name] = sysctl.Value
		}
	}
	return nil
}

// writable returns mount options with "ro" replaced by "rw".
func writable(opts []string) []string {
	out := make([]string, 0, len(opts))
	for _, o := range opts {
		if o == "ro" {
			o = "rw"
		}
		out = append(out, o)
	}
	return out
}

// sysctlDotted converts a sysctl name written with '/' separators to the
// dotted form, as the kubelet's ConvertSysctlVariableToDotsSeparator: when
// the first separator is '/', every '/' becomes '.' and every '.' '/' (a
// dot inside a component, as in an interface name "eno2.100").
func sysctlDotted(name string) string {
	i := strings.IndexAny(name, "./")
	if i < 0 || name[i] == '.' {
		return name
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '.':
			return '/'
		case '/':
			return '.'
		}
		return r
	}, name)
}
