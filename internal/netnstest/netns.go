package netnstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"github.com/nodekit/nodekit/internal/netnsexec"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nodekit/nodekit/internal/privtest"
)

// netnsDir is where ip(8) keeps the bind mounts of named namespaces.
const netnsDir = "/run/netns"

// maxIfNameLen is IFNAMSIZ minus the terminating NUL.
const maxIfNameLen = 15

// cleanupTimeout bounds the commands run while tearing a namespace down.
const cleanupTimeout = 30 * time.Second

var roleRe = regexp.MustCompile(`[^a-z0-9]+`)

// Sandbox creates network namespaces for one test and removes them when the
// test ends. It is safe for concurrent use.
type Sandbox struct {
	t      testing.TB
	prefix string

	mu    sync.Mutex
	count int
}

// Namespace is one named network namespace made by a Sandbox. It is safe for
// concurrent use.
type Namespace struct {
	// Name is the namespace's name as ip-netns(8) knows it.
	Name string
	// Path is the namespace's bind mount, usable with setns(2) and as a
	// CNI netns path.
	Path string
}

// New returns a Sandbox for t. It requires root and the ip command (see
// privtest.Require).
func New(t testing.TB) *Sandbox {
	t.Helper()
	privtest.Require(t, "ip")
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("netnstest: random name: %v", err)
	}
	return &Sandbox{t: t, prefix: "nk" + hex.EncodeToString(b[:])}
}

// Namespace creates a namespace whose name contains role, brings its
// loopback up and registers its removal with t.Cleanup.
func (s *Sandbox) Namespace(role string) *Namespace {
	s.t.Helper()
	s.mu.Lock()
	s.count++
	n := s.count
	s.mu.Unlock()
	role = roleRe.ReplaceAllString(strings.ToLower(role), "")
	if len(role) > 12 {
		role = role[:12]
	}
	name := fmt.Sprintf("%s-%d-%s", s.prefix, n, role)
	ns := &Namespace{Name: name, Path: filepath.Join(netnsDir, name)}
	ctx := context.Background()
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", name).CombinedOutput(); err != nil {
		s.t.Fatalf("netnstest: ip netns add %s: %v: %s", name, err, out)
	}
	s.t.Cleanup(func() { s.remove(ns) })
	ns.MustRun(s.t, "ip", "link", "set", "lo", "up")
	return ns
}

// remove kills what still runs in ns and deletes it.
func (s *Sandbox) remove(ns *Namespace) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ip", "netns", "pids", ns.Name).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
	}
	if out, err := exec.CommandContext(ctx, "ip", "netns", "delete", ns.Name).CombinedOutput(); err != nil {
		s.t.Errorf("netnstest: ip netns delete %s: %v: %s", ns.Name, err, out)
	}
}

// Veth creates a veth pair with one end, aName, inside a and the other,
// bName, inside b, and sets both up. The pair is created from inside a, so it
// never exists in the machine's own namespace. It is removed with its
// namespaces.
func (s *Sandbox) Veth(a *Namespace, aName string, b *Namespace, bName string) {
	s.t.Helper()
	for _, n := range []string{aName, bName} {
		if err := checkIfName(n); err != nil {
			s.t.Fatal(err)
		}
	}
	if a == b {
		a.MustRun(s.t, "ip", "link", "add", aName, "type", "veth", "peer", "name", bName)
	} else {
		a.MustRun(s.t, "ip", "link", "add", aName, "type", "veth", "peer", "name", bName, "netns", b.Name)
	}
	a.MustRun(s.t, "ip", "link", "set", aName, "up")
	b.MustRun(s.t, "ip", "link", "set", bName, "up")
}

// checkIfName reports whether the kernel would take name for a network
// interface.
func checkIfName(name string) error {
	if name == "" || len(name) > maxIfNameLen || strings.ContainsAny(name, "/ \t\n:") {
		return fmt.Errorf("netnstest: bad interface name %q (1 to %d bytes, no '/', ':' or spaces)", name, maxIfNameLen)
	}
	return nil
}

// Command returns a command that runs name with args inside ns, through
// "ip netns exec".
func (ns *Namespace) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Run runs a command inside ns and returns its standard output. On failure
// the error carries the command line and its standard error.
func (ns *Namespace) Run(ctx context.Context, args ...string) ([]byte, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("netnstest: Run in %s: no command", ns.Name)
	}
	cmd := ns.Command(ctx, args[0], args[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("netnstest: in %s: %s: %w: %s", ns.Name, strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

// MustRun is Run that fails t on error.
func (ns *Namespace) MustRun(t testing.TB, args ...string) string {
	t.Helper()
	out, err := ns.Run(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// AddAddr assigns the address cidr (as "10.0.0.1/24" or "fd00::1/64") to
// dev inside ns.
func (ns *Namespace) AddAddr(t testing.TB, dev, cidr string) {
	t.Helper()
	ns.MustRun(t, "ip", "addr", "add", cidr, "dev", dev)
}

// AddRoute adds a route inside ns: dst followed by ip-route(8) words such as
// "via", "10.0.0.2" or "dev", "eth0".
func (ns *Namespace) AddRoute(t testing.TB, dst string, spec ...string) {
	t.Helper()
	ns.MustRun(t, append([]string{"ip", "route", "add", dst}, spec...)...)
}

// Do runs fn on an OS thread switched into ns, so that sockets and netlink
// handles fn opens belong to ns. The thread is switched back afterwards; if
// that fails, the thread is left locked and so is discarded by the Go
// runtime when fn's goroutine ends.
func (ns *Namespace) Do(fn func() error) error {
	return netnsexec.Do(ns.Path, fn)
}
