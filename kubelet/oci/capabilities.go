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

// AllCapabilities returns every capability Linux defines (up to
// CAP_CHECKPOINT_RESTORE, Linux 5.9), in kernel order: what a privileged
// container and "ALL" get.
func AllCapabilities() []string {
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
// kubelet's add and drop lists: the default set; "ALL" in add gives every
// capability, "ALL" in drop none; then each named capability is added, then
// each named one dropped. Names are case-insensitive, with or without the
// "CAP_" prefix; an unknown name is an ErrInvalidSpec error.
func ContainerCapabilities(c *v1.Capabilities) ([]string, error) {
	caps := DefaultCapabilities()
	if c == nil {
		return caps, nil
	}
	all := AllCapabilities()
	var add, drop []string
	for i, name := range c.Add {
		if strings.EqualFold(string(name), "ALL") {
			caps = all
			continue
		}
		n, err := capabilityName(string(name), all)
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
		n, err := capabilityName(string(name), all)
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

func capabilityName(name string, all []string) (string, error) {
	n := strings.ToUpper(name)
	if !strings.HasPrefix(n, "CAP_") {
		n = "CAP_" + n
	}
	if !slices.Contains(all, n) {
		return "", fmt.Errorf("unknown capability %q", name)
	}
	return n, nil
}
