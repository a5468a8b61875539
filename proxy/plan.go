package proxy

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
)

// Restorer applies an iptables-restore payload, with the semantics of
// "iptables-restore --noflush" (ip6tables-restore for IPv6): each table
// section is committed atomically, a ":CHAIN" line creates or flushes that
// chain, and chains not named are left alone. proxytest.FakeKernel
// implements it; so does a small wrapper around exec of the real tool.
type Restorer interface {
	Restore(ctx context.Context, payload []byte) error
}

// Plan is the result of planning a sync: the exact iptables-restore
// payload that brings the kernel from what was last committed to the
// current state, and the record of what it writes. Apply its payload, then
// Commit it.
//
// A Plan is not safe for concurrent use. Its payload is valid until the
// next call to Plan on the same Proxier.
type Plan struct {
	seq       uint64
	full      bool
	large     bool
	payload   []byte
	changed   map[ServicePortName]*writtenPort // partial: new record per changed port (nil = removed)
	order     []*writtenPort                   // the complete record after this plan
	snapshot  map[ServicePortName]uint64
	stats     PlanStats
	committed bool
}

// PlanStats counts what a Plan does.
type PlanStats struct {
	// Full is true for a full sync, false for a partial one.
	Full bool
	// ServicePorts is the number of service ports in the model.
	ServicePorts int
	// Endpoints is the number of endpoints in the model (all service
	// ports, all conditions), the figure compared with the large-cluster
	// threshold.
	Endpoints int
	// ChangedServicePorts is the number of service ports whose rules the
	// payload rewrites (all of them for a full sync).
	ChangedServicePorts int
	// ChainsWritten and ChainsDeleted count nat per-service chains.
	ChainsWritten, ChainsDeleted int
	// PayloadBytes is len(Payload()).
	PayloadBytes int
}

// Payload returns the iptables-restore input. It is empty when nothing
// needs to change.
func (pl *Plan) Payload() []byte { return pl.payload }

// String returns the payload as a string.
func (pl *Plan) String() string { return string(pl.payload) }

// Full reports whether the plan is a full sync.
func (pl *Plan) Full() bool { return pl.full }

// Stats returns counts describing the plan.
func (pl *Plan) Stats() PlanStats { return pl.stats }

// Plan computes the payload that brings the kernel to the current state.
// With full false it is a partial sync touching only the service ports
// that changed since the last Commit (or a full one if a full sync is
// needed: first sync, RequestFullSync, a switch in or out of
// large-cluster mode). With full true it restates every rule.
//
// Plan changes nothing the Proxier believes about the kernel; Commit does.
func (p *Proxier) Plan(full bool) (*Plan, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.svcSynced || !p.sliceSynced {
		return nil, ErrNotSynced
	}
	p.updateModelLocked()
	p.planSeq++
	large := p.cfg.largeThreshold >= 0 && p.totalEndpoints > p.cfg.largeThreshold
	full = full || p.needFull || !p.haveWritten || large != p.writtenLarge
	pl := &Plan{seq: p.planSeq, full: full, large: large, snapshot: make(map[ServicePortName]uint64, len(p.unsynced))}
	for k, v := range p.unsynced {
		pl.snapshot[k] = v
	}
	if full {
		p.planFullLocked(pl)
	} else {
		p.planPartialLocked(pl)
	}
	pl.payload = p.payload
	pl.stats.Full = full
	pl.stats.ServicePorts = len(p.ports)
	pl.stats.Endpoints = p.totalEndpoints
	pl.stats.PayloadBytes = len(pl.payload)
	return pl, nil
}

// Commit records that pl's payload was applied successfully. It returns
// ErrStalePlan if pl is not the latest plan or was already committed.
func (p *Proxier) Commit(pl *Plan) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pl.seq != p.planSeq || pl.committed {
		return ErrStalePlan
	}
	pl.committed = true
	if pl.full {
		p.written = make(map[ServicePortName]*writtenPort, len(pl.order))
		for _, w := range pl.order {
			p.written[w.name] = w
		}
	} else {
		for name, w := range pl.changed {
			if w == nil {
				delete(p.written, name)
			} else {
				p.written[name] = w
			}
		}
	}
	p.writtenOrder = pl.order
	p.writtenLarge = pl.large
	p.haveWritten = true
	p.needFull = false
	for k, v := range pl.snapshot {
		if p.unsynced[k] == v {
			delete(p.unsynced, k)
		}
	}
	return nil
}

// SyncTo plans a sync, applies it with r and commits it. An empty payload
// is not applied. If applying fails, the next sync is a full one (a failed
// restore may have committed one table and not the other).
func (p *Proxier) SyncTo(ctx context.Context, r Restorer, full bool) (PlanStats, error) {
	pl, err := p.Plan(full)
	if err != nil {
		return PlanStats{}, err
	}
	if len(pl.Payload()) > 0 {
		if err := r.Restore(ctx, pl.Payload()); err != nil {
			p.RequestFullSync()
			return pl.Stats(), fmt.Errorf("applying %s sync: %w", syncKind(pl.full), err)
		}
	}
	if err := p.Commit(pl); err != nil {
		return pl.Stats(), err
	}
	return pl.Stats(), nil
}

func syncKind(full bool) string {
	if full {
		return "full"
	}
	return "partial"
}

// renderRecord renders the shared-chain lines of pr and the names of its
// chains (refs) into a record. It returns old itself when nothing changed
// and otherwise reuses what it can of it, so that a steady-state full sync
// allocates no record.
func (p *Proxier) renderRecord(pr *portRender, refs []chainRef, old *writtenPort) *writtenPort {
	var w writtenPort
	w.name, w.key = pr.sp.name, pr.sp.sortKey
	same := old != nil
	for c := 0; c < numShared; c++ {
		p.scratch = p.scratch[:0]
		p.cfg.writeShared(&p.scratch, pr, c)
		var oldLines []string
		if old != nil {
			oldLines = old.shared[c]
		}
		w.shared[c] = splitLines(p.scratch, oldLines)
		if !linesEqual(p.scratch, oldLines) {
			same = false
		}
	}
	var oldChains []string
	if old != nil {
		oldChains = old.chains
	}
	w.chains = chainNames(refs, oldChains)
	if same && len(w.chains) == len(oldChains) && (len(oldChains) == 0 || &w.chains[0] == &oldChains[0]) {
		return old
	}
	return &w
}

// chainNames returns the names in refs, reusing old when equal.
func chainNames(refs []chainRef, old []string) []string {
	if len(refs) == len(old) {
		same := true
		for i := range refs {
			if refs[i].name != old[i] {
				same = false
				break
			}
		}
		if same {
			return old
		}
	}
	names := make([]string, len(refs))
	for i := range refs {
		names[i] = refs[i].name
	}
	return names
}

// compareChainRefs orders chains by name, using the precomputed sortable
// prefix of the name first.
func compareChainRefs(a, b chainRef) int {
	if a.key != b.key {
		if a.key < b.key {
			return -1
		}
		return 1
	}
	return cmp.Compare(a.name, b.name)
}

func (p *Proxier) sortedPortModels() []*portModel {
	models := make([]*portModel, 0, len(p.ports))
	for _, m := range p.ports {
		models = append(models, m)
	}
	slices.SortFunc(models, func(a, b *portModel) int { return cmp.Compare(a.sp.sortKey, b.sp.sortKey) })
	return models
}

// planFullLocked writes the complete payload, in the canonical order that
// kube-proxy's tests compare against: filter then nat; in each table
// KUBE-NODEPORTS, KUBE-SERVICES, then the other chains by name; the rules
// of each chain together; service rules ordered by service name.
func (p *Proxier) planFullLocked(pl *Plan) {
	cfg := p.cfg
	models := p.sortedPortModels()
	order := make([]*writtenPort, 0, len(models))
	p.refs = p.refs[:0]
	for _, m := range models {
		pr := cfg.newPortRender(m)
		start := len(p.refs)
		p.refs = pr.ownChains(p.refs)
		order = append(order, p.renderRecord(pr, p.refs[start:], p.written[m.sp.name]))
	}
	// Chains written before and not now: flush and delete them.
	var stale []string
	for _, old := range p.writtenOrder {
		var now []string
		if nw, ok := findWritten(order, old.key); ok {
			now = nw.chains
		}
		for _, ch := range old.chains {
			if !slices.Contains(now, ch) {
				stale = append(stale, ch)
			}
		}
	}
	slices.Sort(stale)
	// Fixed nat chains sort among the per-service ones.
	p.refs = append(p.refs, chainRef{name: ChainMarkMasq, key: chainSortKey(ChainMarkMasq), kind: chainFixedMarkMasq},
		chainRef{name: ChainPostrouting, key: chainSortKey(ChainPostrouting), kind: chainFixedPostrouting})
	slices.SortFunc(p.refs, compareChainRefs)

	b := &p.payload
	*b = (*b)[:0]
	b.w("*filter\n")
	writeChainLine(b, ChainNodePorts)
	writeChainLine(b, ChainServices)
	writeChainLine(b, ChainExternalServices)
	if cfg.LocalhostNodePorts && !cfg.ipv6 {
		writeChainLine(b, ChainKubeletFirewall)
	}
	writeChainLine(b, ChainForward)
	writeChainLine(b, ChainProxyFirewall)
	writeSharedLines(b, order, sharedFilterNodePorts)
	writeSharedLines(b, order, sharedFilterServices)
	writeSharedLines(b, order, sharedFilterExternal)
	cfg.writeStaticFilterFirewall(b)
	cfg.writeStaticForward(b)
	writeSharedLines(b, order, sharedFilterFirewall)
	b.w("COMMIT\n*nat\n")
	writeChainLine(b, ChainNodePorts)
	writeChainLine(b, ChainServices)
	for i := range p.refs {
		writeChainLine(b, p.refs[i].name)
	}
	for _, ch := range stale {
		writeChainLine(b, ch)
	}
	writeSharedLines(b, order, sharedNATNodePorts)
	writeSharedLines(b, order, sharedNATServices)
	for _, r := range cfg.nodePortLastRules {
		b.w(r)
		b.nl()
	}
	prob := p.probs.get
	for i := range p.refs {
		switch p.refs[i].kind {
		case chainFixedMarkMasq:
			cfg.writeMarkMasq(b)
		case chainFixedPostrouting:
			cfg.writePostrouting(b)
		default:
			cfg.writeChain(b, &p.refs[i], pl.large, prob)
		}
	}
	for _, ch := range stale {
		b.w("-X ")
		b.w(ch)
		b.nl()
	}
	b.w("COMMIT\n")

	pl.order = order
	pl.stats.ChangedServicePorts = len(order)
	pl.stats.ChainsWritten = len(p.refs) - 2
	pl.stats.ChainsDeleted = len(stale)
	// Drop references to this sync's models from the reused slice.
	clear(p.refs)
}

// Kinds of the fixed nat chains, sorted among the per-service ones.
const (
	chainFixedMarkMasq = 100 + iota
	chainFixedPostrouting
)

func findWritten(order []*writtenPort, key string) (*writtenPort, bool) {
	i, ok := slices.BinarySearchFunc(order, key, func(w *writtenPort, k string) int { return cmp.Compare(w.key, k) })
	if !ok {
		return nil, false
	}
	return order[i], true
}

func writeSharedLines(b *lineBuf, order []*writtenPort, c int) {
	for _, w := range order {
		for _, l := range w.shared[c] {
			b.w(l)
			b.nl()
		}
	}
}

// planPartialLocked writes a payload that only touches the service ports
// marked unsynced: their lines in the shared chains are deleted ("-D")
// and inserted at their place ("-I CHAIN n", or "-A" at the end), their
// own chains are rewritten, and the chains they no longer use are flushed
// and deleted.
func (p *Proxier) planPartialLocked(pl *Plan) {
	cfg := p.cfg
	names := make([]ServicePortName, 0, len(p.unsynced))
	for n := range p.unsynced {
		names = append(names, n)
	}
	keyOf := func(n ServicePortName) string {
		return n.Namespace + "/" + n.Name + "\x00" + n.Port + "\x00" + string(n.Protocol)
	}
	slices.SortFunc(names, func(a, b ServicePortName) int { return cmp.Compare(keyOf(a), keyOf(b)) })

	pl.changed = make(map[ServicePortName]*writtenPort, len(names))
	p.refs = p.refs[:0]
	type change struct {
		old, new *writtenPort
	}
	changes := make([]change, 0, len(names))
	for _, n := range names {
		old := p.written[n]
		var nw *writtenPort
		if m := p.ports[n]; m != nil {
			pr := cfg.newPortRender(m)
			start := len(p.refs)
			p.refs = pr.ownChains(p.refs)
			nw = p.renderRecord(pr, p.refs[start:], old)
		}
		pl.changed[n] = nw
		changes = append(changes, change{old: old, new: nw})
	}

	// The complete record after this plan, in order.
	order := make([]*writtenPort, 0, len(p.writtenOrder)+len(names))
	for _, w := range p.writtenOrder {
		if _, ok := pl.changed[w.name]; !ok {
			order = append(order, w)
		}
	}
	for _, ch := range changes {
		if ch.new != nil {
			order = append(order, ch.new)
		}
	}
	slices.SortStableFunc(order, func(a, b *writtenPort) int { return cmp.Compare(a.key, b.key) })
	pl.order = order

	b := &p.payload
	*b = (*b)[:0]
	sharedChanged := func(c int, ch change) bool {
		var o, n []string
		if ch.old != nil {
			o = ch.old.shared[c]
		}
		if ch.new != nil {
			n = ch.new.shared[c]
		}
		return !stringsEqual(o, n)
	}
	writeShared := func(c, trailing int) {
		// Deletions first, by rule spec.
		for _, ch := range changes {
			if ch.old == nil || !sharedChanged(c, ch) {
				continue
			}
			for _, l := range ch.old.shared[c] {
				chain, spec := ruleSpec(l)
				b.w("-D ")
				b.w(chain)
				b.w(" ")
				b.w(spec)
				b.nl()
			}
		}
		// Then insertions in key order, each before the first unchanged
		// rule that follows it, so that the chain ends up in the order a
		// full sync writes.
		anyChange := false
		after := trailing // rules present after the current position
		for _, ch := range changes {
			if sharedChanged(c, ch) && ch.new != nil && len(ch.new.shared[c]) > 0 {
				anyChange = true
			}
		}
		if !anyChange {
			return
		}
		for _, w := range order {
			if c2, ok := pl.changed[w.name]; !ok || !sharedChanged(c, change{old: p.written[w.name], new: c2}) {
				after += len(w.shared[c])
			}
		}
		before := 0
		for _, w := range order {
			n := len(w.shared[c])
			_, isChanged := pl.changed[w.name]
			if !isChanged || !sharedChanged(c, change{old: p.written[w.name], new: w}) {
				before += n
				after -= n
				continue
			}
			for j, l := range w.shared[c] {
				chain, spec := ruleSpec(l)
				if after == 0 {
					b.w("-A ")
					b.w(chain)
				} else {
					b.w("-I ")
					b.w(chain)
					b.w(" ")
					b.w(strconv.Itoa(before + j + 1))
				}
				b.w(" ")
				b.w(spec)
				b.nl()
			}
			before += n
		}
	}

	// filter table.
	start := len(*b)
	b.w("*filter\n")
	body := len(*b)
	for _, c := range []int{sharedFilterNodePorts, sharedFilterServices, sharedFilterExternal, sharedFilterFirewall} {
		writeShared(c, 0)
	}
	if len(*b) == body {
		*b = (*b)[:start]
	} else {
		b.w("COMMIT\n")
	}

	// nat table.
	var stale []string
	written := 0
	for _, ch := range changes {
		var now []string
		if ch.new != nil {
			now = ch.new.chains
		}
		if ch.old != nil {
			for _, name := range ch.old.chains {
				if !slices.Contains(now, name) {
					stale = append(stale, name)
				}
			}
		}
	}
	slices.Sort(stale)
	allRefs := p.refs
	slices.SortFunc(allRefs, compareChainRefs)
	start = len(*b)
	b.w("*nat\n")
	body = len(*b)
	for i := range allRefs {
		writeChainLine(b, allRefs[i].name)
		written++
	}
	for _, ch := range stale {
		writeChainLine(b, ch)
	}
	writeShared(sharedNATNodePorts, 0)
	writeShared(sharedNATServices, len(cfg.nodePortLastRules))
	prob := p.probs.get
	for i := range allRefs {
		cfg.writeChain(b, &allRefs[i], pl.large, prob)
	}
	for _, ch := range stale {
		b.w("-X ")
		b.w(ch)
		b.nl()
	}
	if len(*b) == body {
		*b = (*b)[:start]
	} else {
		b.w("COMMIT\n")
	}
	pl.stats.ChangedServicePorts = len(names)
	pl.stats.ChainsWritten = written
	pl.stats.ChainsDeleted = len(stale)
	clear(p.refs)
}
