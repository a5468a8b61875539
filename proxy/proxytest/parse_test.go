package proxytest_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nodekit/nodekit/proxy/proxytest"
)

func TestTokenize(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: `-A X -j ACCEPT`, want: []string{"-A", "X", "-j", "ACCEPT"}},
		{in: "  -A\tX   -j  ACCEPT  ", want: []string{"-A", "X", "-j", "ACCEPT"}},
		{in: `--comment "ns/svc:p cluster IP"`, want: []string{"--comment", "ns/svc:p cluster IP"}},
		{in: `--comment "a \"quoted\" word"`, want: []string{"--comment", `a "quoted" word`}},
		{in: `--comment "back\\slash"`, want: []string{"--comment", `back\slash`}},
		{in: `--comment back\slash`, want: []string{"--comment", `back\slash`}},
		{in: `--comment ""`, want: []string{"--comment", ""}},
		{in: `ab"cd ef"`, want: []string{"abcd ef"}},
		{in: `"ab"cd`, want: []string{"ab", "cd"}},
		{in: `--comment "unterminated`, wantErr: true},
		{in: "--comment " + strings.Repeat("x", 1024), wantErr: true},
		{in: "--comment " + strings.Repeat("x", 1023), want: []string{"--comment", strings.Repeat("x", 1023)}},
	}
	for _, tc := range tests {
		got, err := proxytest.Tokenize(tc.in)
		if tc.wantErr {
			if !errors.Is(err, proxytest.ErrSyntax) {
				t.Errorf("Tokenize(%q) error %v, want ErrSyntax", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Tokenize(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Tokenize(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestParsePayloadErrors(t *testing.T) {
	tests := []struct {
		name     string
		payload  string
		wantLine int
		wantErr  error
	}{
		{"rule before any table", "-A X -j ACCEPT\n", 1, proxytest.ErrNoTable},
		{"missing COMMIT at end", "*nat\n:X - [0:0]\n", 0, proxytest.ErrNoCommit},
		{"new table before COMMIT", "*nat\n*filter\nCOMMIT\n", 2, proxytest.ErrNoCommit},
		{"unknown command", "*nat\n-Z X\nCOMMIT\n", 2, proxytest.ErrSyntax},
		{"bad policy", "*nat\n:X REJECT [0:0]\nCOMMIT\n", 2, proxytest.ErrBadPolicy},
		{"bad counters", "*nat\n:X - [a:0]\nCOMMIT\n", 2, proxytest.ErrSyntax},
		{"chain name starting with a dash", "*nat\n:-X - [0:0]\nCOMMIT\n", 2, proxytest.ErrSyntax},
		{"chain name too long", "*nat\n:" + strings.Repeat("X", 29) + " - [0:0]\nCOMMIT\n", 2, proxytest.ErrSyntax},
		{"option without value", "*nat\n# comment\n\n-A X -j\nCOMMIT\n", 4, proxytest.ErrSyntax},
		{"stray argument", "*nat\n-A X -m comment --comment two words -j ACCEPT\nCOMMIT\n", 2, proxytest.ErrSyntax},
		{"unknown module", "*nat\n-A X -m bogus -j ACCEPT\nCOMMIT\n", 2, proxytest.ErrUnknownExtension},
		{"unknown option", "*nat\n-A X -m recent --rchek -j ACCEPT\nCOMMIT\n", 2, proxytest.ErrUnknownExtension},
		{"port option without protocol", "*nat\n-A X --dport 80 -j ACCEPT\nCOMMIT\n", 2, proxytest.ErrUnknownExtension},
		{"negated jump", "*nat\n-A X ! -j ACCEPT\nCOMMIT\n", 2, proxytest.ErrSyntax},
		{"negated comment", "*nat\n-A X -m comment ! --comment x\nCOMMIT\n", 2, proxytest.ErrSyntax},
		{"two jumps", "*nat\n-A X -j ACCEPT -j DROP\nCOMMIT\n", 2, proxytest.ErrSyntax},
		{"bad address", "*nat\n-A X -d 10.0.0.300 -j ACCEPT\nCOMMIT\n", 2, proxytest.ErrBadArgument},
		{"host name address", "*nat\n-A X -s example.com -j ACCEPT\nCOMMIT\n", 2, proxytest.ErrBadArgument},
		{"bad protocol", "*nat\n-A X -p tcpp -j ACCEPT\nCOMMIT\n", 2, proxytest.ErrBadArgument},
		{"delete by number zero", "*nat\n-D X 0\nCOMMIT\n", 2, proxytest.ErrSyntax},
		{"delete by number with a spec", "*nat\n-D X 1 -j ACCEPT\nCOMMIT\n", 2, proxytest.ErrSyntax},
		{"unterminated quote", "*nat\n-A X -m comment --comment \"abc\nCOMMIT\n", 2, proxytest.ErrSyntax},
		{"trailing negation", "*nat\n-A X -j ACCEPT !\nCOMMIT\n", 2, proxytest.ErrSyntax},
		{"intrapositioned negation", "*nat\n-A X -p tcp --dport ! 80\nCOMMIT\n", 2, proxytest.ErrSyntax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := proxytest.ParsePayload([]byte(tc.payload))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			var re *proxytest.RestoreError
			if !errors.As(err, &re) {
				t.Fatalf("error %T is not a *RestoreError", err)
			}
			if re.Line != tc.wantLine {
				t.Errorf("error line %d, want %d (%v)", re.Line, tc.wantLine, err)
			}
			if re.Line > 0 {
				if want := strings.Split(tc.payload, "\n")[re.Line-1]; re.Text != want {
					t.Errorf("error text %q, want %q", re.Text, want)
				}
			}
		})
	}
}

// describePayload renders the structure of p for golden files.
func describePayload(p *proxytest.Payload) string {
	var b strings.Builder
	for _, t := range p.Tables {
		fmt.Fprintf(&b, "table %s (line %d)\n", t.Name, t.Line)
		for _, c := range t.Chains {
			fmt.Fprintf(&b, "  chain %s policy=%s counters=%d:%d (line %d)\n", c.Name, c.Policy, c.Packets, c.Bytes, c.Line)
		}
		for _, o := range t.Ops {
			fmt.Fprintf(&b, "  %s chain=%q pos=%d policy=%q (line %d)\n", o.Kind, o.Chain, o.Position, o.Policy, o.Line)
			opts, err := o.Rule.Options()
			if err != nil {
				fmt.Fprintf(&b, "    error: %v\n", err)
			}
			for _, opt := range opts {
				neg := ""
				if opt.Negated {
					neg = "! "
				}
				fmt.Fprintf(&b, "    [%s] %s%s %q\n", opt.Module, neg, opt.Name, opt.Values)
			}
			if o.Rule.Target() != "" {
				fmt.Fprintf(&b, "    target=%s goto=%v comment=%q\n", o.Rule.Target(), o.Rule.Goto(), o.Rule.Comment())
			}
		}
	}
	return b.String()
}

func TestParsePayloadGolden(t *testing.T) {
	for _, name := range []string{"trace/kube-proxy.payload", "parse/commands.payload"} {
		t.Run(name, func(t *testing.T) {
			p, err := proxytest.ParsePayload(readTestdata(t, name))
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, strings.TrimSuffix(name, ".payload")+".parsed.golden", describePayload(p))
			// What parses renders back to a payload that parses the same.
			again, err := proxytest.ParsePayload([]byte(p.String()))
			if err != nil {
				t.Fatalf("re-parsing String(): %v\n%s", err, p)
			}
			if diff := cmp.Diff(stripLines(p), stripLines(again)); diff != "" {
				t.Errorf("round trip differs (-first +second):\n%s", diff)
			}
			checkGolden(t, strings.TrimSuffix(name, ".payload")+".rendered.golden", p.String())
		})
	}
}

func TestRuleAccessors(t *testing.T) {
	r := proxytest.MustParseRule("KUBE-SVC-X", `-m comment --comment "ns/svc:p -> 10.0.0.1:80" -m recent --name KUBE-SEP-X --rcheck --seconds 10800 --reap ! -s 10.0.0.0/8 -g KUBE-SEP-X`)
	if got := r.Comment(); got != "ns/svc:p -> 10.0.0.1:80" {
		t.Errorf("Comment() = %q", got)
	}
	if !r.HasMatch("recent") || !r.HasMatch("comment") || r.HasMatch("tcp") {
		t.Errorf("HasMatch wrong for %s", r)
	}
	if !r.Has("--rcheck") || r.Has("--set") {
		t.Errorf("Has wrong for %s", r)
	}
	if o, ok := r.Option("-s"); !ok || !o.Negated || o.Value() != "10.0.0.0/8" || o.Module != "" {
		t.Errorf("Option(-s) = %+v, %v", o, ok)
	}
	if o, _ := r.Option("--seconds"); o.Module != "recent" || o.Value() != "10800" {
		t.Errorf("Option(--seconds) = %+v", o)
	}
	if r.Target() != "KUBE-SEP-X" || !r.Goto() {
		t.Errorf("Target() = %q, Goto() = %v", r.Target(), r.Goto())
	}
	if got := r.Value("--nope"); got != "" {
		t.Errorf("Value of a missing option = %q", got)
	}
	long := proxytest.MustParseRule("X", "--source 10.0.0.1 --protocol tcp --destination-port 80 --jump ACCEPT")
	short := proxytest.MustParseRule("X", "-s 10.0.0.1/32 -p tcp -m tcp --dport 80 -j ACCEPT")
	if !long.Equal(short) {
		c1, _ := long.Canonical()
		c2, _ := short.Canonical()
		t.Errorf("long and short spellings differ:\n%s\n%s", c1, c2)
	}
	if long.Equal(proxytest.MustParseRule("Y", short.Spec())) {
		t.Errorf("rules of different chains compare equal")
	}
	reordered := proxytest.MustParseRule("X", "-p tcp -m tcp --dport 80 -m comment --comment x -j ACCEPT")
	commented := proxytest.MustParseRule("X", "-p tcp -m comment --comment x -m tcp --dport 80 -j ACCEPT")
	if reordered.Equal(commented) {
		t.Errorf("rules with matches in another order compare equal; the kernel tells them apart")
	}
	if _, err := proxytest.ParseRule("bad chain", "-j ACCEPT"); !errors.Is(err, proxytest.ErrSyntax) {
		t.Errorf("ParseRule with a bad chain name: %v", err)
	}
}

func TestCanonicalNormalisesLikeIPTablesSave(t *testing.T) {
	tests := []struct{ in, want string }{
		{"-j MARK --or-mark 0x4000", "-j MARK --set-xmark 0x4000/0x4000"},
		{"-j MARK --xor-mark 0x4000", "-j MARK --set-xmark 0x4000/0x0"},
		{"-j MARK --and-mark 0xffff", "-j MARK --set-xmark 0x0/0xffff0000"},
		{"-j MARK --set-mark 0x8000", "-j MARK --set-xmark 0x8000/0xffffffff"},
		{"-m mark --mark 16384/0x4000 -j RETURN", "-m mark --mark 0x4000/0x4000 -j RETURN"},
		{"-m mark --mark 0x1/0xffffffff", "-m mark --mark 0x1"},
		{"-m statistic --mode random --probability 0.3333333333", "-m statistic --mode random --probability 0.33333333349"},
		{"-m conntrack --ctstate ESTABLISHED,RELATED,NEW", "-m conntrack --ctstate NEW,RELATED,ESTABLISHED"},
		{"-m recent --set --name X --rsource --mask 255.255.255.255", "-m recent --name X --set"},
		{"-j REJECT --reject-with icmp-port-unreachable", "-j REJECT"},
		{"-s 10.1.2.3/8 -p 6 --dport 80", "-s 10.0.0.0/8 -p tcp -m tcp --dport 80"},
		{"-j DNAT -p tcp --to-destination 1.2.3.4:5", "-p tcp -j DNAT --to-destination 1.2.3.4:5"},
	}
	for _, tc := range tests {
		c, err := proxytest.MustParseRule("X", tc.in).Canonical()
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Spec(); got != tc.want {
			t.Errorf("Canonical(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// stripLines returns a copy of p without line numbers, for comparisons.
func stripLines(p *proxytest.Payload) *proxytest.Payload {
	out := &proxytest.Payload{}
	for _, t := range p.Tables {
		t.Line = 0
		t.Chains = slices.Clone(t.Chains)
		for i := range t.Chains {
			t.Chains[i].Line = 0
		}
		t.Ops = slices.Clone(t.Ops)
		for i := range t.Ops {
			t.Ops[i].Line = 0
		}
		out.Tables = append(out.Tables, t)
	}
	return out
}

// FuzzParsePayload checks that the parser never panics and that whatever
// parses renders back (String) to a payload that parses to the same
// structure.
func FuzzParsePayload(f *testing.F) {
	f.Add(readTestdata(f, "trace/kube-proxy.payload"))
	f.Add(readTestdata(f, "parse/commands.payload"))
	f.Add([]byte("*nat\n:X - [0:0]\n-A X -m comment --comment \"a \\\"b\\\" c\" -j RETURN\nCOMMIT\n"))
	f.Add([]byte("*filter\n-I X 3 -s 1.2.3.4 ! -d 10.0.0.0/8 -j DROP\n-D X 2\n-X\n-F\nCOMMIT\n"))
	f.Add([]byte("*nat\n-A X -m comment --comment \"\" -j RETURN\nCOMMIT\n"))
	f.Add([]byte("*nat\n-A X -m comment --comment \"#\" -j RETURN\nCOMMIT\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := proxytest.ParsePayload(data)
		if err != nil {
			var re *proxytest.RestoreError
			if !errors.As(err, &re) {
				t.Fatalf("error %T is not a *RestoreError: %v", err, err)
			}
			return
		}
		rendered := p.String()
		again, err := proxytest.ParsePayload([]byte(rendered))
		if err != nil {
			t.Fatalf("re-parsing the rendered payload: %v\n%s", err, rendered)
		}
		if diff := cmp.Diff(stripLines(p), stripLines(again)); diff != "" {
			t.Fatalf("round trip differs (-first +second):\n%s", diff)
		}
	})
}

// FuzzParseRule checks ParseRule and Canonical: no panics, Spec round
// trips, and Canonical is a fixed point that compares Equal.
func FuzzParseRule(f *testing.F) {
	f.Add(`-m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O`)
	f.Add(`-m recent --name KUBE-SEP-X --rcheck --seconds 10800 --reap -j KUBE-SEP-X`)
	f.Add(`-m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-X`)
	f.Add(`-j MARK --or-mark 0x4000`)
	f.Add(`-m mark ! --mark 0x4000/0x4000 -j RETURN`)
	f.Add(`! -s 10.0.0.0/8 -m addrtype --dst-type LOCAL -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`)
	f.Add(`-p udp -m multiport --dports 53,54:60 -g X`)
	f.Add(`-j DNAT -p tcp --to-destination [fd00::1]:80`)
	f.Fuzz(func(t *testing.T, spec string) {
		r, err := proxytest.ParseRule("KUBE-X", spec)
		if err != nil {
			return
		}
		again, err := proxytest.ParseRule("KUBE-X", r.Spec())
		if err != nil {
			t.Fatalf("re-parsing Spec() %q: %v", r.Spec(), err)
		}
		if !slices.Equal(r.Args, again.Args) {
			t.Fatalf("Spec round trip: %q became %q", r.Args, again.Args)
		}
		c, err := r.Canonical()
		if err != nil {
			t.Fatalf("Canonical of a parsed rule: %v", err)
		}
		cr, err := proxytest.ParseRule("KUBE-X", c.Spec())
		if err != nil {
			t.Fatalf("canonical form %q does not parse: %v", c.Spec(), err)
		}
		cc, err := cr.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Args, cc.Args) {
			t.Fatalf("Canonical is not a fixed point: %q then %q", c.Args, cc.Args)
		}
		if !r.Equal(cr) {
			t.Fatalf("rule and its canonical form are not Equal: %q vs %q", r.Args, cr.Args)
		}
	})
}

// FuzzQuote checks that Quote and Tokenize are inverse for arguments
// without newlines (NUL separates the fuzzer's arguments).
func FuzzQuote(f *testing.F) {
	f.Add("a\x00b c\x00\"\x00\\\x00\x00#x")
	f.Add("--comment\x00ns/svc:p cluster IP")
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		for _, a := range args {
			if strings.ContainsAny(a, "\n") || len(a) > 1023 {
				return
			}
		}
		var quoted []string
		for _, a := range args {
			quoted = append(quoted, proxytest.Quote(a))
		}
		got, err := proxytest.Tokenize(strings.Join(quoted, " "))
		if err != nil {
			t.Fatalf("Tokenize(%q): %v", strings.Join(quoted, " "), err)
		}
		if !slices.Equal(got, args) {
			t.Fatalf("Tokenize(Quote(%q)) = %q", args, got)
		}
	})
}
