package runc

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodekit/nodekit/kubelet"
)

// The state directory:
//
//	<root>/runc/                       runc --root
//	<root>/sandboxes/<id>/sandbox.json the sandbox record
//	<root>/sandboxes/<id>/netns, ipc, uts   namespace bind mounts
//	<root>/sandboxes/<id>/shm/         the pod's /dev/shm (tmpfs)
//	<root>/sandboxes/<id>/pause/       the pause container's bundle (pods
//	                                   with shareProcessNamespace)
//	<root>/containers/<id>/            the OCI bundle: config.json, rootfs/
//	                                   (overlay), upper/, work/, container.json,
//	                                   conmon.pid, pidfile
//	<root>/exits/<id>                  conmon's exit files
//	<root>/attach/                     conmon's attach socket links
//	<root>/pods/<ns>_<name>_<uid>/<container>/<attempt>.log   CRI logs
//	<root>/kubelet/pods/<uid>/...      volumes and pod files (oci.Layout)
//	<root>/cni/cache, <root>/cni/networks   libcni cache, host-local IPAM
const (
	dirRunc       = "runc"
	dirSandboxes  = "sandboxes"
	dirContainers = "containers"
	dirExits      = "exits"
	dirAttach     = "attach"
	dirPodLogs    = "pods"
	dirKubelet    = "kubelet"

	fileSandbox   = "sandbox.json"
	fileContainer = "container.json"
	fileSpec      = "config.json"
	fileConmonPID = "conmon.pid"
	fileInitPID   = "pidfile"
)

// sandboxRecord is a sandbox as persisted in sandbox.json.
type sandboxRecord struct {
	ID           string               `json:"id"`
	PodUID       types.UID            `json:"podUID"`
	PodName      string               `json:"podName"`
	PodNamespace string               `json:"podNamespace"`
	Attempt      uint32               `json:"attempt"`
	CreatedAt    time.Time            `json:"createdAt"`
	Hostname     string               `json:"hostname,omitempty"`
	HostNetwork  bool                 `json:"hostNetwork,omitempty"`
	HostPID      bool                 `json:"hostPID,omitempty"`
	HostIPC      bool                 `json:"hostIPC,omitempty"`
	CgroupParent string               `json:"cgroupParent,omitempty"`
	Labels       map[string]string    `json:"labels,omitempty"`
	Annotations  map[string]string    `json:"annotations,omitempty"`
	State        kubelet.SandboxState `json:"state"`
	IPs          []string             `json:"ips,omitempty"`
	// Network is set while the CNI network is attached (ADD succeeded and
	// no DEL yet).
	Network bool `json:"network,omitempty"`
	// NetworkPending is set while the CNI ADD runs after RunPodSandbox
	// returned; a runtime that finds it set on start lost the ADD's
	// outcome and reports the sandbox NotReady.
	NetworkPending bool `json:"networkPending,omitempty"`
	// net is the ADD while it runs in this process (not persisted).
	net *netSetup
	// removing is set once RemovePodSandbox released the sandbox itself
	// and is releasing what the pod's sandboxes share (not persisted).
	removing bool
	// Pause is the pause process of a sandbox that shares its PID
	// namespace (shareProcessNamespace); nil otherwise.
	Pause *pauseRecord `json:"pause,omitempty"`
	// InternalLoopback is set when the runtime brought the pod's loopback
	// interface up itself (NetworkOptions.InternalLoopback) rather than
	// the CNI loopback plugin, which then has no DEL to run.
	InternalLoopback bool `json:"internalLoopback,omitempty"`
	// QOSClass and MilliCPURequest are the pod's, for the cpu.shares of
	// its QoS class's cgroup; set when the runtime made the pod's cgroup.
	QOSClass        v1.PodQOSClass `json:"qosClass,omitempty"`
	MilliCPURequest int64          `json:"milliCPURequest,omitempty"`
}

// pauseRecord is the pause container of a sandbox: runc container ID (its
// bundle is the sandbox's pause directory), the process whose PID
// namespace the pod's containers join, and its conmon. It is recorded
// before conmon runs, so that a crash in the middle still gets its runc
// state deleted.
type pauseRecord struct {
	ID        string `json:"id"`
	PID       int    `json:"pid,omitempty"`
	ConmonPID int    `json:"conmonPID,omitempty"`
}

// containerRecord is a container as persisted in container.json, plus its
// exit once observed (so the reason stays after the cgroup is gone).
type containerRecord struct {
	ID          string            `json:"id"`
	SandboxID   string            `json:"sandboxID"`
	PodUID      types.UID         `json:"podUID"`
	Name        string            `json:"name"`
	Attempt     uint32            `json:"attempt"`
	Image       string            `json:"image"`
	ImageRef    string            `json:"imageRef"`
	StopSignal  string            `json:"stopSignal,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	CreatedAt   time.Time         `json:"createdAt"`
	LogPath     string            `json:"logPath"`
	CgroupsPath string            `json:"cgroupsPath,omitempty"`
	// RuncCreated is set once conmon's runc create succeeded: the
	// container then has runc state to delete.
	RuncCreated bool `json:"runcCreated,omitempty"`
	// ConmonPID is the container's monitor.
	ConmonPID int `json:"conmonPID,omitempty"`
	// InitPID is the container's process (on the host).
	InitPID   int       `json:"initPID,omitempty"`
	StartedAt time.Time `json:"startedAt,omitzero"`
	// Exited is set once the exit was observed; the fields below are then
	// final.
	Exited     bool      `json:"exited,omitempty"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	ExitCode   int32     `json:"exitCode,omitempty"`
	Reason     string    `json:"reason,omitempty"`
	Message    string    `json:"message,omitempty"`
}

// writeJSON writes v to path atomically (a temporary file renamed over it).
func writeJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

func (r *Runtime) sandboxDir(id string) string { return filepath.Join(r.root, dirSandboxes, id) }
func (r *Runtime) bundleDir(id string) string  { return filepath.Join(r.root, dirContainers, id) }
func (r *Runtime) exitFile(id string) string   { return filepath.Join(r.root, dirExits, id) }
func (r *Runtime) runcRoot() string            { return filepath.Join(r.root, dirRunc) }
func (r *Runtime) kubeletRoot() string         { return filepath.Join(r.root, dirKubelet) }
func (r *Runtime) podLogDir(sb *sandboxRecord) string {
	return filepath.Join(r.root, dirPodLogs, fmt.Sprintf("%s_%s_%s", sb.PodNamespace, sb.PodName, sb.PodUID))
}

// ContainerLogPath returns where the log of attempt of the container name of
// the pod is written, in the kubelet's layout
// (pods/<namespace>_<name>_<uid>/<container>/<attempt>.log below the root).
func (r *Runtime) ContainerLogPath(namespace, podName string, uid types.UID, container string, attempt uint32) string {
	return filepath.Join(r.root, dirPodLogs, fmt.Sprintf("%s_%s_%s", namespace, podName, uid), container, fmt.Sprintf("%d.log", attempt))
}
