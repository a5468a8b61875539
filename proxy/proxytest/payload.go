package proxytest

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Payload is a parsed iptables-restore input: a sequence of table
// sections, each closed by COMMIT. It is plain data and safe for concurrent
// reads.
type Payload struct {
	// Tables are the table sections, in payload order.
	Tables []Table
}

// Table is one "*name" ... "COMMIT" section of a payload.
type Table struct {
	// Name is the table name ("filter", "nat", ...), as written.
	Name string
	// Line is the 1-based line of "*name" (0 when built by hand).
	Line int
	// Chains are the ":CHAIN POLICY [p:b]" declarations, in order.
	Chains []ChainDecl
	// Ops are the command lines (-A, -I, -D, -F, -X, -N, -P), in order.
	Ops []Op
}

// ChainDecl is a chain declaration line, ":NAME POLICY [packets:bytes]".
// Under --noflush it creates a user-defined chain, or flushes it if it
// exists; for a built-in chain it sets the policy (unless "-").
type ChainDecl struct {
	// Name is the chain's name.
	Name string
	// Policy is "ACCEPT" or "DROP" for built-in chains and "-" for
	// user-defined ones.
	Policy string
	// Packets and Bytes are the counters, [0:0] when absent.
	Packets, Bytes uint64
	// Line is the 1-based payload line (0 when built by hand).
	Line int
}

// String renders the declaration as iptables-save does.
func (c ChainDecl) String() string {
	return fmt.Sprintf(":%s %s [%d:%d]", c.Name, c.Policy, c.Packets, c.Bytes)
}

// OpKind is the command of a payload line, spelled as iptables spells it.
type OpKind string

// The commands iptables-restore accepts in a table section.
const (
	OpAppend      OpKind = "-A" // append Rule to Chain
	OpInsert      OpKind = "-I" // insert Rule at Position (1 when 0)
	OpDelete      OpKind = "-D" // delete Rule, or the rule at Position when > 0
	OpFlush       OpKind = "-F" // flush Chain, or every chain when Chain is ""
	OpDeleteChain OpKind = "-X" // delete Chain, or every user chain when ""
	OpNewChain    OpKind = "-N" // create Chain
	OpPolicy      OpKind = "-P" // set Chain's policy to Policy
)

// Op is one command line of a table section.
type Op struct {
	// Kind is the command.
	Kind OpKind
	// Chain is the chain the command applies to ("" for -F and -X of all
	// chains).
	Chain string
	// Rule is the rule of -A, -I and -D by specification; Rule.Chain equals
	// Chain.
	Rule Rule
	// Position is the rule number of "-I CHAIN n" and "-D CHAIN n"; 0 when
	// absent.
	Position int
	// Policy is the policy of -P.
	Policy string
	// Line is the 1-based payload line (0 when built by hand).
	Line int
}

// String renders the op as a payload line.
func (o Op) String() string {
	var b strings.Builder
	b.WriteString(string(o.Kind))
	if o.Chain != "" {
		b.WriteByte(' ')
		b.WriteString(o.Chain)
	}
	switch o.Kind {
	case OpInsert:
		if o.Position > 0 {
			fmt.Fprintf(&b, " %d", o.Position)
		}
	case OpDelete:
		if o.Position > 0 {
			fmt.Fprintf(&b, " %d", o.Position)
			return b.String()
		}
	case OpPolicy:
		b.WriteByte(' ')
		b.WriteString(o.Policy)
		return b.String()
	}
	switch o.Kind {
	case OpAppend, OpInsert, OpDelete:
		if len(o.Rule.Args) > 0 {
			b.WriteByte(' ')
			joinArgs(&b, o.Rule.Args)
		}
	}
	return b.String()
}

// String renders the payload in iptables-restore syntax. Within a table,
// declarations and ops keep their payload order when every one has a Line;
// otherwise declarations come first. ParsePayload of the result yields the
// same tables, chains and ops (line numbers aside).
func (p *Payload) String() string {
	var b strings.Builder
	for _, t := range p.Tables {
		t.write(&b)
	}
	return b.String()
}

// write renders one table section.
func (t *Table) write(b *strings.Builder) {
	b.WriteString("*")
	b.WriteString(t.Name)
	b.WriteByte('\n')
	ordered := t.Line > 0
	for _, c := range t.Chains {
		ordered = ordered && c.Line > 0
	}
	for _, o := range t.Ops {
		ordered = ordered && o.Line > 0
	}
	ci, oi := 0, 0
	for ci < len(t.Chains) || oi < len(t.Ops) {
		takeChain := oi >= len(t.Ops) ||
			(ci < len(t.Chains) && (!ordered || t.Chains[ci].Line < t.Ops[oi].Line))
		if takeChain {
			b.WriteString(t.Chains[ci].String())
			ci++
		} else {
			b.WriteString(t.Ops[oi].String())
			oi++
		}
		b.WriteByte('\n')
	}
	b.WriteString("COMMIT\n")
}

// ParsePayload parses an iptables-restore payload. Blank lines and lines
// starting with '#' are skipped. Every table section must end with COMMIT.
// Errors are *RestoreError values naming the line; they wrap ErrSyntax,
// ErrNoTable, ErrNoCommit or an error of ParseRule. ParsePayload checks
// syntax only: whether chains exist is checked by FakeKernel.Restore.
func ParsePayload(data []byte) (*Payload, error) {
	p := &Payload{}
	var cur *Table
	err := parseLines(data, sectionHandler{
		begin: func(t Table) error { cur = &t; return nil },
		decl:  func(d ChainDecl) error { cur.Chains = append(cur.Chains, d); return nil },
		op:    func(o Op, _ []Option) error { cur.Ops = append(cur.Ops, o); return nil },
		commit: func(int) error {
			p.Tables = append(p.Tables, *cur)
			cur = nil
			return nil
		},
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// sectionHandler receives the lines of a payload as they are parsed, so that
// FakeKernel.Restore can apply each line in turn and commit table by table,
// as iptables-restore does. An error returned by a handler stops parsing
// and is wrapped in a *RestoreError for the current line.
type sectionHandler struct {
	begin  func(Table) error // "*table" (Name and Line set)
	decl   func(ChainDecl) error
	op     func(Op, []Option) error // the op and its rule's parsed options
	commit func(line int) error
}

// parseLines parses data line by line, calling h as it goes. It stops at
// the first error, from the parser or from h.
func parseLines(data []byte, h sectionHandler) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	var (
		inTable   bool
		tableName string
		tableLine int
		lineNo    int
	)
	for sc.Scan() {
		lineNo++
		text := sc.Text()
		line := strings.TrimLeft(text, " \t")
		if line == "" || line[0] == '#' {
			continue
		}
		fail := func(err error) error {
			if _, ok := err.(*RestoreError); ok {
				return err
			}
			return &RestoreError{Line: lineNo, Text: text, Err: err}
		}
		if !inTable {
			if line[0] != '*' {
				return fail(fmt.Errorf("no table specified (expected \"*table\"): %w", ErrNoTable))
			}
			name := strings.TrimRight(line[1:], " \t")
			if name == "" || strings.ContainsAny(name, " \t") {
				return fail(fmt.Errorf("bad table name %q: %w", name, ErrSyntax))
			}
			inTable, tableName, tableLine = true, name, lineNo
			if err := h.begin(Table{Name: name, Line: lineNo}); err != nil {
				return fail(err)
			}
			continue
		}
		switch {
		case strings.TrimRight(line, " \t") == "COMMIT":
			inTable = false
			if err := h.commit(lineNo); err != nil {
				return fail(err)
			}
		case line[0] == '*':
			return fail(fmt.Errorf("new table started before COMMIT of table %q: %w", tableName, ErrNoCommit))
		case line[0] == ':':
			decl, err := parseChainDecl(line)
			if err != nil {
				return fail(err)
			}
			decl.Line = lineNo
			if err := h.decl(decl); err != nil {
				return fail(err)
			}
		default:
			op, opts, err := parseOp(line)
			if err != nil {
				return fail(err)
			}
			op.Line = lineNo
			if err := h.op(op, opts); err != nil {
				return fail(err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return &RestoreError{Line: lineNo + 1, Err: fmt.Errorf("reading payload: %v: %w", err, ErrSyntax)}
	}
	if inTable {
		return &RestoreError{Line: 0, Err: fmt.Errorf("table %q (line %d) not closed: %w", tableName, tableLine, ErrNoCommit)}
	}
	return nil
}

// parseChainDecl parses ":NAME POLICY [p:b]"; the counters are optional.
func parseChainDecl(line string) (ChainDecl, error) {
	fields := strings.Fields(line[1:])
	if len(fields) < 2 || len(fields) > 3 {
		return ChainDecl{}, fmt.Errorf("chain declaration needs \":CHAIN POLICY [packets:bytes]\": %w", ErrSyntax)
	}
	d := ChainDecl{Name: fields[0], Policy: fields[1]}
	if err := checkChainName(d.Name); err != nil {
		return ChainDecl{}, err
	}
	switch d.Policy {
	case "-", "ACCEPT", "DROP":
	default:
		return ChainDecl{}, fmt.Errorf("chain %s: policy %q: %w", d.Name, d.Policy, ErrBadPolicy)
	}
	if len(fields) == 3 {
		c := fields[2]
		if len(c) < 5 || c[0] != '[' || c[len(c)-1] != ']' {
			return ChainDecl{}, fmt.Errorf("chain %s: bad counters %q: %w", d.Name, c, ErrSyntax)
		}
		pk, by, ok := strings.Cut(c[1:len(c)-1], ":")
		var err1, err2 error
		d.Packets, err1 = strconv.ParseUint(pk, 10, 64)
		d.Bytes, err2 = strconv.ParseUint(by, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			return ChainDecl{}, fmt.Errorf("chain %s: bad counters %q: %w", d.Name, c, ErrSyntax)
		}
	}
	return d, nil
}

// commandAliases maps long command spellings to the short ones.
var commandAliases = map[string]OpKind{
	"-A": OpAppend, "--append": OpAppend,
	"-I": OpInsert, "--insert": OpInsert,
	"-D": OpDelete, "--delete": OpDelete,
	"-F": OpFlush, "--flush": OpFlush,
	"-X": OpDeleteChain, "--delete-chain": OpDeleteChain,
	"-N": OpNewChain, "--new-chain": OpNewChain,
	"-P": OpPolicy, "--policy": OpPolicy,
}

// parseOp parses a command line of a table section, and returns the
// parsed options of its rule (nil for commands without one).
func parseOp(line string) (Op, []Option, error) {
	args, err := Tokenize(line)
	if err != nil {
		return Op{}, nil, err
	}
	if len(args) == 0 {
		return Op{}, nil, fmt.Errorf("empty command: %w", ErrSyntax)
	}
	kind, ok := commandAliases[args[0]]
	if !ok {
		return Op{}, nil, fmt.Errorf("unknown command %q: %w", args[0], ErrSyntax)
	}
	op := Op{Kind: kind}
	rest := args[1:]
	if len(rest) > 0 {
		op.Chain = rest[0]
		rest = rest[1:]
		if err := checkChainName(op.Chain); err != nil {
			return Op{}, nil, err
		}
	}
	switch kind {
	case OpFlush, OpDeleteChain:
		if len(rest) > 0 {
			return Op{}, nil, fmt.Errorf("%s takes at most a chain name, got extra %q: %w", kind, rest[0], ErrSyntax)
		}
		return op, nil, nil
	}
	if op.Chain == "" {
		return Op{}, nil, fmt.Errorf("%s requires a chain name: %w", kind, ErrSyntax)
	}
	switch kind {
	case OpNewChain:
		if len(rest) > 0 {
			return Op{}, nil, fmt.Errorf("-N takes only a chain name, got extra %q: %w", rest[0], ErrSyntax)
		}
		return op, nil, nil
	case OpPolicy:
		if len(rest) != 1 {
			return Op{}, nil, fmt.Errorf("-P needs a chain and a policy: %w", ErrSyntax)
		}
		if rest[0] != "ACCEPT" && rest[0] != "DROP" {
			return Op{}, nil, fmt.Errorf("chain %s: policy %q: %w", op.Chain, rest[0], ErrBadPolicy)
		}
		op.Policy = rest[0]
		return op, nil, nil
	case OpInsert, OpDelete:
		if len(rest) > 0 && rest[0] != "" && rest[0][0] >= '0' && rest[0][0] <= '9' {
			n, err := strconv.Atoi(rest[0])
			if err != nil || n < 1 {
				return Op{}, nil, fmt.Errorf("invalid rule number %q: %w", rest[0], ErrSyntax)
			}
			op.Position = n
			rest = rest[1:]
			if kind == OpDelete {
				if len(rest) > 0 {
					return Op{}, nil, fmt.Errorf("-D %s %d takes no rule specification, got %q: %w", op.Chain, n, rest[0], ErrSyntax)
				}
				return op, nil, nil
			}
		}
	}
	if len(rest) == 0 {
		rest = nil
	}
	op.Rule = Rule{Chain: op.Chain, Args: rest}
	opts, err := op.Rule.Options()
	if err != nil {
		return Op{}, nil, err
	}
	return op, opts, nil
}
