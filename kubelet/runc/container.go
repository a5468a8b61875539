package runc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/oci"
)

// Reasons of exited containers besides the kubelet's Completed, Error and
// OOMKilled.
const (
	// ReasonStartError: runc could not start the container's process; the
	// exit code is 128, as containerd reports it.
	ReasonStartError = "StartError"
	// ReasonMonitorLost: the container's conmon died without recording an
	// exit code (for example the machine rebooted); the exit code is 255.
	ReasonMonitorLost = "ContainerMonitorLost"
)

// Exit codes of containers that did not exit by themselves.
const (
	ExitCodeStartError  int32 = 128
	ExitCodeMonitorLost int32 = 255
)

// CreateContainer implements kubelet.Runtime: it resolves the image, mounts
// the container's overlay root filesystem, writes the pod's configMap,
// secret, downwardAPI and projected volumes, and writes the OCI bundle
// (config.json from package oci, with the engine's labels and annotations
// persisted beside it). The container's process is created by StartContainer,
// as with containerd, so that a process that cannot be started is reported
// as an exited container with reason StartError.
func (r *Runtime) CreateContainer(ctx context.Context, sandboxID string, config *kubelet.ContainerConfig) (string, error) {
	if config == nil || config.Name == "" || config.Pod == nil || config.Container == nil {
		return "", fmt.Errorf("CreateContainer in sandbox %q: name, pod and container are required: %w", sandboxID, ErrInvalidOptions)
	}
	r.mu.Lock()
	sb, ok := r.sandboxes[sandboxID]
	var sbCopy sandboxRecord
	if ok {
		sbCopy = *sb
	}
	dup := false
	for _, c := range r.containers {
		if c.SandboxID == sandboxID && c.Name == config.Name && c.Attempt == config.Attempt {
			dup = true
		}
	}
	r.mu.Unlock()
	switch {
	case !ok:
		return "", fmt.Errorf("CreateContainer %q: sandbox %q: %w", config.Name, sandboxID, kubelet.ErrNotFound)
	case sbCopy.State != kubelet.SandboxReady || r.pauseExited(&sbCopy):
		return "", fmt.Errorf("CreateContainer %q: sandbox %q is not ready: %w", config.Name, sandboxID, kubelet.ErrInvalidState)
	case dup:
		return "", fmt.Errorf("container %q attempt %d in sandbox %q: %w", config.Name, config.Attempt, sandboxID, kubelet.ErrAlreadyExists)
	}
	if networkPending(sbCopy.net) && oci.NeedsPodIPs(config.Pod, config.Container) {
		// The spec or the volume files hold the pod's IP: wait for it.
		if err := waitNetwork(ctx, sbCopy.net); err != nil {
			return "", fmt.Errorf("CreateContainer %q of pod %s/%s: %w", config.Name, sbCopy.PodNamespace, sbCopy.PodName, err)
		}
		r.mu.Lock()
		sbCopy = *sb
		r.mu.Unlock()
	}
	img, err := r.opts.Images.Resolve(ctx, config.Image)
	if err != nil {
		if errors.Is(err, ErrImageNotFound) {
			return "", fmt.Errorf("pull image %q: %w: %w", config.Image, kubelet.ErrImagePull, err)
		}
		return "", fmt.Errorf("pull image %q: %w", config.Image, err)
	}
	id, err := newID()
	if err != nil {
		return "", err
	}
	rec := &containerRecord{
		ID:          id,
		SandboxID:   sandboxID,
		PodUID:      sbCopy.PodUID,
		Name:        config.Name,
		Attempt:     config.Attempt,
		Image:       config.Image,
		ImageRef:    img.ID,
		StopSignal:  img.Config.StopSignal,
		Labels:      maps.Clone(config.Labels),
		Annotations: maps.Clone(config.Annotations),
		CreatedAt:   time.Now(),
		LogPath:     r.ContainerLogPath(sbCopy.PodNamespace, sbCopy.PodName, sbCopy.PodUID, config.Name, config.Attempt),
	}
	if err := r.writeBundle(ctx, &sbCopy, rec, img, config); err != nil {
		if rerr := removeAllUnmounted(r.bundleDir(id)); rerr != nil {
			r.opts.Logger.Error("undo failed container", "id", id, "err", rerr)
		}
		if _, ok := err.(*configError); ok {
			return "", err
		}
		return "", fmt.Errorf("CreateContainer %q of pod %s/%s: %w", config.Name, sbCopy.PodNamespace, sbCopy.PodName, err)
	}
	r.mu.Lock()
	r.containers[id] = rec
	r.mu.Unlock()
	r.emit(kubelet.ContainerCreatedEvent, rec)
	return id, nil
}

func (r *Runtime) writeBundle(ctx context.Context, sb *sandboxRecord, rec *containerRecord, img *Image, config *kubelet.ContainerConfig) error {
	bundle := r.bundleDir(rec.ID)
	if err := os.MkdirAll(bundle, 0o711); err != nil {
		return err
	}
	rootfs := filepath.Join(bundle, "rootfs")
	if _, err := mountRootfs(img.RootfsPath, bundle, rootfs); err != nil {
		return err
	}
	opts := r.specOptions(sb, rec.ID)
	opts.Image = img.Config
	opts.RootfsPath = rootfs
	if config.PodIPs != nil {
		opts.PodIPs = config.PodIPs
	}
	if len(opts.PodIPs) == 0 && networkPending(sb.net) {
		opts.PodNetworkPending = true
	}
	opts.RestartCount = int(config.Attempt)
	opts.Annotations = config.Annotations
	if err := oci.WritePodVolumes(ctx, config.Pod, opts); err != nil {
		return classifySpecError(err)
	}
	spec, err := oci.GenerateSpec(ctx, config.Pod, config.Container, opts)
	if err != nil {
		return classifySpecError(err)
	}
	if spec.Linux != nil {
		rec.CgroupsPath = spec.Linux.CgroupsPath
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(bundle, fileSpec), data, 0o600); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(rec.LogPath), 0o755); err != nil {
		return err
	}
	return writeJSON(filepath.Join(bundle, fileContainer), rec)
}

// classifySpecError maps spec generation errors to the engine's: what the
// kubelet reports as CreateContainerConfigError wraps
// kubelet.ErrCreateContainerConfig.
func classifySpecError(err error) error {
	for _, e := range []error{oci.ErrRunAsNonRoot, oci.ErrSubPathEscape, oci.ErrHostPathType, oci.ErrObjectNotFound, oci.ErrInvalidSpec, oci.ErrMissingOption} {
		if errors.Is(err, e) {
			return &configError{err: err}
		}
	}
	return err
}

// configError is a container configuration the kubelet refuses with
// CreateContainerConfigError. Its message is the spec error's alone (which
// names the pod, the container and the field), since the engine shows it in
// the container's Waiting state.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }

func (e *configError) Unwrap() []error { return []error{kubelet.ErrCreateContainerConfig, e.err} }

// StartContainer implements kubelet.Runtime: conmon runs runc create (and
// stays as the container's monitor, logging its output and recording its exit
// code), then runc start starts the process. If either fails, the container is
// reported as exited with reason StartError and the error wraps
// ErrStartFailed.
func (r *Runtime) StartContainer(ctx context.Context, containerID string) error {
	r.mu.Lock()
	rec, ok := r.containers[containerID]
	var cp containerRecord
	var sbReady, busy bool
	var sbCopy sandboxRecord
	if ok {
		cp = *rec
		sb := r.sandboxes[rec.SandboxID]
		if sb != nil {
			sbCopy = *sb
			sbReady = sb.State == kubelet.SandboxReady
		}
		busy = r.starting[containerID]
		if !busy {
			r.starting[containerID] = true
			defer func() {
				r.mu.Lock()
				delete(r.starting, containerID)
				r.mu.Unlock()
			}()
		}
	}
	r.mu.Unlock()
	pendingNet := sbCopy.net
	switch {
	case !ok:
		return fmt.Errorf("container %q: %w", containerID, kubelet.ErrNotFound)
	case busy || cp.RuncCreated || cp.Exited || !cp.StartedAt.IsZero():
		return fmt.Errorf("start container %q: not in the Created state: %w", containerID, kubelet.ErrInvalidState)
	case !sbReady || r.pauseExited(&sbCopy):
		return fmt.Errorf("start container %q: sandbox %q is not ready: %w", containerID, cp.SandboxID, kubelet.ErrInvalidState)
	}
	conmonPID, initPID, err := r.runConmon(ctx, &cp, r.bundleDir(containerID))
	if err != nil {
		// A cancelled wait may leave a container runc did create.
		r.deleteRuncState(context.WithoutCancel(ctx), containerID)
		return r.startFailed(&cp, err)
	}
	cp.RuncCreated = true
	cp.ConmonPID = conmonPID
	cp.InitPID = initPID
	if err := r.save(&cp); err != nil {
		return err
	}
	// The pod network may still be being set up: the process starts once
	// it is there, and not at all if it failed.
	if err := waitNetwork(ctx, pendingNet); err != nil {
		r.undoCreate(context.WithoutCancel(ctx), &cp)
		return fmt.Errorf("start container %q: %w", containerID, err)
	}
	// The process may exit before runc start returns: take the start time
	// first, so that it never follows the exit file's.
	startedAt := time.Now()
	if _, err := r.runc(ctx, "start", containerID); err != nil {
		r.deleteRuncState(context.WithoutCancel(ctx), containerID)
		return r.startFailed(&cp, err)
	}
	cp.StartedAt = startedAt
	if err := r.save(&cp); err != nil {
		return err
	}
	r.emit(kubelet.ContainerStartedEvent, &cp)
	return nil
}

// undoCreate deletes the runc container that conmon created for cp (its
// process never ran) and puts the record back in the Created state, so
// that the container is not reported as exited: used when the pod network
// failed before the start.
func (r *Runtime) undoCreate(ctx context.Context, cp *containerRecord) {
	r.deleteRuncState(ctx, cp.ID)
	waitPID(ctx, cp.ConmonPID, r.opts.KillTimeout)
	for _, p := range []string{r.exitFile(cp.ID), filepath.Join(r.root, dirAttach, cp.ID)} {
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			r.opts.Logger.Error("undo container create", "id", cp.ID, "err", err)
		}
	}
	cp.RuncCreated, cp.ConmonPID, cp.InitPID = false, 0, 0
	if err := r.save(cp); err != nil {
		r.opts.Logger.Error("undo container create", "id", cp.ID, "err", err)
	}
}

// startFailed records a start failure as the container's exit.
func (r *Runtime) startFailed(cp *containerRecord, cause error) error {
	cp.Exited = true
	cp.FinishedAt = time.Now()
	cp.ExitCode = ExitCodeStartError
	cp.Reason = ReasonStartError
	cp.Message = cause.Error()
	if err := r.save(cp); err != nil {
		r.opts.Logger.Error("record start failure", "id", cp.ID, "err", err)
	}
	r.emit(kubelet.ContainerStoppedEvent, cp)
	return fmt.Errorf("start container %q: %w: %w", cp.ID, ErrStartFailed, cause)
}

// save persists a changed copy of a record and puts it in place.
func (r *Runtime) save(cp *containerRecord) error {
	if err := writeJSON(filepath.Join(r.bundleDir(cp.ID), fileContainer), cp); err != nil {
		return err
	}
	r.mu.Lock()
	if rec, ok := r.containers[cp.ID]; ok {
		*rec = *cp
	}
	r.mu.Unlock()
	return nil
}

// observe returns the container's current status fields in a copy of its
// record, recording an exit the first time it is seen (with OOMKilled read
// from the container's cgroup, which still exists until runc delete).
func (r *Runtime) observe(id string) (containerRecord, bool) {
	r.mu.Lock()
	rec, ok := r.containers[id]
	var cp containerRecord
	if ok {
		cp = *rec
	}
	r.mu.Unlock()
	if !ok || cp.Exited || !cp.RuncCreated {
		return cp, ok
	}
	code, finished, exited := r.readExitFile(id)
	if !exited {
		if processAlive(cp.ConmonPID) {
			return cp, true
		}
		// conmon is gone: it may have written the file just now.
		if code, finished, exited = r.readExitFile(id); !exited {
			if processAlive(cp.InitPID) {
				// The container runs without its monitor; its exit
				// code will be lost, but it has not exited.
				return cp, true
			}
			cp.Exited = true
			cp.FinishedAt = time.Now()
			cp.ExitCode = ExitCodeMonitorLost
			cp.Reason = ReasonMonitorLost
			cp.Message = "conmon exited without recording the container's exit code"
			if err := r.save(&cp); err != nil {
				r.opts.Logger.Error("record lost container", "id", id, "err", err)
			}
			return cp, true
		}
	}
	cp.Exited = true
	cp.ExitCode = code
	// The exit file's time comes from the kernel's coarse clock, which
	// lags time.Now by up to a tick: a process that exits at once can
	// seem to end before the start time taken ahead of runc start.
	if finished.Before(cp.StartedAt) {
		finished = cp.StartedAt
	}
	cp.FinishedAt = finished
	switch {
	case oomKilled(r.opts.CgroupFSRoot, cp.CgroupsPath):
		cp.Reason = kubelet.ReasonOOMKilled
	case code == 0:
		cp.Reason = kubelet.ReasonCompleted
	default:
		cp.Reason = kubelet.ReasonError
	}
	if err := r.save(&cp); err != nil {
		r.opts.Logger.Error("record exit", "id", id, "err", err)
	}
	return cp, true
}

// readExitFile reads conmon's exit file of the container: the exit code
// (128+signal for a killed process) and the file's time.
func (r *Runtime) readExitFile(id string) (code int32, finished time.Time, ok bool) {
	p := r.exitFile(id)
	data, err := os.ReadFile(p)
	if err != nil {
		return 0, time.Time{}, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 32)
	if err != nil {
		// Written but not yet complete.
		return 0, time.Time{}, false
	}
	st, err := os.Stat(p)
	if err != nil {
		return 0, time.Time{}, false
	}
	return int32(n), st.ModTime(), true
}

func containerStatus(c *containerRecord) *kubelet.ContainerStatus {
	st := &kubelet.ContainerStatus{
		ID:          c.ID,
		SandboxID:   c.SandboxID,
		PodUID:      c.PodUID,
		Name:        c.Name,
		Attempt:     c.Attempt,
		CreatedAt:   c.CreatedAt,
		StartedAt:   c.StartedAt,
		Image:       c.Image,
		ImageRef:    c.ImageRef,
		Labels:      c.Labels,
		Annotations: c.Annotations,
	}
	switch {
	case c.Exited:
		st.State = kubelet.ContainerExited
		st.FinishedAt = c.FinishedAt
		st.ExitCode = c.ExitCode
		st.Reason = c.Reason
		st.Message = c.Message
	case !c.StartedAt.IsZero():
		st.State = kubelet.ContainerRunning
	default:
		st.State = kubelet.ContainerCreated
	}
	return st
}

// ContainerStatus implements kubelet.Runtime.
func (r *Runtime) ContainerStatus(_ context.Context, containerID string) (*kubelet.ContainerStatus, error) {
	c, ok := r.observe(containerID)
	if !ok {
		return nil, fmt.Errorf("container %q: %w", containerID, kubelet.ErrNotFound)
	}
	return containerStatus(&c), nil
}

// ListContainers implements kubelet.Runtime.
func (r *Runtime) ListContainers(_ context.Context, filter kubelet.ContainerFilter) ([]*kubelet.ContainerStatus, error) {
	r.mu.Lock()
	ids := make([]string, 0, len(r.containers))
	for id, c := range r.containers {
		if (filter.PodUID == "" || c.PodUID == filter.PodUID) && (filter.SandboxID == "" || c.SandboxID == filter.SandboxID) {
			ids = append(ids, id)
		}
	}
	r.mu.Unlock()
	out := make([]*kubelet.ContainerStatus, 0, len(ids))
	for _, id := range ids {
		c, ok := r.observe(id)
		if !ok {
			continue
		}
		st := containerStatus(&c)
		if filter.State != "" && st.State != filter.State {
			continue
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b *kubelet.ContainerStatus) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// StopContainer implements kubelet.Runtime: the image's stop signal (SIGTERM
// by default), then SIGKILL once gracePeriod has passed. A container that
// was never started is left as it is.
func (r *Runtime) StopContainer(ctx context.Context, containerID string, gracePeriod time.Duration) error {
	c, ok := r.observe(containerID)
	if !ok {
		return fmt.Errorf("container %q: %w", containerID, kubelet.ErrNotFound)
	}
	if c.Exited || !c.RuncCreated {
		return nil
	}
	sig := c.StopSignal
	if sig == "" {
		sig = "SIGTERM"
	}
	if gracePeriod > 0 {
		if _, err := r.runc(ctx, "kill", containerID, sig); err != nil {
			if !r.exitedAfterFailedKill(ctx, containerID) {
				return fmt.Errorf("stop container %q: %w", containerID, err)
			}
			return nil
		}
		if r.waitExit(ctx, containerID, gracePeriod) {
			return nil
		}
	}
	return r.killAndWait(ctx, &c)
}

// killAndWait sends SIGKILL to a running container and waits for its exit
// (at most Options.KillTimeout).
func (r *Runtime) killAndWait(ctx context.Context, c *containerRecord) error {
	cur, ok := r.observe(c.ID)
	if !ok || cur.Exited || !cur.RuncCreated {
		return nil
	}
	if _, err := r.runc(ctx, "kill", c.ID, "SIGKILL"); err != nil {
		if r.exitedAfterFailedKill(ctx, c.ID) {
			return nil
		}
		return fmt.Errorf("kill container %q: %w", c.ID, err)
	}
	if !r.waitExit(ctx, c.ID, r.opts.KillTimeout) {
		return fmt.Errorf("container %q did not exit within %s of SIGKILL", c.ID, r.opts.KillTimeout)
	}
	return nil
}

// exitedAfterFailedKill reports whether a container that runc failed to
// signal has exited. runc refuses to signal a container whose process has
// already ended ("container not running") before conmon has written its exit
// file, so the exit is waited for (at most Options.KillTimeout) rather than
// taken from the record at once.
func (r *Runtime) exitedAfterFailedKill(ctx context.Context, id string) bool {
	return r.waitExit(ctx, id, r.opts.KillTimeout)
}

// waitExit waits up to timeout (and ctx) for the container to be seen exited.
// conmon writes the exit file, then ends: the wait is for conmon to end
// (for the container's process when conmon is gone), looking at the
// record again at least every waitExitRecheck in case neither ends.
func (r *Runtime) waitExit(ctx context.Context, id string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		c, ok := r.observe(id)
		if !ok || c.Exited {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 || ctx.Err() != nil {
			return false
		}
		pid := c.ConmonPID
		if !processAlive(pid) {
			pid = c.InitPID
		}
		if !processAlive(pid) {
			// Nothing left to wait on, yet no exit seen: look again
			// shortly rather than spin.
			select {
			case <-ctx.Done():
			case <-time.After(min(left, 10*time.Millisecond)):
			}
			continue
		}
		waitPID(ctx, pid, min(left, waitExitRecheck))
	}
}

// waitExitRecheck bounds each wait of waitExit for a process to end.
const waitExitRecheck = 250 * time.Millisecond

// RemoveContainer implements kubelet.Runtime: it kills the container if it
// runs, deletes its runc state and cgroup, waits for its conmon, unmounts its
// root filesystem and removes its bundle, exit file and log.
func (r *Runtime) RemoveContainer(ctx context.Context, containerID string) error {
	c, ok := r.observe(containerID)
	if !ok {
		return nil
	}
	if err := r.killAndWait(ctx, &c); err != nil {
		return fmt.Errorf("remove container %q: %w", containerID, err)
	}
	c, _ = r.observe(containerID)
	if _, err := os.Stat(filepath.Join(r.runcRoot(), containerID)); err == nil {
		if out, err := r.runc(ctx, "delete", "--force", containerID); err != nil && !strings.Contains(string(out), "does not exist") {
			return fmt.Errorf("remove container %q: %w", containerID, err)
		}
	}
	waitPID(ctx, c.ConmonPID, r.opts.KillTimeout)
	var errs []error
	errs = append(errs, removeAllUnmounted(r.bundleDir(containerID)))
	for _, p := range []string{r.exitFile(containerID), filepath.Join(r.root, dirAttach, containerID), c.LogPath} {
		if p == "" {
			continue
		}
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	if c.LogPath != "" {
		_ = os.Remove(filepath.Dir(c.LogPath)) // only if empty
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove container %q: %w", containerID, err)
	}
	r.mu.Lock()
	delete(r.containers, containerID)
	r.mu.Unlock()
	r.emit(kubelet.ContainerDeletedEvent, &c)
	return nil
}

// deleteRuncState removes whatever runc holds of the container (killing its
// process), logging failures: for cleanups on error paths.
func (r *Runtime) deleteRuncState(ctx context.Context, id string) {
	if _, err := os.Stat(filepath.Join(r.runcRoot(), id)); err != nil {
		return
	}
	if _, err := r.runc(ctx, "delete", "--force", id); err != nil {
		r.opts.Logger.Error("delete runc state", "id", id, "err", err)
	}
}
