package cgrouplayout

import (
	"fmt"
	"path"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Driver is how cgroups are named on a node: the kubelet's --cgroup-driver.
type Driver string

// The two cgroup drivers of the kubelet.
const (
	DriverCgroupfs Driver = "cgroupfs"
	DriverSystemd  Driver = "systemd"
)

// Well-known name components of the kubelet's hierarchy.
const (
	KubepodsName   = "kubepods"
	BurstableName  = "burstable"
	BestEffortName = "besteffort"
	podPrefix      = "pod"
	systemdSuffix  = ".slice"
)

// Name is a driver-neutral cgroup name: its components from the top, as
// the kubelet's cm.CgroupName. The zero value is the root.
type Name []string

// PodCgroupName returns the cgroup of pod under the kubelet's kubepods root.
func PodCgroupName(pod *v1.Pod) Name {
	return PodCgroupNameFor(QOSClass(pod), pod.UID)
}

// PodCgroupNameFor returns the cgroup of the pod with class qos and uid uid.
func PodCgroupNameFor(qos v1.PodQOSClass, uid types.UID) Name {
	return append(QOSCgroupName(qos), podPrefix+string(uid))
}

// QOSCgroupName returns the parent of every pod of class qos.
func QOSCgroupName(qos v1.PodQOSClass) Name {
	switch qos {
	case v1.PodQOSBurstable:
		return Name{KubepodsName, BurstableName}
	case v1.PodQOSBestEffort:
		return Name{KubepodsName, BestEffortName}
	default:
		return Name{KubepodsName}
	}
}

// ToCgroupfs returns the name as a cgroupfs path: "/kubepods/burstable/pod<uid>".
func (n Name) ToCgroupfs() string {
	return "/" + path.Join(n...)
}

// ToSystemd returns the name as nested systemd slices:
// "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice",
// with '-' in each component written '_' as the kubelet escapes it.
func (n Name) ToSystemd() string {
	if len(n) == 0 {
		return "/"
	}
	var b strings.Builder
	prefix := ""
	for _, c := range n {
		c = strings.ReplaceAll(c, "-", "_")
		if prefix == "" {
			prefix = c
		} else {
			prefix += "-" + c
		}
		b.WriteString("/")
		b.WriteString(prefix)
		b.WriteString(systemdSuffix)
	}
	return b.String()
}

// Path returns the name in the form of driver.
func (n Name) Path(driver Driver) (string, error) {
	switch driver {
	case DriverCgroupfs:
		return n.ToCgroupfs(), nil
	case DriverSystemd:
		return n.ToSystemd(), nil
	default:
		return "", fmt.Errorf("cgroup driver %q: want %q or %q", driver, DriverCgroupfs, DriverSystemd)
	}
}

// ParsePodCgroup recognises a pod's cgroup path in either driver's form,
// possibly below a prefix and possibly with a container's cgroup under it
// (the part after the pod is ignored), and returns the pod's QoS class and
// UID. It reports false for paths that are not in a pod.
func ParsePodCgroup(p string) (qos v1.PodQOSClass, uid types.UID, ok bool) {
	parts := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	for i, part := range parts {
		if part == KubepodsName {
			return parseCgroupfs(parts[i+1:])
		}
		if part == KubepodsName+systemdSuffix {
			return parseSystemd(parts[i+1:])
		}
	}
	return "", "", false
}

func parseCgroupfs(rest []string) (v1.PodQOSClass, types.UID, bool) {
	qos := v1.PodQOSGuaranteed
	if len(rest) > 0 {
		switch rest[0] {
		case BurstableName:
			qos, rest = v1.PodQOSBurstable, rest[1:]
		case BestEffortName:
			qos, rest = v1.PodQOSBestEffort, rest[1:]
		}
	}
	if len(rest) == 0 {
		return "", "", false
	}
	uid, ok := strings.CutPrefix(rest[0], podPrefix)
	if !ok || !validUID(uid) {
		return "", "", false
	}
	return qos, types.UID(uid), true
}

func parseSystemd(rest []string) (v1.PodQOSClass, types.UID, bool) {
	qos := v1.PodQOSGuaranteed
	prefix := KubepodsName + "-"
	if len(rest) > 0 {
		switch rest[0] {
		case KubepodsName + "-" + BurstableName + systemdSuffix:
			qos, rest, prefix = v1.PodQOSBurstable, rest[1:], KubepodsName+"-"+BurstableName+"-"
		case KubepodsName + "-" + BestEffortName + systemdSuffix:
			qos, rest, prefix = v1.PodQOSBestEffort, rest[1:], KubepodsName+"-"+BestEffortName+"-"
		}
	}
	if len(rest) == 0 {
		return "", "", false
	}
	s, ok := strings.CutPrefix(rest[0], prefix+podPrefix)
	if !ok {
		return "", "", false
	}
	s, ok = strings.CutSuffix(s, systemdSuffix)
	if !ok {
		return "", "", false
	}
	uid := strings.ReplaceAll(s, "_", "-")
	if !validUID(uid) {
		return "", "", false
	}
	return qos, types.UID(uid), true
}

// validUID accepts what the API server generates (RFC 4122 text) and the
// hand-written UIDs of static pods and tests: non-empty, at most 128 bytes,
// letters, digits and '-'.
func validUID(uid string) bool {
	if uid == "" || len(uid) > 128 {
		return false
	}
	for _, r := range uid {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}
