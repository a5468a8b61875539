package runc

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/oci"
)

// RunPodSandbox implements kubelet.Runtime: it creates the pod's network,
// IPC and UTS namespaces (as bind mounts below the sandbox directory),
// mounts the pod's /dev/shm and its Memory-medium emptyDirs, writes the
// pod's /etc/hosts, /etc/hostname and /etc/resolv.conf, and starts
// attaching the network namespace to the CNI networks. That attachment
// finishes in the background, while the pod's first container is created:
// until then PodSandboxStatus reports no IPs, CreateContainer waits for
// them only for a container that needs them (oci.NeedsPodIPs), and
// StartContainer waits before the container's process runs. If it fails,
// the sandbox turns NotReady and StartContainer returns the error, which
// wraps ErrNetwork. A pod with
// shareProcessNamespace also gets a pause process (Options.PauseImage) as
// PID 1 of the PID namespace its containers join; other pods have none. On
// failure everything done so far is undone.
func (r *Runtime) RunPodSandbox(ctx context.Context, config *kubelet.SandboxConfig) (string, error) {
	if config == nil || config.PodUID == "" || config.PodName == "" || config.PodNamespace == "" {
		return "", fmt.Errorf("RunPodSandbox: pod UID, name and namespace are required: %w", ErrInvalidOptions)
	}
	id, err := newID()
	if err != nil {
		return "", err
	}
	sb := &sandboxRecord{
		ID:           id,
		PodUID:       config.PodUID,
		PodName:      config.PodName,
		PodNamespace: config.PodNamespace,
		Attempt:      config.Attempt,
		CreatedAt:    time.Now(),
		Hostname:     config.Hostname,
		HostNetwork:  config.HostNetwork,
		HostPID:      config.HostPID,
		HostIPC:      config.HostIPC,
		CgroupParent: config.CgroupParent,
		Labels:       maps.Clone(config.Labels),
		Annotations:  maps.Clone(config.Annotations),
		State:        kubelet.SandboxNotReady,
	}
	if err := r.setUpSandbox(ctx, sb, config); err != nil {
		if cerr := r.cleanUpSandbox(context.WithoutCancel(ctx), sb); cerr != nil {
			r.opts.Logger.Error("undo failed sandbox", "pod", sb.PodNamespace+"/"+sb.PodName, "err", cerr)
		}
		if r.podCgroupUnused(sb) {
			if cerr := removeCgroup(r.opts.CgroupFSRoot, path.Join(r.opts.CgroupRoot, sb.CgroupParent)); cerr != nil {
				r.opts.Logger.Error("undo pod cgroup", "pod", sb.PodNamespace+"/"+sb.PodName, "err", cerr)
			}
			r.forgetQOSPod(sb)
		}
		return "", fmt.Errorf("RunPodSandbox %s/%s: %w", sb.PodNamespace, sb.PodName, err)
	}
	return id, nil
}

func (r *Runtime) setUpSandbox(ctx context.Context, sb *sandboxRecord, config *kubelet.SandboxConfig) error {
	dir := r.sandboxDir(sb.ID)
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return err
	}
	if err := r.setPodCgroup(sb, config.Pod); err != nil {
		return err
	}
	ns, err := createPodNamespaces(dir, !sb.HostNetwork, !sb.HostIPC, !sb.HostNetwork, sb.Hostname)
	if err != nil {
		return err
	}
	if !sb.HostNetwork {
		// The ADD runs once the sandbox is set up (below), while its first
		// container is created. The record written before it starts says
		// so, so that a failure or a crash in the middle still gets its
		// DEL; a crash before that record leaves a directory without one,
		// which the next Runtime unmounts and removes.
		sb.Network = true
		sb.NetworkPending = true
		sb.InternalLoopback = r.opts.Network.InternalLoopback
	}
	if !sb.HostIPC {
		if err := mountTmpfs(filepath.Join(dir, "shm"), r.opts.ShmSize, 0o1777|os.ModeSticky, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC); err != nil {
			return err
		}
	}
	if pod := config.Pod; pod != nil {
		opts := r.specOptions(sb, "")
		for i := range pod.Spec.Volumes {
			m, ok := oci.EmptyDirTmpfs(pod, &pod.Spec.Volumes[i], opts.Layout, r.opts.Node.Allocatable)
			if !ok {
				continue
			}
			// A volume outlives the pod's sandboxes: a sandbox made anew
			// keeps the tmpfs of the previous one and its data.
			mounted, err := isMountPoint(m.Destination)
			if err != nil {
				return err
			}
			if mounted {
				continue
			}
			if err := mountTmpfs(m.Destination, tmpfsSize(m.Options), 0o777, unix.MS_NOSUID|unix.MS_NODEV); err != nil {
				return err
			}
		}
		if err := oci.WritePodFiles(ctx, pod, opts, r.opts.DNS, "/etc/hosts"); err != nil {
			return err
		}
		if sharesPIDNamespace(pod) {
			if err := r.startPause(ctx, sb); err != nil {
				return err
			}
		}
	}
	sb.State = kubelet.SandboxReady
	if err := writeJSON(filepath.Join(dir, fileSandbox), sb); err != nil {
		return err
	}
	var hosts *podHosts
	if !sb.HostNetwork {
		var err error
		if hosts, err = r.newPodHosts(config.Pod); err != nil {
			return err
		}
		sb.net = &netSetup{done: make(chan struct{})}
	}
	r.mu.Lock()
	r.sandboxes[sb.ID] = sb
	r.mu.Unlock()
	if sb.net != nil {
		go r.setUpNetworkAsync(sb, sb.net, ns.Net, hosts)
	}
	return nil
}

// removePodCgroup removes a pod's cgroup, retrying for a while: the last
// processes of its containers may not all be reaped yet when runc delete
// returns (a cgroup holding a process that has not been released cannot
// be removed), and the sandbox record is gone after this call, so nothing
// would try again.
func (r *Runtime) removePodCgroup(ctx context.Context, cgroupPath string) error {
	deadline := time.Now().Add(r.opts.KillTimeout)
	for {
		err := removeCgroup(r.opts.CgroupFSRoot, cgroupPath)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// podCgroupUnused reports whether sb's parent cgroup is the pod's own and
// no sandbox of the pod is left to use it.
func (r *Runtime) podCgroupUnused(sb *sandboxRecord) bool {
	if !ownsPodCgroup(sb) {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.podHasOtherSandboxLocked(sb.PodUID, sb.ID)
}

// ownsPodCgroup reports whether sb's parent cgroup is the pod's own, of the
// kubelet's layout (".../pod<uid>"), which the runtime sets up and removes.
func ownsPodCgroup(sb *sandboxRecord) bool {
	return strings.HasPrefix(path.Base(sb.CgroupParent), "pod")
}

// podHasOtherSandboxLocked reports whether a sandbox of the pod other than
// except, and not being removed, is left. r.mu must be held.
func (r *Runtime) podHasOtherSandboxLocked(uid types.UID, except string) bool {
	for id, o := range r.sandboxes {
		if id != except && o.PodUID == uid && !o.removing {
			return true
		}
	}
	return false
}

// tmpfsSize reads "size=N" from tmpfs mount options.
func tmpfsSize(options []string) int64 {
	for _, o := range options {
		var n int64
		if _, err := fmt.Sscanf(o, "size=%d", &n); err == nil {
			return n
		}
	}
	return 0
}

// netnsPath is the sandbox's network namespace bind mount ("" for host
// network pods).
func (r *Runtime) netnsPath(sb *sandboxRecord) string {
	if sb.HostNetwork {
		return ""
	}
	return filepath.Join(r.sandboxDir(sb.ID), "net")
}

// cleanUpSandbox releases the network and every mount of the sandbox and
// removes its directory. Containers must be gone already.
func (r *Runtime) cleanUpSandbox(ctx context.Context, sb *sandboxRecord) error {
	var errs []error
	if err := r.removePause(ctx, sb); err != nil {
		errs = append(errs, err)
	}
	if err := r.detachNetwork(ctx, sb); err != nil {
		errs = append(errs, err)
	}
	if err := removeAllUnmounted(r.sandboxDir(sb.ID)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// detachNetwork runs CNI DEL once for an attached sandbox.
func (r *Runtime) detachNetwork(ctx context.Context, sb *sandboxRecord) error {
	if !sb.Network {
		return nil
	}
	if err := r.net.tearDown(ctx, sb, r.netnsPath(sb)); err != nil {
		return err
	}
	sb.Network = false
	return nil
}

// StopPodSandbox implements kubelet.Runtime: it kills the sandbox's running
// containers, detaches it from the CNI networks (releasing its IPs) and
// removes its network namespace.
func (r *Runtime) StopPodSandbox(ctx context.Context, sandboxID string) error {
	sb, err := r.sandbox(sandboxID)
	if err != nil {
		return err
	}
	for _, c := range r.containersOf(sandboxID) {
		if err := r.killAndWait(ctx, &c); err != nil {
			return fmt.Errorf("StopPodSandbox %s: %w", sandboxID, err)
		}
	}
	r.mu.Lock()
	pending := sb.net
	r.mu.Unlock()
	// A CNI ADD still running must finish before its DEL.
	if err := waitNetwork(ctx, pending); err != nil && ctx.Err() != nil {
		return fmt.Errorf("StopPodSandbox %s: %w", sandboxID, err)
	}
	r.mu.Lock()
	cp := *sb
	r.mu.Unlock()
	if err := r.stopPause(ctx, &cp); err != nil {
		return fmt.Errorf("StopPodSandbox %s: %w", sandboxID, err)
	}
	if err := r.detachNetwork(ctx, &cp); err != nil {
		return fmt.Errorf("StopPodSandbox %s: %w", sandboxID, err)
	}
	if p := r.netnsPath(&cp); p != "" {
		if err := removeAllUnmounted(p); err != nil {
			return fmt.Errorf("StopPodSandbox %s: %w", sandboxID, err)
		}
	}
	cp.State = kubelet.SandboxNotReady
	cp.IPs = nil
	if err := writeJSON(filepath.Join(r.sandboxDir(sandboxID), fileSandbox), &cp); err != nil {
		return fmt.Errorf("StopPodSandbox %s: %w", sandboxID, err)
	}
	r.mu.Lock()
	*sb = cp
	r.mu.Unlock()
	return nil
}

// RemovePodSandbox implements kubelet.Runtime: it stops the sandbox, removes
// its containers and releases its namespaces and mounts. When no other sandbox
// of the pod remains, the pod's volumes, logs and cgroup go too.
func (r *Runtime) RemovePodSandbox(ctx context.Context, sandboxID string) error {
	sb, err := r.sandbox(sandboxID)
	if errors.Is(err, kubelet.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	r.mu.Lock()
	retry := sb.removing
	r.mu.Unlock()
	if !retry {
		if err := r.StopPodSandbox(ctx, sandboxID); err != nil {
			return err
		}
		for _, c := range r.containersOf(sandboxID) {
			if err := r.RemoveContainer(ctx, c.ID); err != nil {
				return fmt.Errorf("RemovePodSandbox %s: %w", sandboxID, err)
			}
		}
		r.mu.Lock()
		cp := *sb
		r.mu.Unlock()
		if err := r.cleanUpSandbox(ctx, &cp); err != nil {
			return fmt.Errorf("RemovePodSandbox %s: %w", sandboxID, err)
		}
	}
	// The record goes once everything is released, pod-level files and
	// cgroup included: a caller that sees the sandbox gone from the list
	// finds nothing of it left, and a failed cleanup of what the pod's
	// sandboxes share is retried by the next RemovePodSandbox. Sandboxes of
	// the pod being removed at the same time do not keep the pod's files
	// (their cleanup is idempotent).
	r.mu.Lock()
	sb.removing = true
	cp := *sb
	last := !r.podHasOtherSandboxLocked(cp.PodUID, sandboxID)
	r.mu.Unlock()
	if last {
		var errs []error
		layout := oci.Layout{Root: r.kubeletRoot()}
		errs = append(errs, removeAllUnmounted(layout.PodDir(cp.PodUID)))
		errs = append(errs, os.RemoveAll(r.podLogDir(&cp)))
		if ownsPodCgroup(&cp) {
			err := r.removePodCgroup(ctx, path.Join(r.opts.CgroupRoot, cp.CgroupParent))
			if err == nil {
				r.forgetQOSPod(&cp)
			}
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("RemovePodSandbox %s: pod %s/%s: %w", sandboxID, cp.PodNamespace, cp.PodName, err)
		}
	}
	r.mu.Lock()
	delete(r.sandboxes, sandboxID)
	r.mu.Unlock()
	return nil
}

// PodSandboxStatus implements kubelet.Runtime.
func (r *Runtime) PodSandboxStatus(_ context.Context, sandboxID string) (*kubelet.SandboxStatus, error) {
	r.mu.Lock()
	sb, ok := r.sandboxes[sandboxID]
	var cp sandboxRecord
	if ok {
		cp = *sb
	}
	r.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("sandbox %q: %w", sandboxID, kubelet.ErrNotFound)
	}
	return r.sandboxStatus(&cp), nil
}

// ListPodSandboxes implements kubelet.Runtime. The records are copied
// under the lock and their statuses (which look for a pause process's exit
// file) made after it.
func (r *Runtime) ListPodSandboxes(_ context.Context, filter kubelet.SandboxFilter) ([]*kubelet.SandboxStatus, error) {
	r.mu.Lock()
	cps := make([]sandboxRecord, 0, len(r.sandboxes))
	for _, sb := range r.sandboxes {
		if filter.PodUID == "" || sb.PodUID == filter.PodUID {
			cps = append(cps, *sb)
		}
	}
	r.mu.Unlock()
	var out []*kubelet.SandboxStatus
	for i := range cps {
		if st := r.sandboxStatus(&cps[i]); filter.State == "" || st.State == filter.State {
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b *kubelet.SandboxStatus) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// sandboxState is the state of sb: NotReady once stopped, or once its
// pause process died.
func (r *Runtime) sandboxState(sb *sandboxRecord) kubelet.SandboxState {
	if sb.State == kubelet.SandboxReady && r.pauseExited(sb) {
		return kubelet.SandboxNotReady
	}
	return sb.State
}

func (r *Runtime) sandboxStatus(sb *sandboxRecord) *kubelet.SandboxStatus {
	return &kubelet.SandboxStatus{
		ID:             sb.ID,
		PodUID:         sb.PodUID,
		PodName:        sb.PodName,
		PodNamespace:   sb.PodNamespace,
		Attempt:        sb.Attempt,
		State:          r.sandboxState(sb),
		CreatedAt:      sb.CreatedAt,
		IPs:            slices.Clone(sb.IPs),
		HostNetwork:    sb.HostNetwork,
		NetworkPending: networkPending(sb.net),
		Labels:         sb.Labels,
		Annotations:    sb.Annotations,
	}
}

// sandbox returns the record of a sandbox or an error wrapping ErrNotFound.
func (r *Runtime) sandbox(id string) (*sandboxRecord, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sb, ok := r.sandboxes[id]
	if !ok {
		return nil, fmt.Errorf("sandbox %q: %w", id, kubelet.ErrNotFound)
	}
	return sb, nil
}

// containersOf returns copies of the records of the sandbox's containers
// (save replaces a record's fields under r.mu, so a pointer to one must
// not be read without it).
func (r *Runtime) containersOf(sandboxID string) []containerRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []containerRecord
	for _, c := range r.containers {
		if c.SandboxID == sandboxID {
			out = append(out, *c)
		}
	}
	return out
}

// specOptions returns the oci.Options shared by the containers of sb.
func (r *Runtime) specOptions(sb *sandboxRecord, containerID string) oci.Options {
	dir := r.sandboxDir(sb.ID)
	o := oci.Options{
		ContainerID:    containerID,
		CgroupParent:   path.Join(r.opts.CgroupRoot, sb.CgroupParent),
		PidsLimit:      r.opts.PidsLimit,
		NoSwapLimit:    r.noSwap,
		Node:           r.opts.Node,
		PodIPs:         sb.IPs,
		ClusterDomain:  r.opts.DNS.ClusterDomain,
		Layout:         &oci.Layout{Root: r.kubeletRoot()},
		Objects:        r.opts.Objects,
		SeccompDefault: r.opts.SeccompDefault,
		Sandbox:        oci.Sandbox{ID: sb.ID, PIDNamespacePath: pidNamespacePath(sb)},
	}
	if o.Objects == nil {
		o.Objects = oci.MapObjectSource{}
	}
	if !sb.HostNetwork {
		o.Sandbox.NetworkNamespacePath = filepath.Join(dir, "net")
		o.Sandbox.UTSNamespacePath = filepath.Join(dir, "uts")
	}
	if !sb.HostIPC {
		o.Sandbox.IPCNamespacePath = filepath.Join(dir, "ipc")
		o.Sandbox.ShmPath = filepath.Join(dir, "shm")
	}
	return o
}
