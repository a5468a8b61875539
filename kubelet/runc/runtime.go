package runc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/nodekit/nodekit/kubelet"
)

// RuntimeName is the name of the runtime, the scheme of its container IDs in
// pod statuses ("runc://<id>").
const RuntimeName = "runc"

// Runtime is a kubelet.Runtime that runs pods with runc, conmon and CNI,
// keeping all of its state below one root directory. It also implements
// kubelet.EventSource.
//
// A Runtime is safe for concurrent use. Several Runtimes may share a machine
// as long as their root directories differ; two Runtimes on the same root at
// the same time are not supported (one after the other is: that is how a
// restarted program adopts its pods).
type Runtime struct {
	root       string
	opts       Options
	runcPath   string
	conmonPath string
	net        *network
	noSwap     bool
	qos        *qosCgroups

	mu         sync.Mutex
	sandboxes  map[string]*sandboxRecord
	containers map[string]*containerRecord
	// starting holds the containers a StartContainer call is starting.
	starting map[string]bool

	subMu sync.Mutex
	subs  map[chan kubelet.ContainerEvent]struct{}
}

var (
	_ kubelet.Runtime     = (*Runtime)(nil)
	_ kubelet.EventSource = (*Runtime)(nil)
)

// New returns a Runtime keeping its state below root (an absolute path,
// created if missing). It adopts the sandboxes and containers a previous
// Runtime left there: running containers keep running and are listed with
// their labels and annotations, exited ones with their exit codes.
func New(root string, opts Options) (*Runtime, error) {
	if !filepath.IsAbs(root) {
		return nil, fmt.Errorf("root %q must be an absolute path: %w", root, ErrInvalidOptions)
	}
	root = filepath.Clean(root)
	if opts.Images == nil {
		return nil, fmt.Errorf("Options.Images is required: %w", ErrInvalidOptions)
	}
	opts = opts.withDefaults(root)
	runcPath, err := exec.LookPath(opts.RuncPath)
	if err != nil {
		return nil, fmt.Errorf("runc %q: %w: %w", opts.RuncPath, ErrInvalidOptions, err)
	}
	conmonPath, err := exec.LookPath(opts.ConmonPath)
	if err != nil {
		return nil, fmt.Errorf("conmon %q: %w: %w", opts.ConmonPath, ErrInvalidOptions, err)
	}
	if !filepath.IsAbs(opts.CgroupRoot) {
		return nil, fmt.Errorf("Options.CgroupRoot %q must be absolute: %w", opts.CgroupRoot, ErrInvalidOptions)
	}
	if err := checkKubepodsResources(opts.KubepodsResources); err != nil {
		return nil, err
	}
	netw, err := newNetwork(opts.Network)
	if err != nil {
		return nil, err
	}
	r := &Runtime{
		root:       root,
		opts:       opts,
		runcPath:   runcPath,
		conmonPath: conmonPath,
		net:        netw,
		sandboxes:  map[string]*sandboxRecord{},
		containers: map[string]*containerRecord{},
		starting:   map[string]bool{},
		subs:       map[chan kubelet.ContainerEvent]struct{}{},
		qos:        newQOSCgroups(opts.CgroupFSRoot, opts.CgroupRoot),
	}
	// Without swap accounting (no memory.memsw files on cgroup v1), runc
	// refuses a memory+swap limit.
	if _, err := os.Stat(filepath.Join(opts.CgroupFSRoot, "memory")); err == nil {
		if _, err := os.Stat(filepath.Join(opts.CgroupFSRoot, "memory", "memory.memsw.limit_in_bytes")); err != nil {
			r.noSwap = true
		}
	}
	for _, d := range []string{dirRunc, dirSandboxes, dirContainers, dirExits, dirAttach, dirPodLogs, dirKubelet, "cni"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o711); err != nil {
			return nil, fmt.Errorf("state directory: %w", err)
		}
	}
	// The kubelet fails to start when it cannot set up the node's
	// allocatable cgroup (a memory limit below what the pods use now).
	if err := writeKubepodsCgroup(opts.CgroupFSRoot, opts.CgroupRoot, opts.KubepodsResources); err != nil {
		return nil, err
	}
	if err := r.load(); err != nil {
		return nil, err
	}
	// The kubelet brings its QoS cgroups up to date when it starts.
	if err := r.qos.restore(r.sandboxes); err != nil {
		r.opts.Logger.Error("update QoS cgroups", "err", err)
	}
	return r, nil
}

// Name implements kubelet.Runtime.
func (r *Runtime) Name() string { return RuntimeName }

// Root returns the state directory.
func (r *Runtime) Root() string { return r.root }

// load reads the records left by a previous Runtime. A directory without its
// record is what a crash in the middle of a creation leaves: it is unmounted
// and removed.
func (r *Runtime) load() error {
	sbs, err := os.ReadDir(filepath.Join(r.root, dirSandboxes))
	if err != nil {
		return fmt.Errorf("load sandboxes: %w", err)
	}
	for _, e := range sbs {
		if !validID(e.Name()) {
			continue
		}
		var sb sandboxRecord
		err := readJSON(filepath.Join(r.sandboxDir(e.Name()), fileSandbox), &sb)
		if errors.Is(err, fs.ErrNotExist) {
			if err := removeAllUnmounted(r.sandboxDir(e.Name())); err != nil {
				r.opts.Logger.Error("remove incomplete sandbox", "id", e.Name(), "err", err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("load sandbox %s: %w", e.Name(), err)
		}
		if sb.NetworkPending {
			// The process that ran the CNI ADD is gone with its outcome:
			// the engine makes a new sandbox (this one's DEL still runs).
			sb.NetworkPending = false
			sb.State = kubelet.SandboxNotReady
		}
		r.sandboxes[sb.ID] = &sb
	}
	cs, err := os.ReadDir(filepath.Join(r.root, dirContainers))
	if err != nil {
		return fmt.Errorf("load containers: %w", err)
	}
	for _, e := range cs {
		if !validID(e.Name()) {
			continue
		}
		var c containerRecord
		err := readJSON(filepath.Join(r.bundleDir(e.Name()), fileContainer), &c)
		if errors.Is(err, fs.ErrNotExist) {
			if err := removeAllUnmounted(r.bundleDir(e.Name())); err != nil {
				r.opts.Logger.Error("remove incomplete container", "id", e.Name(), "err", err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("load container %s: %w", e.Name(), err)
		}
		r.containers[c.ID] = &c
	}
	return nil
}

// runc runs the runc binary with this runtime's --root and returns its
// combined output; a failure carries the output.
func (r *Runtime) runc(ctx context.Context, args ...string) ([]byte, error) {
	full := append([]string{"--root", r.runcRoot()}, args...)
	out, err := exec.CommandContext(ctx, r.runcPath, full...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("runc %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}
