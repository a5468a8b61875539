package proxy

import (
	"cmp"
	"errors"
	"slices"
	"sync"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Proxier turns Services and EndpointSlices into the iptables rules
// kube-proxy's iptables mode would write on one node, for one IP family,
// and keeps track of what it has written so that later changes become
// small partial updates.
//
// Feed it with the On* handlers (they fit client-go informer event
// handlers) or with SetState, then call Plan and Commit, or SyncTo.
//
// A Proxier is safe for concurrent use: every method takes an internal
// lock, so handlers may run on informer goroutines while other goroutines
// sync; concurrent SyncTo calls are serialized. Plans are sequential: a
// Plan is invalidated by the next one, and its payload buffer is reused by
// it, so callers of Plan and Commit from several goroutines must
// serialize plan, apply and commit themselves.
type Proxier struct {
	cfg *config

	// syncMu serializes SyncTo calls: a plan's payload buffer is reused by
	// the next Plan, so plan, apply and commit must not interleave.
	syncMu sync.Mutex

	mu sync.Mutex

	// API view.
	services     map[types.NamespacedName]*serviceEntry
	slices       map[types.NamespacedName]map[string]*discovery.EndpointSlice // by owner, then slice name
	sliceOwners  map[types.NamespacedName]types.NamespacedName                // slice ns/name -> owner
	objectErrors map[objectKey]error
	dirty        map[types.NamespacedName]struct{}
	svcSynced    bool
	sliceSynced  bool

	// Node-local model.
	ports          map[ServicePortName]*portModel
	portsByService map[types.NamespacedName][]ServicePortName
	totalEndpoints int
	unsynced       map[ServicePortName]uint64
	gen            uint64

	// What the kernel holds, as far as we know.
	written      map[ServicePortName]*writtenPort
	writtenOrder []*writtenPort
	writtenLarge bool
	haveWritten  bool
	needFull     bool

	// Plan bookkeeping and reused buffers.
	planSeq uint64
	payload lineBuf
	scratch lineBuf
	refs    []chainRef
	out     []outChain
	probs   probabilities
}

type serviceEntry struct {
	ports []*servicePort // nil when invalid, skipped or of another family
}

type objectKey struct {
	kind string
	nn   types.NamespacedName
}

// portModel is the node-local model of one service port: the service
// port and its merged endpoints. Equal models produce equal rules.
type portModel struct {
	sp  *servicePort
	eps []*endpoint

	// Rendering cache: the record of the port's rules and the text of its
	// chains, valid for large-cluster mode cacheLarge while rec != nil. A
	// model is immutable once built (a change builds a new one), so the
	// cache never goes stale; it makes a full sync of unchanged services a
	// matter of copying.
	rec        *writtenPort
	bodies     []byte   // the rules of rec.chains, one after the other
	bodyEnds   []int    // end offset in bodies of each chain's rules
	chainKeys  []uint64 // chainSortKey of each chain
	cacheLarge bool
}

func (m *portModel) equal(o *portModel) bool {
	if !m.sp.equal(o.sp) || len(m.eps) != len(o.eps) {
		return false
	}
	for i := range m.eps {
		if !m.eps[i].equal(o.eps[i]) {
			return false
		}
	}
	return true
}

// New returns a Proxier configured by opts. It returns an error wrapping
// ErrInvalidOptions when opts cannot be used.
func New(opts Options) (*Proxier, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &Proxier{
		cfg:            cfg,
		services:       map[types.NamespacedName]*serviceEntry{},
		slices:         map[types.NamespacedName]map[string]*discovery.EndpointSlice{},
		sliceOwners:    map[types.NamespacedName]types.NamespacedName{},
		objectErrors:   map[objectKey]error{},
		dirty:          map[types.NamespacedName]struct{}{},
		ports:          map[ServicePortName]*portModel{},
		portsByService: map[types.NamespacedName][]ServicePortName{},
		unsynced:       map[ServicePortName]uint64{},
		written:        map[ServicePortName]*writtenPort{},
		needFull:       true,
	}, nil
}

// OnServiceAdd records a new Service.
func (p *Proxier) OnServiceAdd(svc *v1.Service) { p.OnServiceUpdate(nil, svc) }

// OnServiceUpdate records a changed Service. oldSvc is ignored; it is
// there to match informer handlers.
func (p *Proxier) OnServiceUpdate(oldSvc, svc *v1.Service) {
	if svc == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setServiceLocked(svc)
}

// OnServiceDelete forgets a Service.
func (p *Proxier) OnServiceDelete(svc *v1.Service) {
	if svc == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	nn := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	delete(p.services, nn)
	delete(p.objectErrors, objectKey{"Service", nn})
	p.dirty[nn] = struct{}{}
}

// OnServicesSynced records that the initial list of Services was delivered.
func (p *Proxier) OnServicesSynced() {
	p.mu.Lock()
	p.svcSynced = true
	p.mu.Unlock()
}

// OnEndpointSliceAdd records a new EndpointSlice.
func (p *Proxier) OnEndpointSliceAdd(s *discovery.EndpointSlice) { p.OnEndpointSliceUpdate(nil, s) }

// OnEndpointSliceUpdate records a changed EndpointSlice. oldSlice is
// ignored.
func (p *Proxier) OnEndpointSliceUpdate(oldSlice, s *discovery.EndpointSlice) {
	if s == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setSliceLocked(s)
}

// OnEndpointSliceDelete forgets an EndpointSlice.
func (p *Proxier) OnEndpointSliceDelete(s *discovery.EndpointSlice) {
	if s == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.removeSliceLocked(types.NamespacedName{Namespace: s.Namespace, Name: s.Name})
}

// OnEndpointSlicesSynced records that the initial list of EndpointSlices
// was delivered.
func (p *Proxier) OnEndpointSlicesSynced() {
	p.mu.Lock()
	p.sliceSynced = true
	p.mu.Unlock()
}

// SetState replaces the whole view with services and slices, as if every
// previous object had been deleted and these added, and marks both kinds
// synced. The returned error joins the *ObjectError of every invalid
// object; the valid ones are used regardless.
func (p *Proxier) SetState(services []*v1.Service, slices []*discovery.EndpointSlice) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for nn := range p.services {
		p.dirty[nn] = struct{}{}
	}
	for owner := range p.slices {
		p.dirty[owner] = struct{}{}
	}
	p.services = map[types.NamespacedName]*serviceEntry{}
	p.slices = map[types.NamespacedName]map[string]*discovery.EndpointSlice{}
	p.sliceOwners = map[types.NamespacedName]types.NamespacedName{}
	p.objectErrors = map[objectKey]error{}
	for _, svc := range services {
		if svc != nil {
			p.setServiceLocked(svc)
		}
	}
	for _, s := range slices {
		if s != nil {
			p.setSliceLocked(s)
		}
	}
	p.svcSynced, p.sliceSynced = true, true
	return errors.Join(p.errorsLocked()...)
}

// Errors returns the errors of the objects currently skipped as invalid
// (each an *ObjectError), sorted by kind, namespace and name.
func (p *Proxier) Errors() []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errorsLocked()
}

func (p *Proxier) errorsLocked() []error {
	keys := make([]objectKey, 0, len(p.objectErrors))
	for k := range p.objectErrors {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b objectKey) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.nn.Namespace, b.nn.Namespace), cmp.Compare(a.nn.Name, b.nn.Name))
	})
	errs := make([]error, 0, len(keys))
	for _, k := range keys {
		errs = append(errs, p.objectErrors[k])
	}
	return errs
}

func (p *Proxier) setServiceLocked(svc *v1.Service) {
	nn := types.NamespacedName{Namespace: svc.Namespace, Name: svc.Name}
	key := objectKey{"Service", nn}
	ports, err := p.cfg.buildServicePorts(svc)
	if err != nil {
		p.objectErrors[key] = err
		ports = nil
	} else {
		delete(p.objectErrors, key)
	}
	p.services[nn] = &serviceEntry{ports: ports}
	p.dirty[nn] = struct{}{}
}

func (p *Proxier) setSliceLocked(s *discovery.EndpointSlice) {
	id := types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
	key := objectKey{"EndpointSlice", id}
	p.removeSliceLocked(id)
	if skipSlice(s) {
		return
	}
	owner, err := sliceOwner(s)
	if err == nil {
		err = p.cfg.validateSlice(s)
	}
	if err != nil {
		p.objectErrors[key] = err
		return
	}
	if !p.cfg.sliceFamily(s) {
		return
	}
	bySlice := p.slices[owner]
	if bySlice == nil {
		bySlice = map[string]*discovery.EndpointSlice{}
		p.slices[owner] = bySlice
	}
	bySlice[s.Name] = s
	p.sliceOwners[id] = owner
	p.dirty[owner] = struct{}{}
}

func (p *Proxier) removeSliceLocked(id types.NamespacedName) {
	delete(p.objectErrors, objectKey{"EndpointSlice", id})
	owner, ok := p.sliceOwners[id]
	if !ok {
		return
	}
	delete(p.sliceOwners, id)
	if bySlice := p.slices[owner]; bySlice != nil {
		delete(bySlice, id.Name)
		if len(bySlice) == 0 {
			delete(p.slices, owner)
		}
	}
	p.dirty[owner] = struct{}{}
}

// updateModelLocked recomputes the node-local model of the dirty
// services and marks the service ports whose model changed as unsynced.
// An update that changes nothing this node's rules depend on (a label,
// an annotation, a no-op resync) ends here.
func (p *Proxier) updateModelLocked() {
	var sorted []*discovery.EndpointSlice
	for nn := range p.dirty {
		delete(p.dirty, nn)
		var newPorts []*servicePort
		if e := p.services[nn]; e != nil {
			newPorts = e.ports
		}
		sorted = sorted[:0]
		for _, s := range p.slices[nn] {
			sorted = append(sorted, s)
		}
		slices.SortFunc(sorted, func(a, b *discovery.EndpointSlice) int { return cmp.Compare(a.Name, b.Name) })

		oldNames := p.portsByService[nn]
		var newNames []ServicePortName
		for _, sp := range newPorts {
			m := &portModel{sp: sp, eps: p.cfg.buildEndpoints(sp, sorted)}
			newNames = append(newNames, sp.name)
			old := p.ports[sp.name]
			if old != nil && old.equal(m) {
				continue
			}
			if old != nil {
				p.totalEndpoints -= len(old.eps)
			}
			p.totalEndpoints += len(m.eps)
			p.ports[sp.name] = m
			p.gen++
			p.unsynced[sp.name] = p.gen
		}
		for _, name := range oldNames {
			if slices.Contains(newNames, name) {
				continue
			}
			if old := p.ports[name]; old != nil {
				p.totalEndpoints -= len(old.eps)
			}
			delete(p.ports, name)
			p.gen++
			p.unsynced[name] = p.gen
		}
		if len(newNames) == 0 {
			delete(p.portsByService, nn)
		} else {
			p.portsByService[nn] = newNames
		}
	}
}

// RequestFullSync makes the next Plan a full one. Call it when the
// kernel's rules may differ from what was committed: after applying a
// plan failed, or when something else may have flushed the tables.
func (p *Proxier) RequestFullSync() {
	p.mu.Lock()
	p.needFull = true
	p.mu.Unlock()
}
