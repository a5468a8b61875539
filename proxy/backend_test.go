package proxy

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	utilexec "k8s.io/utils/exec"
	fakeexec "k8s.io/utils/exec/testing"
)

func TestParseVersionOutput(t *testing.T) {
	for _, tc := range []struct {
		out     string
		want    Version
		mode    BackendMode
		wantErr bool
	}{
		{out: "iptables v1.8.9 (nf_tables)\n", want: Version{1, 8, 9}, mode: BackendNFT},
		{out: "iptables v1.8.9 (legacy)\n", want: Version{1, 8, 9}, mode: BackendLegacy},
		{out: "iptables-restore v1.8.9 (nf_tables)", want: Version{1, 8, 9}, mode: BackendNFT},
		{out: "iptables v1.4.21\n", want: Version{1, 4, 21}, mode: BackendLegacy},
		{out: "ip6tables v1.6.1", want: Version{1, 6, 1}, mode: BackendLegacy},
		{out: "iptables v1.8.9 (weird)", wantErr: true},
		{out: "command not found", wantErr: true},
		{out: "", wantErr: true},
	} {
		t.Run(tc.out, func(t *testing.T) {
			v, mode, err := ParseVersionOutput([]byte(tc.out))
			if tc.wantErr {
				if !errors.Is(err, ErrNoBackend) {
					t.Fatalf("err = %v, want ErrNoBackend", err)
				}
				return
			}
			if err != nil || v != tc.want || mode != tc.mode {
				t.Fatalf("got %v %q %v, want %v %q", v, mode, err, tc.want, tc.mode)
			}
		})
	}
}

func FuzzParseVersionOutput(f *testing.F) {
	for _, s := range []string{"iptables v1.8.9 (nf_tables)", "iptables v1.4.21", "v99999999999999999999.1.1", "v1.2.3 (legacy"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, mode, err := ParseVersionOutput([]byte(s))
		if err == nil && mode != BackendNFT && mode != BackendLegacy {
			t.Fatalf("%q: mode %q without error", s, mode)
		}
		if err == nil && (v.Major < 0 || v.Minor < 0 || v.Patch < 0) {
			t.Fatalf("%q: negative version %v", s, v)
		}
	})
}

func TestWaitFlags(t *testing.T) {
	for _, tc := range []struct {
		v               Version
		answers         bool
		iptables, rstor []string
	}{
		{v: Version{1, 4, 19}, iptables: nil, rstor: nil},
		{v: Version{1, 4, 19}, answers: true, iptables: nil, rstor: []string{"-w"}},
		{v: Version{1, 4, 20}, iptables: []string{"-w"}, rstor: nil},
		{v: Version{1, 4, 22}, iptables: []string{"-w", "5"}, rstor: nil},
		{v: Version{1, 6, 1}, answers: true, iptables: []string{"-w", "5", "-W", "100000"}, rstor: []string{"-w"}},
		{v: Version{1, 6, 2}, iptables: []string{"-w", "5", "-W", "100000"}, rstor: []string{"-w", "5", "-W", "100000"}},
		{v: Version{1, 8, 7}, iptables: []string{"-w", "5", "-W", "100000"}, rstor: []string{"-w", "5", "-W", "100000"}},
		{v: Version{1, 8, 9}, iptables: []string{"-w", "5"}, rstor: []string{"-w", "5"}},
		{v: Version{2, 0, 0}, iptables: []string{"-w", "5"}, rstor: []string{"-w", "5"}},
	} {
		if got := waitFlags(tc.v); !cmp.Equal(got, tc.iptables) {
			t.Errorf("waitFlags(%v) = %q, want %q", tc.v, got, tc.iptables)
		}
		if got := restoreWaitFlags(tc.v, tc.answers); !cmp.Equal(got, tc.rstor) {
			t.Errorf("restoreWaitFlags(%v, %v) = %q, want %q", tc.v, tc.answers, got, tc.rstor)
		}
	}
}

// scriptedExec answers LookPath for the names in found and runs each
// command through fake commands returning out and err in order.
func scriptedExec(found []string, cmds ...fakeexec.FakeCommandAction) *fakeexec.FakeExec {
	return &fakeexec.FakeExec{
		CommandScript: cmds,
		LookPathFunc: func(file string) (string, error) {
			for _, f := range found {
				if f == file {
					return "/usr/sbin/" + f, nil
				}
			}
			return "", exec.ErrNotFound
		},
	}
}

func outputCmd(out string, err error, seen *[][]string) fakeexec.FakeCommandAction {
	return func(cmd string, args ...string) utilexec.Cmd {
		*seen = append(*seen, append([]string{cmd}, args...))
		fc := &fakeexec.FakeCmd{CombinedOutputScript: []fakeexec.FakeAction{func() ([]byte, []byte, error) { return []byte(out), nil, err }}}
		return fakeexec.InitFakeCmd(fc, cmd, args...)
	}
}

func TestDetectBackend(t *testing.T) {
	ctx := context.Background()
	nft := []string{"iptables-nft", "iptables-nft-restore", "iptables-nft-save"}
	t.Run("nft", func(t *testing.T) {
		var seen [][]string
		ex := scriptedExec(nft, outputCmd("iptables v1.8.9 (nf_tables)\n", nil, &seen))
		b, err := DetectBackend(ctx, ex, v1.IPv4Protocol, BackendNFT)
		if err != nil {
			t.Fatal(err)
		}
		want := Backend{Mode: BackendNFT, Version: Version{1, 8, 9}, IPTables: "iptables-nft", Restore: "iptables-nft-restore",
			Save: "iptables-nft-save", WaitFlags: []string{"-w", "5"}, RestoreWaitFlags: []string{"-w", "5"}}
		if diff := cmp.Diff(want, b); diff != "" {
			t.Errorf("backend (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([][]string{{"iptables-nft", "--version"}}, seen); diff != "" {
			t.Errorf("commands (-want +got):\n%s", diff)
		}
	})
	t.Run("auto ipv6 old version probes restore", func(t *testing.T) {
		var seen [][]string
		ex := scriptedExec([]string{"ip6tables", "ip6tables-restore", "ip6tables-save"},
			outputCmd("ip6tables v1.4.21\n", nil, &seen), outputCmd("ip6tables-restore v1.4.21\n", nil, &seen))
		b, err := DetectBackend(ctx, ex, v1.IPv6Protocol, BackendAuto)
		if err != nil {
			t.Fatal(err)
		}
		if b.Mode != BackendLegacy || b.Restore != "ip6tables-restore" || !cmp.Equal(b.RestoreWaitFlags, []string{"-w"}) || !cmp.Equal(b.WaitFlags, []string{"-w"}) {
			t.Errorf("got %+v", b)
		}
		if len(seen) != 2 || seen[1][0] != "ip6tables-restore" {
			t.Errorf("commands %q", seen)
		}
	})
	t.Run("wrong backend", func(t *testing.T) {
		var seen [][]string
		ex := scriptedExec([]string{"iptables-legacy", "iptables-legacy-restore", "iptables-legacy-save"}, outputCmd("iptables v1.8.9 (nf_tables)\n", nil, &seen))
		if _, err := DetectBackend(ctx, ex, "", BackendLegacy); !errors.Is(err, ErrNoBackend) {
			t.Fatalf("err = %v, want ErrNoBackend", err)
		}
	})
	t.Run("missing tool", func(t *testing.T) {
		ex := scriptedExec(nil)
		_, err := DetectBackend(ctx, ex, "", BackendNFT)
		if !errors.Is(err, ErrNoBackend) || !strings.Contains(err.Error(), "iptables-nft") {
			t.Fatalf("err = %v, want ErrNoBackend naming iptables-nft", err)
		}
	})
	t.Run("bad mode", func(t *testing.T) {
		if _, err := DetectBackend(ctx, scriptedExec(nft), "", "ebpf"); !errors.Is(err, ErrNoBackend) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestFailedLine(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want int
	}{
		// Measured with iptables 1.8.9 (see restore_error.go).
		{"iptables-nft-restore: line 5 failed: No chain/target/match by that name.\n", 5},
		{"iptables-restore: line 2 failed\n", 2},
		{"iptables-restore v1.8.9 (legacy): Couldn't load target `KUBE-MISSING':No such file or directory\n\nError occurred at line: 3\nTry `iptables-restore -h' or 'iptables-restore --help' for more information.\n", 3},
		{"iptables-restore: unable to initialize table 'nat'\n", 0},
		{"line 0 failed", 0},
		{"", 0},
	} {
		if got := FailedLine([]byte(tc.out)); got != tc.want {
			t.Errorf("FailedLine(%q) = %d, want %d", tc.out, got, tc.want)
		}
	}
}

func FuzzFailedLine(f *testing.F) {
	f.Add("iptables-restore: line 5 failed", "*nat\n:A - [0:0]\nCOMMIT\n")
	f.Add("Error occurred at line: 99999999999999999999999", "")
	f.Fuzz(func(t *testing.T, out, payload string) {
		n := FailedLine([]byte(out))
		if n < 0 {
			t.Fatalf("negative line %d", n)
		}
		e := newRestoreError("iptables-restore", []byte(payload), []byte(out), errors.New("exit status 1"))
		if len(e.Context) > 2*restoreContextLines+1 {
			t.Fatalf("%d context lines", len(e.Context))
		}
		_ = e.Error()
	})
}

func TestRunRestore(t *testing.T) {
	payload := "*nat\n:KUBE-A - [0:0]\n:KUBE-B - [0:0]\n-A KUBE-A -j KUBE-MISSING\n-A KUBE-B -j RETURN\nCOMMIT\n"
	b := Backend{Restore: "iptables-nft-restore", RestoreWaitFlags: []string{"-w", "5"}}
	var gotArgs []string
	var gotStdin string
	ex := &fakeexec.FakeExec{CommandScript: []fakeexec.FakeCommandAction{func(cmd string, args ...string) utilexec.Cmd {
		gotArgs = append([]string{cmd}, args...)
		fc := &fakeexec.FakeCmd{}
		fc.RunScript = []fakeexec.FakeAction{func() ([]byte, []byte, error) {
			in, _ := io.ReadAll(fc.Stdin)
			gotStdin = string(in)
			return nil, []byte("iptables-nft-restore: line 4 failed: No chain/target/match by that name.\n"), &fakeexec.FakeExitError{Status: 1}
		}}
		return fakeexec.InitFakeCmd(fc, cmd, args...)
	}}}
	err := runRestore(context.Background(), ex, b, []byte(payload))
	var re *RestoreError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want *RestoreError", err)
	}
	if !errors.Is(err, ErrRestoreFailed) {
		t.Errorf("err does not wrap ErrRestoreFailed")
	}
	if diff := cmp.Diff([]string{"iptables-nft-restore", "-w", "5", "--noflush"}, gotArgs); diff != "" {
		t.Errorf("args (-want +got):\n%s", diff)
	}
	if gotStdin != payload {
		t.Errorf("stdin = %q", gotStdin)
	}
	want := &RestoreError{Command: "iptables-nft-restore", Line: 4, Text: "-A KUBE-A -j KUBE-MISSING",
		Context: []string{"2: :KUBE-A - [0:0]", "3: :KUBE-B - [0:0]", "4: -A KUBE-A -j KUBE-MISSING", "5: -A KUBE-B -j RETURN", "6: COMMIT"},
		Output:  "iptables-nft-restore: line 4 failed: No chain/target/match by that name.", Err: re.Err}
	if diff := cmp.Diff(want, re); diff != "" {
		t.Errorf("RestoreError (-want +got):\n%s", diff)
	}
	if !strings.Contains(re.Error(), `line 4 "-A KUBE-A -j KUBE-MISSING"`) {
		t.Errorf("Error() = %s", re.Error())
	}
}
