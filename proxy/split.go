package proxy

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// DefaultSplitChains is the most chains one table section declares after
// SplitPayload, when splitting is on (the nf_tables backend).
//
// iptables-nft 1.8.9 turns each table section into one nf_tables batch,
// and the time of a batch grows with the square of the chains it
// names: 20,000 chains of 2 rules took 6.0 s in one section and 1.7 s in
// sections of 1,000 (iptables-nft-restore in a fresh namespace on this
// project's test machine; see the package documentation for the
// kube-proxy payloads).
const DefaultSplitChains = 1000

// SplitPayload rewrites a payload whose table sections declare more than
// maxChains chains into several sections of that table, each committed on
// its own, with the same final state. The chains are grouped into units
// (the chains linked by jumps, leaving out hubs such as KUBE-SERVICES,
// KUBE-NODEPORTS and KUBE-MARK-MASQ: for kube-proxy's layout, the chains of
// one service port), whole units are packed into sections of about
// maxChains chains, and a unit is only written in the section of, or one
// after, every unit its rules jump to. So after every commit each jump
// target exists and each chain is either wholly old or wholly new; the
// hubs that jump to everything (KUBE-SERVICES) come last, with the
// deletion ("-X") of stale chains.
//
// Only sections made of chain declarations, "-A" rules and "-X" lines (the
// shape of a full sync) are split, dropping blank and comment lines;
// others, and sections with a jump cycle, are kept as they are. A
// maxChains of 0 or less returns payload unchanged.
//
// Between two commits a packet may meet a service whose own chains are
// already new while KUBE-SERVICES is still old, as during a series of
// partial syncs; a full sync in one section avoids that at the cost above.
func SplitPayload(payload []byte, maxChains int) []byte {
	out, _, ok := splitPayloadParts(payload, maxChains)
	if !ok {
		return payload
	}
	return out
}

// splitPart is one table section of a split payload: text[start:end] of
// the payload, and after, the index of the last earlier part that must be
// committed before it (-1 for none). Parts of different tables, and parts
// of one table whose chains do not jump to each other's, do not depend on
// each other; a part that deletes stale chains comes after every earlier
// part of its table.
type splitPart struct {
	start, end int
	after      int
}

// splitPayloadParts is SplitPayload, with the split payload's table
// sections and their order constraints; ok is false when no section was
// split (the payload is then to be applied as it is).
func splitPayloadParts(payload []byte, maxChains int) (out []byte, parts []splitPart, ok bool) {
	if maxChains <= 0 {
		return nil, nil, false
	}
	out = make([]byte, 0, len(payload)+len(payload)/maxChains*16)
	changed := false
	lastOfTable := map[string]int{}
	rest := payload
	for len(rest) > 0 {
		// One section: "*table" ... "COMMIT".
		end := bytes.Index(rest, []byte("\nCOMMIT\n"))
		if end < 0 || rest[0] != '*' {
			break
		}
		section := rest[:end+len("\nCOMMIT\n")]
		rest = rest[len(section):]
		table := string(section[:bytes.IndexByte(section, '\n')])
		base, seen := lastOfTable[table]
		if !seen {
			base = -1
		}
		var split bool
		if out, parts, split = splitSection(out, parts, section, maxChains, base); split {
			changed = true
		} else {
			start := len(out)
			out = append(out, section...)
			parts = append(parts, splitPart{start: start, end: len(out), after: base})
		}
		lastOfTable[table] = len(parts) - 1
	}
	if !changed || len(rest) > 0 {
		return nil, nil, false
	}
	return out, parts, true
}

type splitChain struct {
	name    string
	decl    []byte
	rules   [][]byte
	deps    []string
	targets []*splitChain // the chains of deps in this section
	idx     int           // index among the live chains, -1 for stale ones
	deleted bool
	depth   int // -1 unknown, -2 visiting
	order   int
	part    int // index of the part it is written in
}

// splitSection splits one table section, appending its parts to out and
// parts; base is the index of the last earlier part of the same table (-1
// for none). ok is false when the section is kept as it is; out and parts
// are then returned unchanged.
func splitSection(out []byte, parts []splitPart, section []byte, maxChains int, base int) ([]byte, []splitPart, bool) {
	keep := func() ([]byte, []splitPart, bool) { return out, parts, false }
	lines := bytes.Split(section[:len(section)-1], []byte("\n"))
	header := lines[0]
	lines = lines[1 : len(lines)-1] // without "*table" and "COMMIT"
	chains := map[string]*splitChain{}
	var order []*splitChain
	get := func(name []byte) *splitChain {
		c := chains[string(name)]
		if c == nil {
			c = &splitChain{name: string(name), depth: -1, order: len(order)}
			chains[c.name] = c
			order = append(order, c)
		}
		return c
	}
	declared := 0
	var deletes [][]byte
	for _, l := range lines {
		switch {
		case len(l) == 0 || l[0] == '#':
		case l[0] == ':':
			sp := bytes.IndexByte(l, ' ')
			if sp < 2 || !bytes.HasPrefix(l[sp:], []byte(" - ")) {
				return keep() // a built-in chain's policy
			}
			c := get(l[1:sp])
			if c.decl != nil {
				return keep()
			}
			c.decl = l
			declared++
		case bytes.HasPrefix(l, []byte("-A ")):
			name := l[3:]
			if sp := bytes.IndexByte(name, ' '); sp >= 0 {
				name = name[:sp]
			}
			c := get(name)
			c.rules = append(c.rules, l)
			if t := jumpTarget(l); t != "" && t != c.name {
				c.deps = append(c.deps, t)
			}
		case bytes.HasPrefix(l, []byte("-X ")):
			get(bytes.TrimSpace(l[3:])).deleted = true
			deletes = append(deletes, l)
		default:
			return keep()
		}
	}
	if declared <= maxChains {
		return keep()
	}
	for _, c := range order {
		for _, t := range c.deps {
			if tc := chains[t]; tc != nil {
				c.targets = append(c.targets, tc)
			}
		}
	}
	var depth func(c *splitChain) int
	depth = func(c *splitChain) int {
		switch c.depth {
		case -2:
			return -1 // cycle
		case -1:
		default:
			return c.depth
		}
		c.depth = -2
		d := 0
		// Targets leave out target extensions and chains of other sections.
		for _, tc := range c.targets {
			td := depth(tc)
			if td < 0 {
				return -1
			}
			d = max(d, td+1)
		}
		c.depth = d
		return d
	}
	var live, stale []*splitChain
	for _, c := range order {
		if depth(c) < 0 {
			return keep()
		}
		if c.deleted {
			if len(c.rules) > 0 {
				return keep()
			}
			c.idx = -1
			stale = append(stale, c)
		} else {
			c.idx = len(live)
			live = append(live, c)
		}
	}
	units, ok := splitUnits(live)
	if !ok {
		return keep()
	}
	writeSection := func(cs []*splitChain, last bool) {
		idx := len(parts)
		after := base
		if last {
			// Stale chains are deleted only once no earlier part's
			// chains jump to them.
			after = idx - 1
		}
		for _, c := range cs {
			c.part = idx
		}
		for _, c := range cs {
			for _, tc := range c.targets {
				if tc.part != idx && tc.idx >= 0 {
					after = max(after, tc.part)
				}
			}
		}
		start := len(out)
		out = append(out, header...)
		out = append(out, '\n')
		for _, c := range cs {
			if c.decl != nil {
				out = append(out, c.decl...)
				out = append(out, '\n')
			}
		}
		if last {
			for _, c := range stale {
				out = append(out, c.decl...)
				out = append(out, '\n')
			}
		}
		for _, c := range cs {
			for _, r := range c.rules {
				out = append(out, r...)
				out = append(out, '\n')
			}
		}
		if last {
			for _, d := range deletes {
				out = append(out, d...)
				out = append(out, '\n')
			}
		}
		out = append(out, "COMMIT\n"...)
		parts = append(parts, splitPart{start: start, end: len(out), after: after})
	}
	var cur []*splitChain
	for i, u := range units {
		if len(cur) > 0 && len(cur)+len(u) > maxChains {
			writeSection(cur, false)
			cur = cur[:0]
		}
		cur = append(cur, u...)
		if i == len(units)-1 {
			writeSection(cur, true)
		}
	}
	return out, parts, true
}

// splitHubDegree is the number of jumps to or from a chain above which it
// is a hub (KUBE-SERVICES, KUBE-NODEPORTS, KUBE-MARK-MASQ, the service
// chain of a service with many endpoints) and gets a unit of its own.
const splitHubDegree = 32

// splitUnits groups chains into units written in one section each: the
// chains linked by jumps, hubs aside, which for kube-proxy's layout are
// the chains of one service port (KUBE-FW, KUBE-EXT, KUBE-SVC, KUBE-SVL
// and its KUBE-SEP chains). Keeping them together keeps the names a
// section mentions few: iptables-nft 1.8.9 fetches every chain a section
// names (declares or jumps to) one by one, through a list searched
// linearly, unless the section needs them all. The units are returned in
// an order in which every unit comes after those it jumps to; ok is false
// for a cycle between units.
func splitUnits(live []*splitChain) ([][]*splitChain, bool) {
	indeg := make([]int, len(live))
	for _, c := range live {
		for _, tc := range c.targets {
			if tc.idx >= 0 {
				indeg[tc.idx]++
			}
		}
	}
	hub := func(i int) bool { return indeg[i] > splitHubDegree || len(live[i].deps) > splitHubDegree }
	parent := make([]int, len(live))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for i, c := range live {
		if hub(i) {
			continue
		}
		for _, tc := range c.targets {
			if j := tc.idx; j >= 0 && !hub(j) {
				a, b := find(i), find(j)
				if a != b {
					parent[a] = b
				}
			}
		}
	}
	members := make([][]*splitChain, len(live))
	var roots []int
	for i, c := range live {
		r := find(i)
		if members[r] == nil {
			roots = append(roots, r)
		}
		members[r] = append(members[r], c)
	}
	// Unit depth: 1 + the deepest unit it jumps to.
	const unknown, visiting = -2, -1
	depth := make([]int, len(live))
	for i := range depth {
		depth[i] = unknown
	}
	var unitDepth func(r int) (int, bool)
	unitDepth = func(r int) (int, bool) {
		if d := depth[r]; d != unknown {
			return d, d != visiting
		}
		depth[r] = visiting
		d := 0
		for _, c := range members[r] {
			for _, tc := range c.targets {
				j := tc.idx
				if j < 0 {
					continue
				}
				if tr := find(j); tr != r {
					td, ok := unitDepth(tr)
					if !ok {
						return 0, false
					}
					d = max(d, td+1)
				}
			}
		}
		depth[r] = d
		return d, true
	}
	for _, r := range roots {
		if _, ok := unitDepth(r); !ok {
			return nil, false
		}
	}
	slices.SortStableFunc(roots, func(a, b int) int { return depth[a] - depth[b] })
	units := make([][]*splitChain, 0, len(roots))
	for _, r := range roots {
		units = append(units, members[r])
	}
	return units, true
}

// jumpTarget returns the chain or target of a rule's -j or -g, skipping
// quoted arguments.
func jumpTarget(rule []byte) string {
	inQuote := false
	for i := 0; i+3 < len(rule); i++ {
		switch {
		case rule[i] == '"':
			inQuote = !inQuote
		case !inQuote && rule[i] == ' ' && rule[i+1] == '-' && (rule[i+2] == 'j' || rule[i+2] == 'g') && rule[i+3] == ' ':
			t := rule[i+4:]
			if sp := bytes.IndexByte(t, ' '); sp >= 0 {
				t = t[:sp]
			}
			return string(t)
		case rule[i] == '\\' && inQuote:
			i++
		}
	}
	return ""
}

// DefaultParallelRestores is how many iptables-restore runs of one wave of
// a split payload run at once when SyncerOptions.ParallelRestores is zero
// (at most this many, and no more than GOMAXPROCS). The kernel commits
// one transaction at a time, but the restore tool's parsing and cache
// work of one run overlaps another's commit: on the project's 2-core
// machine a 10,000 x 10 full apply went from 9.4 s to 7.0-7.4 s with two
// runs at a time (3 and 4 gave the same as 2).
const DefaultParallelRestores = 4

// DefaultSectionsPerRestore is how many table sections of a split payload
// one iptables-restore run applies. iptables-nft 1.8.9 keeps every chain
// it met in a cache that later sections of the same run search; starting
// a new run every ten sections of 1,000 chains cut the user time of a
// 10,000 x 10 full apply from 7.1 s to 4.4 s (wall time 13.0 s to 9.9 s;
// 5 or 20 sections per run gave the same).
const DefaultSectionsPerRestore = 10

// splittingRestorer applies payloads through SplitPayload, in runs of at
// most perRun table sections, up to parallel runs at a time. Each section
// commits on its own whether or not it shares a run, so the runs change
// nothing but the time. Sections are applied in waves: a wave is a series
// of consecutive sections none of which depends on another of the same
// wave (for kube-proxy's layout: the chains of different services), and
// a wave starts when the one before it has been committed. After the
// first failing run no further run starts; the error of the earliest
// failing run is returned, and its *RestoreError numbers the lines of
// that run.
type splittingRestorer struct {
	r         Restorer
	maxChains int
	perRun    int
	parallel  int
}

func (s splittingRestorer) Restore(ctx context.Context, payload []byte) error {
	split, parts, ok := splitPayloadParts(payload, s.maxChains)
	if !ok {
		return s.r.Restore(ctx, payload)
	}
	if s.perRun <= 0 {
		return s.r.Restore(ctx, split)
	}
	for _, runs := range splitWaves(parts, s.perRun) {
		if err := s.applyWave(ctx, split, parts, runs); err != nil {
			return err
		}
	}
	return nil
}

// splitWaves groups parts into waves of runs: each run is [first, last]
// part indexes of at most perRun consecutive parts, and within a wave no
// part depends on another part of the same wave.
func splitWaves(parts []splitPart, perRun int) [][][2]int {
	var waves [][][2]int
	var wave [][2]int
	waveStart := 0
	for i, p := range parts {
		if i > 0 && p.after >= waveStart {
			waves = append(waves, wave)
			wave, waveStart = nil, i
		}
		if n := len(wave); n > 0 && wave[n-1][1]-wave[n-1][0]+1 < perRun {
			wave[n-1][1] = i
		} else {
			wave = append(wave, [2]int{i, i})
		}
	}
	if len(wave) > 0 {
		waves = append(waves, wave)
	}
	return waves
}

// applyWave applies the runs of one wave, up to s.parallel at a time.
func (s splittingRestorer) applyWave(ctx context.Context, split []byte, parts []splitPart, runs [][2]int) error {
	run := func(i int) error {
		return s.r.Restore(ctx, split[parts[runs[i][0]].start:parts[runs[i][1]].end])
	}
	if s.parallel <= 1 || len(runs) == 1 {
		for i := range runs {
			if err := run(i); err != nil {
				return err
			}
		}
		return nil
	}
	errs := make([]error, len(runs))
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range min(s.parallel, len(runs)) {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(runs) {
					return
				}
				if errs[i] = run(i); errs[i] != nil {
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
