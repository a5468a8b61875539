package oci

import (
	"fmt"
	"slices"
	"strings"

	v1 "k8s.io/api/core/v1"
)

// DefaultCapabilities returns the capabilities containerd gives a container
// that is not privileged (containerd's default Unix spec).
func DefaultCapabilities() []string {
	return []string{
		"CAP_CHOWN",
		"CAP_DAC_OVERRIDE",
		"CAP_FSETID",
		"CAP_FOWNER",
		"CAP_MKNOD",
		"CAP_NET_RAW",
		"CAP_SETGID",
		"CAP_SETUID",
		"CAP_SETFCAP",
		"CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE",
		"CAP_SYS_CHROOT",
		"CAP_KILL",
		"CAP_AUDIT_WRITE",
	}
}

// KnownCapabilities returns every capability Linux defines (up to
// CAP_CHECKPOINT_RESTORE, Linux 5.9), in kernel order (index = number).
func KnownCapabilities() []string {
	return []string{
		"CAP_CHOWN",
		"CAP_DAC_OVERRIDE",
		"CAP_DAC_READ_SEARCH",
		"CAP_FOWNER",
		"CAP_FSETID",
		"CAP_KILL",
		"CAP_SETGID",
		"CAP_SETUID",
		"CAP_SETPCAP",
		"CAP_LINUX_IMMUTABLE",
		"CAP_NET_BIND_SERVICE",
		"CAP_NET_BROADCAST",
		"CAP_NET_ADMIN",
		"CAP_NET_RAW",
		"CAP_IPC_LOCK",
		"CAP_IPC_OWNER",
		"CAP_SYS_MODULE",
		"CAP_SYS_RAWIO",
		"CAP_SYS_CHROOT",
		"CAP_SYS_PTRACE",
		"CAP_SYS_PACCT",
		"CAP_SYS_ADMIN",
		"CAP_SYS_BOOT",
		"CAP_SYS_NICE",
		"CAP_SYS_RESOURCE",
		"CAP_SYS_TIME",
		"CAP_SYS_TTY_CONFIG",
		"CAP_MKNOD",
		"CAP_LEASE",
		"CAP_AUDIT_WRITE",
		"CAP_AUDIT_CONTROL",
		"CAP_SETFCAP",
		"CAP_MAC_OVERRIDE",
		"CAP_MAC_ADMIN",
		"CAP_SYSLOG",
		"CAP_WAKE_ALARM",
		"CAP_BLOCK_SUSPEND",
		"CAP_AUDIT_READ",
		"CAP_PERFMON",
		"CAP_BPF",
		"CAP_CHECKPOINT_RESTORE",
	}
}

// ContainerCapabilities returns the capability set of a container that is
// not privileged, as containerd's WithCapabilities computes it from the
// kubelet's add and drop lists: the default set; "ALL" in add gives all
// (the capabilities a privileged container gets, see
// Options.AllCapabilities), "ALL" in drop none; then each named capability
// is added, then each named one dropped. Names are case-insensitive, with
// or without the "CAP_" prefix; a name Linux does not define is an
// ErrInvalidSpec error.
func ContainerCapabilities(c *v1.Capabilities, all []string) ([]string, error) {
	caps := DefaultCapabilities()
	if c == nil {
		return caps, nil
	}
	known := KnownCapabilities()
	var add, drop []string
	for i, name := range c.Add {
		if strings.EqualFold(string(name), "ALL") {
			caps = slices.Clone(all)
			continue
		}
		n, err := capabilityName(string(name), known)
		if err != nil {
			return nil, invalid(fmt.Sprintf("securityContext.capabilities.add[%d]", i), "%v", err)
		}
		add = append(add, n)
	}
	for i, name := range c.Drop {
		if strings.EqualFold(string(name), "ALL") {
			caps = nil
			continue
		}
		n, err := capabilityName(string(name), known)
		if err != nil {
			return nil, invalid(fmt.Sprintf("securityContext.capabilities.drop[%d]", i), "%v", err)
		}
		drop = append(drop, n)
	}
	caps = slices.Clone(caps)
	for _, n := range add {
		if !slices.Contains(caps, n) {
			caps = append(caps, n)
		}
	}
	caps = slices.DeleteFunc(caps, func(n string) bool { return slices.Contains(drop, n) })
	if caps == nil {
		caps = []string{}
	}
	return caps, nil
}

func capabilityName(name string, known []string) (string, error) {
	n := strings.ToUpper(name)
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	if !slices.Contains(known, n) {
		return "", fmt.Errorf("unknown capability %q", name)
	}
	return n, nil
}

// allCapabilities returns Options.AllCapabilities, else the capabilities in
// this process's bounding set, as containerd's cap.Current(): a runtime
// cannot give a container a capability it does not have itself.
func (in *Input) allCapabilities() []string {
	if in.Options.AllCapabilities != nil {
		return in.Options.AllCapabilities
	}
	return BoundingCapabilities()
}
