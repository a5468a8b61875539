package manifest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Options configure a Source. The zero value of each field means its
// documented default.
type Options struct {
	// NodeName is set as spec.nodeName of every pod and is part of its UID.
	// Required.
	NodeName string
	// ServiceCIDR is where cluster IPs are allocated; the zero value means
	// DefaultServiceCIDR. Explicit cluster IPs must lie inside it.
	ServiceCIDR netip.Prefix
	// NodePortRange is where node ports are allocated; the zero value means
	// DefaultNodePortRange.
	NodePortRange PortRange
}

// Set is the content of a manifests directory: pods and services, each
// sorted by namespace and name. It is plain data owned by the caller.
type Set struct {
	Pods     []*v1.Pod
	Services []*v1.Service
}

// fileState is what a file contributed the last time it was good.
type fileState struct {
	modTime time.Time
	size    int64
	objects []object
	err     error
}

// Source reads and watches one manifests directory. It is safe for
// concurrent use.
type Source struct {
	dir  string
	opts Options

	mu    sync.Mutex
	files map[string]*fileState
	alloc *allocator
}

// NewSource returns a Source for dir.
func NewSource(dir string, opts Options) *Source {
	if !opts.ServiceCIDR.IsValid() {
		opts.ServiceCIDR = DefaultServiceCIDR
	}
	if opts.NodePortRange == (PortRange{}) {
		opts.NodePortRange = DefaultNodePortRange
	}
	return &Source{dir: dir, opts: opts, files: map[string]*fileState{}, alloc: newAllocator(opts.ServiceCIDR, opts.NodePortRange)}
}

// Load reads the directory now (re-reading only files whose size or
// modification time changed) and returns the complete set. The error joins
// one *DocumentError per refused file or object; the set holds everything
// else, including the last good content of refused files. An unreadable
// directory is an error with a nil Set.
func (s *Source) Load() (*Set, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.NodeName == "" {
		return nil, errors.New("manifest: Options.NodeName is required")
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	seen := map[string]bool{}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !isManifestName(name) {
			continue
		}
		path := filepath.Join(s.dir, name)
		info, err := os.Stat(path) // follows symlinks, as the kubelet does
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		seen[path] = true
		st := s.files[path]
		if st != nil && st.modTime.Equal(info.ModTime()) && st.size == info.Size() {
			if st.err != nil {
				errs = append(errs, st.err)
			}
			continue
		}
		objs, err := s.readFile(path)
		if st == nil {
			st = &fileState{}
			s.files[path] = st
		}
		st.modTime, st.size, st.err = info.ModTime(), info.Size(), err
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st.objects = objs
	}
	for path := range s.files {
		if !seen[path] {
			delete(s.files, path)
		}
	}
	set, setErrs := s.assemble()
	return set, errors.Join(append(errs, setErrs...)...)
}

func isManifestName(name string) bool {
	switch filepath.Ext(name) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// readFile decodes and prepares every object of a file; any error refuses
// the whole file.
func (s *Source) readFile(path string) ([]object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &DocumentError{File: path, Err: err}
	}
	objs, err := decodeFile(path, data)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		var err error
		if o.pod != nil {
			err = preparePod(o.pod, s.opts.NodeName)
		} else {
			err = prepareService(o.service, s.opts.ServiceCIDR)
		}
		if err != nil {
			var de *DocumentError
			if errors.As(err, &de) {
				de.File, de.Document = path, o.doc
				return nil, de
			}
			return nil, &DocumentError{File: path, Document: o.doc, Err: err}
		}
	}
	return objs, nil
}

// assemble merges the files' objects (files in name order; a duplicate name
// keeps the first), allocates IPs and ports, and returns deep copies.
func (s *Source) assemble() (*Set, []error) {
	paths := make([]string, 0, len(s.files))
	for p := range s.files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	var errs []error
	pods := map[types.NamespacedName]*v1.Pod{}
	svcs := map[types.NamespacedName]*v1.Service{}
	podFrom := map[types.NamespacedName]string{}
	svcFrom := map[types.NamespacedName]string{}
	for _, p := range paths {
		for _, o := range s.files[p].objects {
			if o.pod != nil {
				nn := types.NamespacedName{Namespace: o.pod.Namespace, Name: o.pod.Name}
				if prev, dup := podFrom[nn]; dup {
					errs = append(errs, &DocumentError{File: p, Document: o.doc, Kind: "Pod", Namespace: nn.Namespace, Name: nn.Name, Field: "metadata.name", Err: fmt.Errorf("duplicate: already defined in %s", prev)})
					continue
				}
				podFrom[nn] = p
				pods[nn] = o.pod.DeepCopy()
			} else {
				nn := types.NamespacedName{Namespace: o.service.Namespace, Name: o.service.Name}
				if prev, dup := svcFrom[nn]; dup {
					errs = append(errs, &DocumentError{File: p, Document: o.doc, Kind: "Service", Namespace: nn.Namespace, Name: nn.Name, Field: "metadata.name", Err: fmt.Errorf("duplicate: already defined in %s", prev)})
					continue
				}
				svcFrom[nn] = p
				svcs[nn] = o.service.DeepCopy()
			}
		}
	}
	set := &Set{}
	for _, nn := range sortedKeys(pods) {
		set.Pods = append(set.Pods, pods[nn])
	}
	var services []*v1.Service
	for _, nn := range sortedKeys(svcs) {
		services = append(services, svcs[nn])
	}
	var allocErrs []error
	set.Services, allocErrs = s.alloc.assign(services)
	for _, e := range allocErrs {
		var de *DocumentError
		if errors.As(e, &de) {
			de.File = svcFrom[types.NamespacedName{Namespace: de.Namespace, Name: de.Name}]
		}
	}
	return set, append(errs, allocErrs...)
}

func sortedKeys[T any](m map[types.NamespacedName]T) []types.NamespacedName {
	keys := make([]types.NamespacedName, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b types.NamespacedName) int { return strings.Compare(a.String(), b.String()) })
	return keys
}

// Run polls the directory every interval (500ms when interval <= 0) until
// ctx is done, calling onChange with the first result and then whenever the
// set or the error message changed. It returns nil when ctx ends.
func (s *Source) Run(ctx context.Context, interval time.Duration, onChange func(*Set, error)) error {
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	var last *Set
	lastErr := "\x00" // differs from every message, so the first load is reported
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		set, err := s.Load()
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if set != nil && (last == nil || !reflect.DeepEqual(set, last)) || msg != lastErr {
			if set != nil {
				last = set
			}
			lastErr = msg
			onChange(set, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
