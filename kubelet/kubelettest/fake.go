package kubelettest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"

	"github.com/nodekit/nodekit/kubelet"
)

// Op names a Runtime method, for failure and latency injection and for the
// call log.
type Op string

// The operations of kubelet.Runtime.
const (
	OpRunPodSandbox    Op = "RunPodSandbox"
	OpStopPodSandbox   Op = "StopPodSandbox"
	OpRemovePodSandbox Op = "RemovePodSandbox"
	OpPodSandboxStatus Op = "PodSandboxStatus"
	OpListPodSandboxes Op = "ListPodSandboxes"
	OpCreateContainer  Op = "CreateContainer"
	OpStartContainer   Op = "StartContainer"
	OpStopContainer    Op = "StopContainer"
	OpRemoveContainer  Op = "RemoveContainer"
	OpContainerStatus  Op = "ContainerStatus"
	OpListContainers   Op = "ListContainers"
	OpExecSync         Op = "ExecSync"
)

// Hang, given as a latency, makes calls block until their context is done.
const Hang time.Duration = -1

// Exit codes the fake reports for stopped containers, as a real runtime
// does for processes killed by SIGTERM and SIGKILL.
const (
	ExitCodeSIGTERM int32 = 143
	ExitCodeSIGKILL int32 = 137
)

// Call records one mutating call (or exec) made to the fake.
type Call struct {
	Op     Op
	PodUID types.UID
	// Name is the container name for container operations, empty for
	// sandbox operations.
	Name string
	// Attempt is the container's attempt (restart count) or the sandbox's.
	Attempt uint32
	// GracePeriod is set for StopContainer.
	GracePeriod time.Duration
	// Cmd is set for ExecSync.
	Cmd []string
}

// String renders the call on one line, for golden comparisons.
func (c Call) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s pod=%s", c.Op, c.PodUID)
	if c.Name != "" {
		fmt.Fprintf(&b, " container=%s", c.Name)
	}
	fmt.Fprintf(&b, " attempt=%d", c.Attempt)
	if c.Op == OpStopContainer {
		fmt.Fprintf(&b, " grace=%s", c.GracePeriod)
	}
	if len(c.Cmd) > 0 {
		fmt.Fprintf(&b, " cmd=%q", c.Cmd)
	}
	return b.String()
}

// ExecHandler answers ExecSync calls. The default handler returns exit code 0.
type ExecHandler func(ctx context.Context, c kubelet.ContainerStatus, cmd []string) (kubelet.ExecResult, error)

type fault struct {
	op        Op
	podUID    types.UID
	err       error
	remaining int // 0: until cleared
}

// podIndex lists the objects of one pod, so that per-pod calls do not scan
// the whole runtime.
type podIndex struct {
	sandboxes  map[string]*kubelet.SandboxStatus
	containers map[string]*kubelet.ContainerStatus
}

func (f *FakeRuntime) indexLocked(uid types.UID) *podIndex {
	ix := f.byPod[uid]
	if ix == nil {
		ix = &podIndex{sandboxes: map[string]*kubelet.SandboxStatus{}, containers: map[string]*kubelet.ContainerStatus{}}
		f.byPod[uid] = ix
	}
	return ix
}

func (f *FakeRuntime) unindexLocked(uid types.UID) {
	if ix := f.byPod[uid]; ix != nil && len(ix.sandboxes) == 0 && len(ix.containers) == 0 {
		delete(f.byPod, uid)
	}
}

type latencyKey struct {
	op     Op
	podUID types.UID
}

type behaviourKey struct {
	podUID types.UID
	name   string
}

// FakeRuntime is an in-memory kubelet.Runtime that behaves like a real CRI
// runtime: sandboxes and containers follow the CRI state machines, invalid
// transitions fail with the same errors, IPs are allocated per sandbox, and
// stopping a sandbox kills its containers. Tests drive it with ExitContainer,
// SetAutoExit, InjectError and SetLatency, and inspect it with Dump and Calls.
//
// FakeRuntime is safe for concurrent use. Its zero value is not usable; call
// NewFakeRuntime.
type FakeRuntime struct {
	clock clock.PassiveClock

	mu            sync.Mutex
	nextID        int
	nextIP        int
	sandboxes     map[string]*kubelet.SandboxStatus
	containers    map[string]*kubelet.ContainerStatus
	byPod         map[types.UID]*podIndex
	faults        []*fault
	latency       map[latencyKey]time.Duration
	missingImages map[string]bool
	ignoreTerm    map[behaviourKey]bool
	autoExit      map[behaviourKey]int32
	exec          ExecHandler
	calls         []Call
	subscribers   map[chan kubelet.ContainerEvent]struct{}
	blocked       int
}

var (
	_ kubelet.Runtime     = (*FakeRuntime)(nil)
	_ kubelet.EventSource = (*FakeRuntime)(nil)
)

// NewFakeRuntime returns an empty fake whose timestamps come from clk
// (clock.RealClock{} when nil).
func NewFakeRuntime(clk clock.PassiveClock) *FakeRuntime {
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &FakeRuntime{
		clock:         clk,
		sandboxes:     map[string]*kubelet.SandboxStatus{},
		containers:    map[string]*kubelet.ContainerStatus{},
		byPod:         map[types.UID]*podIndex{},
		latency:       map[latencyKey]time.Duration{},
		missingImages: map[string]bool{},
		ignoreTerm:    map[behaviourKey]bool{},
		autoExit:      map[behaviourKey]int32{},
		subscribers:   map[chan kubelet.ContainerEvent]struct{}{},
	}
}

// Name returns "fake".
func (f *FakeRuntime) Name() string { return "fake" }

// InjectError makes the next `times` calls of op on pod podUID (any pod when
// empty) fail with err; times <= 0 means every call until ClearErrors.
func (f *FakeRuntime) InjectError(op Op, podUID types.UID, err error, times int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, &fault{op: op, podUID: podUID, err: err, remaining: max(times, 0)})
}

// Blocked returns how many calls are currently delayed by SetLatency.
func (f *FakeRuntime) Blocked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.blocked
}

// ClearErrors removes every injected error.
func (f *FakeRuntime) ClearErrors() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = nil
}

// SetLatency delays every call of op on pod podUID (any pod when empty) by d
// of real time, or blocks it until its context is done when d is Hang. A
// delayed call returns the context's error if the context ends first, without
// acting. Zero removes the latency.
func (f *FakeRuntime) SetLatency(op Op, podUID types.UID, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d == 0 {
		delete(f.latency, latencyKey{op, podUID})
		return
	}
	f.latency[latencyKey{op, podUID}] = d
}

// SetImageMissing makes CreateContainer with this image fail with
// kubelet.ErrImagePull (missing true) or succeed again (false).
func (f *FakeRuntime) SetImageMissing(image string, missing bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if missing {
		f.missingImages[image] = true
	} else {
		delete(f.missingImages, image)
	}
}

// SetIgnoreSIGTERM makes containers named name of pod podUID (any pod when
// empty) ignore SIGTERM: StopContainer then kills them with SIGKILL at the
// end of the grace period and they exit with ExitCodeSIGKILL.
func (f *FakeRuntime) SetIgnoreSIGTERM(podUID types.UID, name string, ignore bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ignoreTerm[behaviourKey{podUID, name}] = ignore
}

// SetAutoExit makes containers named name of pod podUID (any pod when empty)
// exit with exitCode as soon as they are started, like a command that
// returns at once. Use it for init containers.
func (f *FakeRuntime) SetAutoExit(podUID types.UID, name string, exitCode int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.autoExit[behaviourKey{podUID, name}] = exitCode
}

// ClearAutoExit undoes SetAutoExit.
func (f *FakeRuntime) ClearAutoExit(podUID types.UID, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.autoExit, behaviourKey{podUID, name})
}

// SetExecHandler installs the handler for ExecSync (nil restores the default,
// which exits 0 with no output).
func (f *FakeRuntime) SetExecHandler(h ExecHandler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.exec = h
}

// ExitContainer makes a running container exit with exitCode. The reason is
// reason if not empty, else "Completed" for 0 and "Error" otherwise.
func (f *FakeRuntime) ExitContainer(containerID string, exitCode int32, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[containerID]
	if !ok {
		return fmt.Errorf("container %q: %w", containerID, kubelet.ErrNotFound)
	}
	if c.State != kubelet.ContainerRunning {
		return fmt.Errorf("container %q is %s, not running: %w", containerID, c.State, kubelet.ErrInvalidState)
	}
	f.exitLocked(c, exitCode, reason)
	return nil
}

// ExitByName makes the running container named name of pod podUID exit, as
// ExitContainer does.
func (f *FakeRuntime) ExitByName(podUID types.UID, name string, exitCode int32, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ix := f.byPod[podUID]; ix != nil {
		for _, c := range ix.containers {
			if c.Name == name && c.State == kubelet.ContainerRunning {
				f.exitLocked(c, exitCode, reason)
				return nil
			}
		}
	}
	return fmt.Errorf("no running container %q in pod %q: %w", name, podUID, kubelet.ErrNotFound)
}

// MarkUnknown puts a container in the Unknown state, as a runtime does when
// it lost track of the process (for example after its shim died).
func (f *FakeRuntime) MarkUnknown(containerID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[containerID]
	if !ok {
		return fmt.Errorf("container %q: %w", containerID, kubelet.ErrNotFound)
	}
	c.State = kubelet.ContainerUnknown
	return nil
}

// Calls returns the mutating calls (and execs) made so far, in order.
func (f *FakeRuntime) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// ResetCalls forgets the recorded calls.
func (f *FakeRuntime) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

// Containers returns a copy of every container, sorted by pod, name and
// attempt.
func (f *FakeRuntime) Containers() []kubelet.ContainerStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]kubelet.ContainerStatus, 0, len(f.containers))
	for _, c := range f.containers {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.PodUID != b.PodUID {
			return a.PodUID < b.PodUID
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Attempt != b.Attempt {
			return a.Attempt < b.Attempt
		}
		return a.CreatedAt.Before(b.CreatedAt)
	})
	return out
}

// Sandboxes returns a copy of every sandbox, sorted by pod and attempt.
func (f *FakeRuntime) Sandboxes() []kubelet.SandboxStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]kubelet.SandboxStatus, 0, len(f.sandboxes))
	for _, s := range f.sandboxes {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.PodNamespace+"/"+a.PodName != b.PodNamespace+"/"+b.PodName {
			return a.PodNamespace+"/"+a.PodName < b.PodNamespace+"/"+b.PodName
		}
		if a.PodUID != b.PodUID {
			return a.PodUID < b.PodUID
		}
		return a.Attempt < b.Attempt
	})
	return out
}

// Dump renders the whole state deterministically (IDs, which depend on the
// order of concurrent calls, are left out): one line per sandbox, then one
// indented line per container of it.
func (f *FakeRuntime) Dump() string {
	sandboxes := f.Sandboxes()
	containers := f.Containers()
	var b strings.Builder
	for _, s := range sandboxes {
		fmt.Fprintf(&b, "sandbox %s/%s uid=%s attempt=%d state=%s", s.PodNamespace, s.PodName, s.PodUID, s.Attempt, s.State)
		if len(s.IPs) > 0 {
			fmt.Fprintf(&b, " ips=%s", strings.Join(s.IPs, ","))
		}
		b.WriteByte('\n')
		for _, c := range containers {
			if c.SandboxID != s.ID {
				continue
			}
			fmt.Fprintf(&b, "  container %s attempt=%d state=%s", c.Name, c.Attempt, c.State)
			if c.State == kubelet.ContainerExited {
				fmt.Fprintf(&b, " exit=%d reason=%s", c.ExitCode, c.Reason)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// ContainerEvents implements kubelet.EventSource. Events are sent without
// blocking; a subscriber that does not keep up loses events (the engine's
// relist repairs that, as with a real runtime).
func (f *FakeRuntime) ContainerEvents(ctx context.Context) <-chan kubelet.ContainerEvent {
	ch := make(chan kubelet.ContainerEvent, 1024)
	f.mu.Lock()
	f.subscribers[ch] = struct{}{}
	f.mu.Unlock()
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		delete(f.subscribers, ch)
		close(ch)
		f.mu.Unlock()
	}()
	return ch
}

func (f *FakeRuntime) emitLocked(t kubelet.ContainerEventType, c *kubelet.ContainerStatus) {
	ev := kubelet.ContainerEvent{Type: t, ContainerID: c.ID, SandboxID: c.SandboxID, PodUID: c.PodUID}
	for ch := range f.subscribers {
		select {
		case ch <- ev:
		default:
		}
	}
}

// enter applies latency and injected faults for a call. It must be called
// without f.mu held.
func (f *FakeRuntime) enter(ctx context.Context, op Op, podUID types.UID) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	d, ok := f.latency[latencyKey{op, podUID}]
	if !ok {
		d = f.latency[latencyKey{op, ""}]
	}
	f.mu.Unlock()
	if d == Hang || d > 0 {
		f.mu.Lock()
		f.blocked++
		f.mu.Unlock()
		var wait <-chan time.Time
		if d > 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			wait = t.C
		}
		var err error
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-wait:
		}
		f.mu.Lock()
		f.blocked--
		f.mu.Unlock()
		if err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, flt := range f.faults {
		if flt.op != op || (flt.podUID != "" && flt.podUID != podUID) {
			continue
		}
		if flt.remaining > 0 {
			flt.remaining--
			if flt.remaining == 0 {
				f.faults = slices.Delete(f.faults, i, i+1)
			}
		}
		return fmt.Errorf("injected %s failure: %w", op, flt.err)
	}
	return nil
}

func (f *FakeRuntime) podOfSandbox(id string) types.UID {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.sandboxes[id]; ok {
		return s.PodUID
	}
	return ""
}

func (f *FakeRuntime) podOfContainer(id string) types.UID {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.containers[id]; ok {
		return c.PodUID
	}
	return ""
}

func (f *FakeRuntime) newIDLocked(prefix string) string {
	f.nextID++
	return fmt.Sprintf("%s%08d", prefix, f.nextID)
}

// RunPodSandbox implements kubelet.Runtime.
func (f *FakeRuntime) RunPodSandbox(ctx context.Context, config *kubelet.SandboxConfig) (string, error) {
	if config == nil {
		return "", fmt.Errorf("RunPodSandbox: nil config: %w", kubelet.ErrInvalidState)
	}
	if config.PodUID == "" || config.PodName == "" || config.PodNamespace == "" {
		return "", fmt.Errorf("RunPodSandbox: pod uid, name and namespace are required (got %q %q %q)", config.PodUID, config.PodName, config.PodNamespace)
	}
	if err := f.enter(ctx, OpRunPodSandbox, config.PodUID); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := &kubelet.SandboxStatus{
		ID:           f.newIDLocked("sandbox-"),
		PodUID:       config.PodUID,
		PodName:      config.PodName,
		PodNamespace: config.PodNamespace,
		Attempt:      config.Attempt,
		State:        kubelet.SandboxReady,
		CreatedAt:    f.clock.Now(),
		HostNetwork:  config.HostNetwork,
		Labels:       maps.Clone(config.Labels),
		Annotations:  maps.Clone(config.Annotations),
	}
	if !config.HostNetwork {
		f.nextIP++
		s.IPs = []string{fmt.Sprintf("10.88.%d.%d", (f.nextIP/250)%256, f.nextIP%250+2)}
	}
	f.sandboxes[s.ID] = s
	f.indexLocked(s.PodUID).sandboxes[s.ID] = s
	f.calls = append(f.calls, Call{Op: OpRunPodSandbox, PodUID: s.PodUID, Attempt: s.Attempt})
	return s.ID, nil
}

// StopPodSandbox implements kubelet.Runtime.
func (f *FakeRuntime) StopPodSandbox(ctx context.Context, sandboxID string) error {
	if err := f.enter(ctx, OpStopPodSandbox, f.podOfSandbox(sandboxID)); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sandboxes[sandboxID]
	if !ok {
		return fmt.Errorf("sandbox %q: %w", sandboxID, kubelet.ErrNotFound)
	}
	for _, c := range f.indexLocked(s.PodUID).containers {
		if c.SandboxID == sandboxID && c.State == kubelet.ContainerRunning {
			f.exitLocked(c, ExitCodeSIGKILL, "")
		}
	}
	s.State = kubelet.SandboxNotReady
	s.IPs = nil
	f.calls = append(f.calls, Call{Op: OpStopPodSandbox, PodUID: s.PodUID, Attempt: s.Attempt})
	return nil
}

// RemovePodSandbox implements kubelet.Runtime.
func (f *FakeRuntime) RemovePodSandbox(ctx context.Context, sandboxID string) error {
	if err := f.enter(ctx, OpRemovePodSandbox, f.podOfSandbox(sandboxID)); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sandboxes[sandboxID]
	if !ok {
		return nil
	}
	ix := f.indexLocked(s.PodUID)
	for id, c := range ix.containers {
		if c.SandboxID == sandboxID {
			delete(f.containers, id)
			delete(ix.containers, id)
			f.emitLocked(kubelet.ContainerDeletedEvent, c)
		}
	}
	delete(f.sandboxes, sandboxID)
	delete(ix.sandboxes, sandboxID)
	f.unindexLocked(s.PodUID)
	f.calls = append(f.calls, Call{Op: OpRemovePodSandbox, PodUID: s.PodUID, Attempt: s.Attempt})
	return nil
}

// PodSandboxStatus implements kubelet.Runtime.
func (f *FakeRuntime) PodSandboxStatus(ctx context.Context, sandboxID string) (*kubelet.SandboxStatus, error) {
	if err := f.enter(ctx, OpPodSandboxStatus, f.podOfSandbox(sandboxID)); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sandboxes[sandboxID]
	if !ok {
		return nil, fmt.Errorf("sandbox %q: %w", sandboxID, kubelet.ErrNotFound)
	}
	cp := *s
	return &cp, nil
}

// ListPodSandboxes implements kubelet.Runtime.
func (f *FakeRuntime) ListPodSandboxes(ctx context.Context, filter kubelet.SandboxFilter) ([]*kubelet.SandboxStatus, error) {
	if err := f.enter(ctx, OpListPodSandboxes, filter.PodUID); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	all := f.sandboxes
	if filter.PodUID != "" {
		all = nil
		if ix := f.byPod[filter.PodUID]; ix != nil {
			all = ix.sandboxes
		}
	}
	// One backing array for all copies: one allocation per call.
	buf := make([]kubelet.SandboxStatus, 0, len(all))
	for _, s := range all {
		if (filter.PodUID != "" && s.PodUID != filter.PodUID) || (filter.State != "" && s.State != filter.State) {
			continue
		}
		buf = append(buf, *s)
	}
	out := make([]*kubelet.SandboxStatus, len(buf))
	for i := range buf {
		out[i] = &buf[i]
	}
	return out, nil
}

// CreateContainer implements kubelet.Runtime.
func (f *FakeRuntime) CreateContainer(ctx context.Context, sandboxID string, config *kubelet.ContainerConfig) (string, error) {
	if config == nil || config.Name == "" || config.Image == "" {
		return "", fmt.Errorf("CreateContainer in sandbox %q: container name and image are required", sandboxID)
	}
	if err := f.enter(ctx, OpCreateContainer, f.podOfSandbox(sandboxID)); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sandboxes[sandboxID]
	if !ok {
		return "", fmt.Errorf("CreateContainer %q: sandbox %q: %w", config.Name, sandboxID, kubelet.ErrNotFound)
	}
	if s.State != kubelet.SandboxReady {
		return "", fmt.Errorf("CreateContainer %q: sandbox %q is not ready: %w", config.Name, sandboxID, kubelet.ErrInvalidState)
	}
	if f.missingImages[config.Image] {
		return "", fmt.Errorf("pull image %q: not found: %w", config.Image, kubelet.ErrImagePull)
	}
	for _, c := range f.indexLocked(s.PodUID).containers {
		if c.SandboxID == sandboxID && c.Name == config.Name && c.Attempt == config.Attempt {
			return "", fmt.Errorf("container %q attempt %d in sandbox %q: %w", config.Name, config.Attempt, sandboxID, kubelet.ErrAlreadyExists)
		}
	}
	c := &kubelet.ContainerStatus{
		ID:          f.newIDLocked("container-"),
		SandboxID:   sandboxID,
		PodUID:      s.PodUID,
		Name:        config.Name,
		Attempt:     config.Attempt,
		State:       kubelet.ContainerCreated,
		CreatedAt:   f.clock.Now(),
		Image:       config.Image,
		ImageRef:    "sha256:" + fmt.Sprintf("%064x", hashString(config.Image)),
		Labels:      maps.Clone(config.Labels),
		Annotations: maps.Clone(config.Annotations),
	}
	f.containers[c.ID] = c
	f.indexLocked(c.PodUID).containers[c.ID] = c
	f.calls = append(f.calls, Call{Op: OpCreateContainer, PodUID: c.PodUID, Name: c.Name, Attempt: c.Attempt})
	f.emitLocked(kubelet.ContainerCreatedEvent, c)
	return c.ID, nil
}

func hashString(s string) uint64 {
	var h uint64 = 14695981039346656037
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// StartContainer implements kubelet.Runtime.
func (f *FakeRuntime) StartContainer(ctx context.Context, containerID string) error {
	if err := f.enter(ctx, OpStartContainer, f.podOfContainer(containerID)); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[containerID]
	if !ok {
		return fmt.Errorf("container %q: %w", containerID, kubelet.ErrNotFound)
	}
	if c.State != kubelet.ContainerCreated {
		return fmt.Errorf("start container %q: state is %s, not created: %w", containerID, c.State, kubelet.ErrInvalidState)
	}
	if s := f.sandboxes[c.SandboxID]; s == nil || s.State != kubelet.SandboxReady {
		return fmt.Errorf("start container %q: sandbox %q is not ready: %w", containerID, c.SandboxID, kubelet.ErrInvalidState)
	}
	c.State = kubelet.ContainerRunning
	c.StartedAt = f.clock.Now()
	f.calls = append(f.calls, Call{Op: OpStartContainer, PodUID: c.PodUID, Name: c.Name, Attempt: c.Attempt})
	f.emitLocked(kubelet.ContainerStartedEvent, c)
	code, ok := f.autoExit[behaviourKey{c.PodUID, c.Name}]
	if !ok {
		code, ok = f.autoExit[behaviourKey{"", c.Name}]
	}
	if ok {
		f.exitLocked(c, code, "")
	}
	return nil
}

func (f *FakeRuntime) exitLocked(c *kubelet.ContainerStatus, code int32, reason string) {
	if reason == "" {
		reason = kubelet.ReasonError
		if code == 0 {
			reason = kubelet.ReasonCompleted
		}
	}
	c.State = kubelet.ContainerExited
	c.ExitCode = code
	c.Reason = reason
	c.FinishedAt = f.clock.Now()
	f.emitLocked(kubelet.ContainerStoppedEvent, c)
}

// StopContainer implements kubelet.Runtime. The container exits at once with
// ExitCodeSIGTERM, or with ExitCodeSIGKILL if it ignores SIGTERM (the fake does
// not wait out the grace period; the grace period is recorded in Calls).
func (f *FakeRuntime) StopContainer(ctx context.Context, containerID string, gracePeriod time.Duration) error {
	if err := f.enter(ctx, OpStopContainer, f.podOfContainer(containerID)); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[containerID]
	if !ok {
		return fmt.Errorf("container %q: %w", containerID, kubelet.ErrNotFound)
	}
	f.calls = append(f.calls, Call{Op: OpStopContainer, PodUID: c.PodUID, Name: c.Name, Attempt: c.Attempt, GracePeriod: gracePeriod})
	switch c.State {
	case kubelet.ContainerRunning:
		code := ExitCodeSIGTERM
		if f.ignoreTerm[behaviourKey{c.PodUID, c.Name}] || f.ignoreTerm[behaviourKey{"", c.Name}] {
			code = ExitCodeSIGKILL
		}
		f.exitLocked(c, code, "")
	case kubelet.ContainerCreated, kubelet.ContainerUnknown:
		f.exitLocked(c, ExitCodeSIGKILL, "")
	}
	return nil
}

// RemoveContainer implements kubelet.Runtime.
func (f *FakeRuntime) RemoveContainer(ctx context.Context, containerID string) error {
	if err := f.enter(ctx, OpRemoveContainer, f.podOfContainer(containerID)); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[containerID]
	if !ok {
		return nil
	}
	delete(f.containers, containerID)
	if ix := f.byPod[c.PodUID]; ix != nil {
		delete(ix.containers, containerID)
		f.unindexLocked(c.PodUID)
	}
	f.calls = append(f.calls, Call{Op: OpRemoveContainer, PodUID: c.PodUID, Name: c.Name, Attempt: c.Attempt})
	f.emitLocked(kubelet.ContainerDeletedEvent, c)
	return nil
}

// ContainerStatus implements kubelet.Runtime.
func (f *FakeRuntime) ContainerStatus(ctx context.Context, containerID string) (*kubelet.ContainerStatus, error) {
	if err := f.enter(ctx, OpContainerStatus, f.podOfContainer(containerID)); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[containerID]
	if !ok {
		return nil, fmt.Errorf("container %q: %w", containerID, kubelet.ErrNotFound)
	}
	cp := *c
	return &cp, nil
}

// ListContainers implements kubelet.Runtime.
func (f *FakeRuntime) ListContainers(ctx context.Context, filter kubelet.ContainerFilter) ([]*kubelet.ContainerStatus, error) {
	if err := f.enter(ctx, OpListContainers, filter.PodUID); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	all := f.containers
	if filter.PodUID != "" {
		all = nil
		if ix := f.byPod[filter.PodUID]; ix != nil {
			all = ix.containers
		}
	}
	buf := make([]kubelet.ContainerStatus, 0, len(all))
	for _, c := range all {
		if (filter.PodUID != "" && c.PodUID != filter.PodUID) ||
			(filter.SandboxID != "" && c.SandboxID != filter.SandboxID) ||
			(filter.State != "" && c.State != filter.State) {
			continue
		}
		buf = append(buf, *c)
	}
	out := make([]*kubelet.ContainerStatus, len(buf))
	for i := range buf {
		out[i] = &buf[i]
	}
	return out, nil
}

// ExecSync implements kubelet.Runtime.
func (f *FakeRuntime) ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (kubelet.ExecResult, error) {
	if len(cmd) == 0 {
		return kubelet.ExecResult{}, fmt.Errorf("exec in container %q: empty command", containerID)
	}
	if err := f.enter(ctx, OpExecSync, f.podOfContainer(containerID)); err != nil {
		return kubelet.ExecResult{}, err
	}
	f.mu.Lock()
	c, ok := f.containers[containerID]
	if !ok {
		f.mu.Unlock()
		return kubelet.ExecResult{}, fmt.Errorf("container %q: %w", containerID, kubelet.ErrNotFound)
	}
	if c.State != kubelet.ContainerRunning {
		f.mu.Unlock()
		return kubelet.ExecResult{}, fmt.Errorf("exec in container %q: state is %s, not running: %w", containerID, c.State, kubelet.ErrInvalidState)
	}
	f.calls = append(f.calls, Call{Op: OpExecSync, PodUID: c.PodUID, Name: c.Name, Attempt: c.Attempt, Cmd: slices.Clone(cmd)})
	h := f.exec
	cp := *c
	f.mu.Unlock()
	if h == nil {
		return kubelet.ExecResult{}, nil
	}
	if timeout > 0 {
		tctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		res, err := h(tctx, cp, cmd)
		if err != nil && ctx.Err() == nil && errors.Is(tctx.Err(), context.DeadlineExceeded) {
			// As a real runtime: the command outlived its timeout.
			err = fmt.Errorf("exec %q in container %q: after %s: %w", cmd, containerID, timeout, kubelet.ErrExecTimeout)
		}
		return res, err
	}
	return h(ctx, cp, cmd)
}
