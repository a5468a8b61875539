package oci

import (
	"path/filepath"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Volume plugin directory names, as the kubelet's
// pods/<uid>/volumes/<plugin>/<volume> layout escapes them.
const (
	PluginEmptyDir    = "kubernetes.io~empty-dir"
	PluginConfigMap   = "kubernetes.io~configmap"
	PluginSecret      = "kubernetes.io~secret"
	PluginDownwardAPI = "kubernetes.io~downward-api"
	PluginProjected   = "kubernetes.io~projected"
)

// Layout is the kubelet's directory layout under its root directory
// (/var/lib/kubelet on a real node):
//
//	<root>/pods/<uid>/volumes/kubernetes.io~empty-dir/<volume>
//	<root>/pods/<uid>/containers/<container>/<containerID>   termination message
//	<root>/pods/<uid>/etc-hosts                              /etc/hosts
//	<root>/pods/<uid>/volume-subpaths/<volume>/<container>/<i>  subPath bind mounts
//	<root>/pods/<uid>/etc-hostname, etc-resolv.conf          /etc/hostname, /etc/resolv.conf
//
// The last two are kept by the CRI runtime in the kubelet's world; nodekit
// has no CRI runtime, so they live beside etc-hosts. A Layout is a value and
// safe for concurrent use.
type Layout struct {
	// Root is the kubelet root directory.
	Root string
}

// PodDir returns the pod's directory.
func (l *Layout) PodDir(uid types.UID) string {
	return filepath.Join(l.Root, "pods", string(uid))
}

// VolumeDir returns the host directory of a volume of plugin kind plugin
// (PluginEmptyDir, ...).
func (l *Layout) VolumeDir(uid types.UID, plugin, volume string) string {
	return filepath.Join(l.PodDir(uid), "volumes", plugin, volume)
}

// ContainerDir returns the directory of the container's termination-message
// files.
func (l *Layout) ContainerDir(uid types.UID, container string) string {
	return filepath.Join(l.PodDir(uid), "containers", container)
}

// TerminationMessagePath returns the host file mounted at the container's
// terminationMessagePath.
func (l *Layout) TerminationMessagePath(uid types.UID, container, containerID string) string {
	return filepath.Join(l.ContainerDir(uid, container), containerID)
}

// SubPathsDir returns the directory below which BindSubPath targets of the
// pod live (the kubelet's volume-subpaths); UnbindSubPaths of it releases
// them all.
func (l *Layout) SubPathsDir(uid types.UID) string {
	return filepath.Join(l.PodDir(uid), "volume-subpaths")
}

// SubPathTarget returns the bind-mount target of the index-th volumeMount
// of container, a subPath of volume: volume-subpaths/<volume>/<container>/<index>.
func (l *Layout) SubPathTarget(uid types.UID, volume, container string, index int) string {
	return filepath.Join(l.SubPathsDir(uid), volume, container, strconv.Itoa(index))
}

// PodFiles returns the host paths of the pod's /etc/hosts, /etc/hostname
// and /etc/resolv.conf.
func (l *Layout) PodFiles(uid types.UID) PodFiles {
	dir := l.PodDir(uid)
	return PodFiles{
		HostsPath:      filepath.Join(dir, "etc-hosts"),
		HostnamePath:   filepath.Join(dir, "etc-hostname"),
		ResolvConfPath: filepath.Join(dir, "etc-resolv.conf"),
	}
}

// volumePlugin returns the layout plugin directory of a volume source this
// package lays out, or "" for hostPath and for types it does not know.
func volumePlugin(vol *v1.Volume) string {
	switch {
	case vol.EmptyDir != nil:
		return PluginEmptyDir
	case vol.ConfigMap != nil:
		return PluginConfigMap
	case vol.Secret != nil:
		return PluginSecret
	case vol.DownwardAPI != nil:
		return PluginDownwardAPI
	case vol.Projected != nil:
		return PluginProjected
	}
	return ""
}

// volumeKind names the volume source of vol for error messages.
func volumeKind(vol *v1.Volume) string {
	p := volumePlugin(vol)
	if p != "" {
		return strings.TrimPrefix(p, "kubernetes.io~")
	}
	if vol.HostPath != nil {
		return "hostPath"
	}
	return "unknown"
}
