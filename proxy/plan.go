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

// SyncTo plans a sync, applies it with r and commits it; concurrent calls
// run one after the other. An empty payload is not applied. If applying fails, the next sync is a full one (a failed
// restore may have committed one table and not the other).
func (p *Proxier) SyncTo(ctx context.Context, r Restorer, full bool) (PlanStats, error) {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
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

func (p *Proxier) sortedPortModels() []*portModel {
	models := make([]*portModel, 0, len(p.ports))
	for _, m := range p.ports {
		models = append(models, m)
	}
	slices.SortFunc(models, func(a, b *portModel) int { return cmp.Compare(a.sp.sortKey, b.sp.sortKey) })
	return models
}

// renderPort fills the rendering cache of m for large-cluster mode large.
func (p *Proxier) renderPort(m *portModel, large bool) {
	if m.rec != nil && m.cacheLarge == large {
		return
	}
	pr := p.cfg.newPortRender(m)
	p.refs = pr.ownChains(p.refs[:0])
	m.rec = p.renderRecord(pr, p.refs, p.written[m.sp.name])
	p.scratch = p.scratch[:0]
	m.bodyEnds = make([]int, len(p.refs))
	m.chainKeys = make([]uint64, len(p.refs))
	for i := range p.refs {
		p.cfg.writeChain(&p.scratch, &p.refs[i], large, p.probs.get)
		m.bodyEnds[i] = len(p.scratch)
		m.chainKeys[i] = p.refs[i].key
	}
	m.bodies = append([]byte(nil), p.scratch...)
	m.cacheLarge = large
	clear(p.refs)
}

// appendChains appends the chains of m (rendered) to out.
func appendChains(out []outChain, m *portModel) []outChain {
	start := 0
	for i, name := range m.rec.chains {
		out = append(out, outChain{key: m.chainKeys[i], name: name, body: m.bodies[start:m.bodyEnds[i]]})
		start = m.bodyEnds[i]
	}
	return out
}

func compareOutChains(a, b outChain) int {
	if a.key != b.key {
		if a.key < b.key {
			return -1
		}
		return 1
	}
	return cmp.Compare(a.name, b.name)
}

// planFullLocked writes the complete payload, in the canonical order that
// kube-proxy's tests compare against: filter then nat; in each table
// KUBE-NODEPORTS, KUBE-SERVICES, then the other chains by name; the rules
// of each chain together; service rules ordered by service name.
func (p *Proxier) planFullLocked(pl *Plan) {
	cfg := p.cfg
	models := p.sortedPortModels()
	order := make([]*writtenPort, 0, len(models))
	// Size the reused buffers once, to avoid growing them by doubling.
	nChains, size := 2, 4096
	for _, m := range models {
		p.renderPort(m, pl.large)
		order = append(order, m.rec)
		nChains += len(m.rec.chains)
		size += len(m.bodies) + len(m.rec.chains)*len(":KUBE-SEP-XXXXXXXXXXXXXXXX - [0:0]\n")
		for c := range m.rec.shared {
			for _, l := range m.rec.shared[c] {
				size += len(l) + 1
			}
		}
	}
	out := p.out[:0]
	if cap(out) < nChains {
		out = make([]outChain, 0, nChains)
	}
	for _, m := range models {
		out = appendChains(out, m)
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
	var fixed lineBuf
	cfg.writeMarkMasq(&fixed)
	split := len(fixed)
	cfg.writePostrouting(&fixed)
	out = append(out, outChain{key: chainSortKey(ChainMarkMasq), name: ChainMarkMasq, body: fixed[:split]},
		outChain{key: chainSortKey(ChainPostrouting), name: ChainPostrouting, body: fixed[split:]})
	slices.SortFunc(out, compareOutChains)

	b := &p.payload
	*b = (*b)[:0]
	if cap(*b) < size {
		*b = make(lineBuf, 0, size)
	}
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
	for i := range out {
		writeChainLine(b, out[i].name)
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
	for i := range out {
		*b = append(*b, out[i].body...)
	}
	for _, ch := range stale {
		b.w("-X ")
		b.w(ch)
		b.nl()
	}
	b.w("COMMIT\n")

	pl.order = order
	pl.stats.ChangedServicePorts = len(order)
	pl.stats.ChainsWritten = len(out) - 2
	pl.stats.ChainsDeleted = len(stale)
	// Keep the buffer, drop the references to this sync's bodies.
	clear(out)
	p.out = out[:0]
}

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
	out := p.out[:0]
	type change struct {
		key      string
		old, new *writtenPort
		idx      int // index of new in order, -1 when removed
	}
	changes := make([]change, 0, len(names))
	for _, n := range names {
		old := p.written[n]
		var nw *writtenPort
		if m := p.ports[n]; m != nil {
			p.renderPort(m, pl.large)
			nw = m.rec
			out = appendChains(out, m)
		}
		pl.changed[n] = nw
		changes = append(changes, change{key: keyOf(n), old: old, new: nw, idx: -1})
	}

	// The complete record after this plan, in order: the previous one with
	// the changed ports replaced, merged by binary search (O(k log n) key
	// comparisons plus one copy).
	order := make([]*writtenPort, 0, len(p.writtenOrder)+len(names))
	prev := 0
	for i := range changes {
		ch := &changes[i]
		j, found := slices.BinarySearchFunc(p.writtenOrder, ch.key, func(w *writtenPort, k string) int { return cmp.Compare(w.key, k) })
		if j < prev {
			j = prev
		}
		order = append(order, p.writtenOrder[prev:j]...)
		prev = j
		if found {
			prev = j + 1
		}
		if ch.new != nil {
			ch.idx = len(order)
			order = append(order, ch.new)
		}
	}
	order = append(order, p.writtenOrder[prev:]...)
	pl.order = order

	b := &p.payload
	*b = (*b)[:0]
	sharedChanged := func(c int, ch *change) bool {
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
		for i := range changes {
			ch := &changes[i]
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
		// Then insertions in key order, each before the first rule that
		// existed before this transaction and follows it (iptables-nft
		// cannot anchor on a rule added in the same transaction), or
		// appended at the end; the chain ends up in the order a full sync
		// writes. When inserting change i, the rules before it are all
		// there (earlier changes are inserted already); after it are the
		// trailing rules and those of every later port except the later
		// changes not inserted yet.
		pending := 0 // lines of changes yet to insert
		for i := range changes {
			ch := &changes[i]
			if ch.new != nil && sharedChanged(c, ch) {
				pending += len(ch.new.shared[c])
			}
		}
		if pending == 0 {
			return
		}
		total := trailing
		for _, w := range order {
			total += len(w.shared[c])
		}
		before, j := 0, 0
		for i := range changes {
			ch := &changes[i]
			if ch.new == nil || !sharedChanged(c, ch) {
				continue
			}
			for ; j < ch.idx; j++ {
				before += len(order[j].shared[c])
			}
			lines := ch.new.shared[c]
			pending -= len(lines)
			after := total - before - len(lines) - pending
			for k, l := range lines {
				chain, spec := ruleSpec(l)
				if after == 0 {
					b.w("-A ")
					b.w(chain)
				} else {
					b.w("-I ")
					b.w(chain)
					b.w(" ")
					b.w(strconv.Itoa(before + k + 1))
				}
				b.w(" ")
				b.w(spec)
				b.nl()
			}
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
	for i := range changes {
		ch := &changes[i]
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
	slices.SortFunc(out, compareOutChains)
	start = len(*b)
	b.w("*nat\n")
	body = len(*b)
	for i := range out {
		writeChainLine(b, out[i].name)
		written++
	}
	for _, ch := range stale {
		writeChainLine(b, ch)
	}
	writeShared(sharedNATNodePorts, 0)
	writeShared(sharedNATServices, len(cfg.nodePortLastRules))
	for i := range out {
		*b = append(*b, out[i].body...)
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
	clear(out)
	p.out = out[:0]
}
