package stats

import (
	"fmt"
	"os"
	"path"
	"sort"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodekit/nodekit/internal/cgrouplayout"
)

// DiscoveredCgroup is a pod or container cgroup found under kubepods.
type DiscoveredCgroup struct {
	// Path is the cgroup path, usable as Target.ID.
	Path string `json:"path"`
	// QOS is the pod's QoS class, from the cgroup name.
	QOS v1.PodQOSClass `json:"qos"`
	// PodUID is the pod's UID, from the cgroup name.
	PodUID types.UID `json:"podUID"`
	// ContainerID is the runtime's container ID for a container cgroup
	// (for example the hex ID in cri-containerd-<id>.scope); empty for the
	// pod-level cgroup.
	ContainerID string `json:"containerID,omitempty"`
	// PID is the first process listed in the cgroup's cgroup.procs, 0 if
	// none; it can serve as Target.PID for network figures.
	PID int `json:"pid,omitempty"`
}

// maxDiscoverDepth bounds the walk below a kubepods directory: QoS, pod,
// container (and one spare level for runtimes that nest).
const maxDiscoverDepth = 4

// Discover walks the kubepods hierarchy of the memory controller (or the
// unified hierarchy) in both the cgroupfs layout (/kubepods/burstable/pod<uid>/<id>)
// and the systemd layout (/kubepods.slice/kubepods-burstable.slice/
// kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope), using
// internal/cgrouplayout's parser, and returns the pod and container cgroups
// sorted by path. Conmon cgroups of CRI-O are skipped. Pod names are not in
// cgroup names: callers fill Target.Pod from the API server or runtime.
func (fs FS) Discover() ([]DiscoveredCgroup, error) {
	return fs.DiscoverUnder("/")
}

// DiscoverUnder is Discover for a kubelet started with --cgroup-root
// cgroupRoot (such as "/nodekit/node1"): it walks the kubepods hierarchy
// below that cgroup, and the paths it returns start with cgroupRoot. "" and
// "/" are the root of the hierarchy, as for Discover.
func (fs FS) DiscoverUnder(cgroupRoot string) ([]DiscoveredCgroup, error) {
	prefix := path.Clean("/" + cgroupRoot)
	if prefix == "/" {
		prefix = ""
	}
	root := fs.layout.Roots[ControllerMemory]
	if root == "" {
		root = fs.layout.Roots[ControllerCPUAcct]
	}
	if root == "" {
		return nil, fmt.Errorf("stats: Discover: %w", ErrNoController)
	}
	var out []DiscoveredCgroup
	top, err := os.ReadDir(root + prefix)
	if err != nil {
		return nil, fmt.Errorf("stats: Discover: %w", err)
	}
	for _, e := range top {
		if e.IsDir() && (e.Name() == cgrouplayout.KubepodsName || e.Name() == cgrouplayout.KubepodsName+".slice") {
			out = fs.walkKubepods(root, prefix+"/"+e.Name(), 0, out)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func (fs FS) walkKubepods(root, rel string, depth int, out []DiscoveredCgroup) []DiscoveredCgroup {
	if depth > maxDiscoverDepth {
		return out
	}
	entries, err := os.ReadDir(root + rel)
	if err != nil {
		return out // removed while walking
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		child := rel + "/" + e.Name()
		qos, uid, ok := cgrouplayout.ParsePodCgroup(child)
		if !ok {
			out = fs.walkKubepods(root, child, depth+1, out)
			continue
		}
		out = append(out, DiscoveredCgroup{Path: child, QOS: qos, PodUID: uid, PID: firstPID(root + child)})
		ctrs, err := os.ReadDir(root + child)
		if err != nil {
			continue
		}
		for _, c := range ctrs {
			id, ok := containerIDFromCgroup(c.Name())
			if !c.IsDir() || !ok {
				continue
			}
			p := child + "/" + c.Name()
			out = append(out, DiscoveredCgroup{Path: p, QOS: qos, PodUID: uid, ContainerID: id, PID: firstPID(root + p)})
		}
	}
	return out
}

// containerIDFromCgroup extracts the container ID from a container cgroup
// directory name: "<id>" (cgroupfs driver) or "<runtime>-<id>.scope"
// (systemd driver: cri-containerd-, crio-, docker-). CRI-O's
// crio-conmon-<id>.scope holds the monitor, not the container.
func containerIDFromCgroup(name string) (string, bool) {
	id := name
	if s, ok := strings.CutSuffix(name, ".scope"); ok {
		if strings.Contains(s, "conmon") {
			return "", false
		}
		i := strings.LastIndexByte(s, '-')
		if i < 0 {
			return "", false
		}
		id = s[i+1:]
	}
	if id == "" || len(id) > 128 || path.Base(id) != id {
		return "", false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return "", false
		}
	}
	return id, true
}

// firstPID returns the first pid of dir/cgroup.procs, 0 if none.
func firstPID(dir string) int {
	b, err := os.ReadFile(dir + "/cgroup.procs")
	if err != nil {
		return 0
	}
	line, _ := nextLine(b)
	v, ok := parseUint(trimSpace(line))
	if !ok || v > 1<<22 {
		return 0
	}
	return int(v)
}

// SyncDiscovered makes the Collector watch exactly the pod and container
// cgroups FS.DiscoverUnder(Options.CgroupRoot) finds now: new ones are
// added (resolve turns each into a Target, filling pod and container names
// it knows; nil resolve uses DefaultTarget), vanished ones are removed. Targets registered with Add are
// left alone. It returns the number of targets added and removed.
func (c *Collector) SyncDiscovered(resolve func(DiscoveredCgroup) Target) (added, removed int, err error) {
	found, err := c.fs.DiscoverUnder(c.opts.CgroupRoot)
	if err != nil {
		return 0, 0, err
	}
	if resolve == nil {
		resolve = DefaultTarget
	}
	present := make(map[string]bool, len(found))
	for _, d := range found {
		present[d.Path] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range found {
		if _, ok := c.targets[d.Path]; ok {
			continue
		}
		t := resolve(d)
		t.ID = d.Path
		if err := t.validate(); err != nil {
			return added, removed, fmt.Errorf("stats: SyncDiscovered: %w", err)
		}
		c.targets[t.ID] = &entry{target: t, history: newRing(c.opts.HistoryLength), discovered: true}
		added++
	}
	for id, e := range c.targets {
		if e.discovered && !present[id] {
			delete(c.targets, id)
			c.forget(e)
			removed++
		}
	}
	if added > 0 || removed > 0 {
		c.rebuildOrder()
	}
	return added, removed, nil
}

// DefaultTarget turns a discovered cgroup into a Target without names: the
// pod UID, the runtime container ID as Name, and the cgroup's first process
// for network figures. Container is set to the container ID, since the spec
// name is not in the cgroup.
func DefaultTarget(d DiscoveredCgroup) Target {
	return Target{ID: d.Path, PodUID: d.PodUID, Container: d.ContainerID, Name: d.ContainerID, PID: d.PID}
}
