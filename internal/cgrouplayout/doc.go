// Package cgrouplayout is the kubelet's cgroup layout, shared by the kubelet
// and stats packages, which may not import each other.
//
// The kubelet puts every pod in a cgroup under a "kubepods" root, one level
// deeper for Burstable and BestEffort pods:
//
//	QoS          cgroupfs driver                 systemd driver
//	Guaranteed   kubepods/pod<uid>               kubepods.slice/kubepods-pod<uid_>.slice
//	Burstable    kubepods/burstable/pod<uid>     kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice
//	BestEffort   kubepods/besteffort/pod<uid>    kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice
//
// where <uid_> is the pod UID with each '-' written '_' (systemd reads '-' in
// a slice name as a parent separator). This matches pkg/kubelet/cm
// (CgroupName, ToCgroupfs, ToSystemd) and pkg/apis/core/v1/helper/qos.
//
// # Concurrency
//
// Everything here is a pure function or an immutable value, safe for
// concurrent use.
//
// # Caveats
//
// QOSClass treats a limit without a request as a request equal to the
// limit, as the API server's defaulting does, so that pods that never went
// through an API server (static pods, test fixtures) get the class the
// cluster would give them.
package cgrouplayout
