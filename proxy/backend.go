package proxy

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"

	v1 "k8s.io/api/core/v1"
	utilexec "k8s.io/utils/exec"
)

// BackendMode is the kernel interface the iptables tools drive.
type BackendMode string

// The two backends of iptables 1.8.
const (
	// BackendAuto uses the distribution's default "iptables" commands
	// and reports which backend they drive.
	BackendAuto BackendMode = ""
	// BackendNFT is iptables-nft, which writes nf_tables rules in the
	// iptables format.
	BackendNFT BackendMode = "nft"
	// BackendLegacy is iptables-legacy, the x_tables kernel interface.
	BackendLegacy BackendMode = "legacy"
)

// Version is an iptables release, such as 1.8.9.
type Version struct {
	Major, Minor, Patch int
}

// String returns "major.minor.patch".
func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// AtLeast reports whether v is o or later.
func (v Version) AtLeast(o Version) bool {
	if v.Major != o.Major {
		return v.Major > o.Major
	}
	if v.Minor != o.Minor {
		return v.Minor > o.Minor
	}
	return v.Patch >= o.Patch
}

// Versions that changed the lock flags, from kube-proxy's
// pkg/util/iptables and the iptables changelog.
var (
	// iptables -w.
	waitMinVersion = Version{1, 4, 20}
	// iptables -w SECONDS.
	waitSecondsMinVersion = Version{1, 4, 22}
	// iptables -W USECONDS (wait interval).
	waitIntervalMinVersion = Version{1, 6, 1}
	// iptables-restore -w / -W.
	waitRestoreMinVersion = Version{1, 6, 2}
	// From 1.8.8 the wait interval is ignored with a warning on stderr
	// ("Ignoring deprecated --wait-interval option"), so it is left out.
	waitIntervalDeprecatedVersion = Version{1, 8, 8}
)

// Lock flag values, kube-proxy's: wait up to 5 s for the xtables lock,
// polling every 100 ms.
const (
	waitSeconds          = "5"
	waitIntervalUseconds = "100000"
)

// Backend describes the installed iptables tools of one IP family: which
// kernel interface they drive, their version, the command names and the
// lock flags that version supports. DetectBackend fills it in once; it is
// plain data, safe for concurrent reads.
type Backend struct {
	// Mode is BackendNFT or BackendLegacy.
	Mode BackendMode
	// Version is the version "iptables --version" reports.
	Version Version
	// IPTables, Restore and Save are the commands run, such as
	// "iptables-nft", "iptables-nft-restore" and "iptables-nft-save".
	IPTables, Restore, Save string
	// WaitFlags are the lock flags given to IPTables, RestoreWaitFlags
	// those given to Restore (kube-proxy's choice per version).
	WaitFlags, RestoreWaitFlags []string
}

// versionRE matches "iptables v1.8.9 (nf_tables)" and "iptables v1.4.21".
var versionRE = regexp.MustCompile(`v([0-9]+)\.([0-9]+)\.([0-9]+)(?:\s+\(([a-z_]+)\))?`)

// ParseVersionOutput parses the output of "iptables --version" (or of the
// restore tool): the version and, for 1.8 and later, the backend
// ("nf_tables" is BackendNFT, "legacy" BackendLegacy; without a
// parenthesis the tools predate nf_tables and are legacy).
func ParseVersionOutput(out []byte) (Version, BackendMode, error) {
	m := versionRE.FindSubmatch(out)
	if m == nil {
		return Version{}, "", fmt.Errorf("no version in %q: %w", bytes.TrimSpace(out), ErrNoBackend)
	}
	var v Version
	v.Major, _ = strconv.Atoi(string(m[1]))
	v.Minor, _ = strconv.Atoi(string(m[2]))
	v.Patch, _ = strconv.Atoi(string(m[3]))
	switch string(m[4]) {
	case "nf_tables":
		return v, BackendNFT, nil
	case "legacy", "":
		return v, BackendLegacy, nil
	default:
		return v, "", fmt.Errorf("unknown backend %q in %q: %w", m[4], bytes.TrimSpace(out), ErrNoBackend)
	}
}

// waitFlags returns the lock flags of the iptables command for v, as
// kube-proxy chooses them.
func waitFlags(v Version) []string {
	switch {
	case v.AtLeast(waitIntervalDeprecatedVersion):
		return []string{"-w", waitSeconds}
	case v.AtLeast(waitIntervalMinVersion):
		return []string{"-w", waitSeconds, "-W", waitIntervalUseconds}
	case v.AtLeast(waitSecondsMinVersion):
		return []string{"-w", waitSeconds}
	case v.AtLeast(waitMinVersion):
		return []string{"-w"}
	default:
		return nil
	}
}

// restoreWaitFlags returns the lock flags of the restore command for v.
// Older versions that answer --version are assumed to support a bare -w
// (distributions backported it), as kube-proxy does; the others get none.
func restoreWaitFlags(v Version, restoreAnswersVersion bool) []string {
	switch {
	case v.AtLeast(waitIntervalDeprecatedVersion):
		return []string{"-w", waitSeconds}
	case v.AtLeast(waitRestoreMinVersion):
		return []string{"-w", waitSeconds, "-W", waitIntervalUseconds}
	case restoreAnswersVersion:
		return []string{"-w"}
	default:
		return nil
	}
}

// commandNames returns the iptables, restore and save commands of family
// and mode (BackendAuto: the unprefixed, distribution-default ones).
func commandNames(family v1.IPFamily, mode BackendMode) (ipt, restore, save string) {
	base := "iptables"
	if family == v1.IPv6Protocol {
		base = "ip6tables"
	}
	if mode != BackendAuto {
		base += "-" + string(mode)
	}
	return base, base + "-restore", base + "-save"
}

// DetectBackend finds the iptables tools of family ("" means IPv4) for
// mode, runs "--version" once to learn their version and backend, and
// chooses the lock flags that version supports. It returns an error
// wrapping ErrNoBackend when the tools are missing or report another
// backend than the one asked for.
func DetectBackend(ctx context.Context, ex utilexec.Interface, family v1.IPFamily, mode BackendMode) (Backend, error) {
	if mode != BackendAuto && mode != BackendNFT && mode != BackendLegacy {
		return Backend{}, fmt.Errorf("backend mode %q: %w", mode, ErrNoBackend)
	}
	ipt, restore, save := commandNames(family, mode)
	for _, c := range []string{ipt, restore, save} {
		if _, err := ex.LookPath(c); err != nil {
			return Backend{}, fmt.Errorf("%s: %w: %w", c, ErrNoBackend, err)
		}
	}
	out, err := ex.CommandContext(ctx, ipt, "--version").CombinedOutput()
	if err != nil {
		return Backend{}, fmt.Errorf("%s --version: %w: %w (%s)", ipt, ErrNoBackend, err, bytes.TrimSpace(out))
	}
	v, got, err := ParseVersionOutput(out)
	if err != nil {
		return Backend{}, fmt.Errorf("%s --version: %w", ipt, err)
	}
	if mode != BackendAuto && got != mode {
		return Backend{}, fmt.Errorf("%s reports backend %s, want %s: %w", ipt, got, mode, ErrNoBackend)
	}
	b := Backend{Mode: got, Version: v, IPTables: ipt, Restore: restore, Save: save, WaitFlags: waitFlags(v)}
	answers := false
	if !v.AtLeast(waitRestoreMinVersion) {
		rout, rerr := ex.CommandContext(ctx, restore, "--version").CombinedOutput()
		_, _, perr := ParseVersionOutput(rout)
		answers = rerr == nil && perr == nil
	}
	b.RestoreWaitFlags = restoreWaitFlags(v, answers)
	return b, nil
}
