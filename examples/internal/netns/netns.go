package netns

import (
	"context"
	"fmt"
	"github.com/nodekit/nodekit/internal/netnsexec"
	"net"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Dir is where ip(8) keeps named network namespaces.
const Dir = "/run/netns"

// Namespace is a named network namespace, mounted at Dir/Name.
type Namespace struct {
	// Name is the namespace's name, as "ip netns" lists it.
	Name string
	// Path is where it is mounted: Dir/Name.
	Path string
}

// Open returns the named namespace, creating it (with its loopback device
// up) when it does not exist yet. created tells which happened: an agent
// that restarts finds its namespace, with its pods' network, still there.
func Open(ctx context.Context, name string) (ns *Namespace, created bool, err error) {
	if name == "" || strings.ContainsAny(name, "/ \t\n") || len(name) > 64 {
		return nil, false, fmt.Errorf("netns: invalid name %q", name)
	}
	ns = &Namespace{Name: name, Path: filepath.Join(Dir, name)}
	if Exists(name) {
		return ns, false, nil
	}
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, false, fmt.Errorf("netns: ip netns add %s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	if _, err := ns.Run(ctx, "ip", "link", "set", "lo", "up"); err != nil {
		_ = ns.Delete(context.Background())
		return nil, false, err
	}
	return ns, true, nil
}

// Exists reports whether a namespace of that name is mounted.
func Exists(name string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Join(Dir, name), &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// Delete removes the namespace (ip netns delete). Devices inside it go with
// it once no process uses it any more.
func (ns *Namespace) Delete(ctx context.Context) error {
	if !Exists(ns.Name) {
		return nil
	}
	if out, err := exec.CommandContext(ctx, "ip", "netns", "delete", ns.Name).CombinedOutput(); err != nil {
		return fmt.Errorf("netns: ip netns delete %s: %w: %s", ns.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Command returns a command that runs inside the namespace (ip netns exec).
func (ns *Namespace) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Run runs a command inside the namespace and returns its output; the error
// includes the output.
func (ns *Namespace) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := ns.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("netns %s: %s %s: %w: %s", ns.Name, name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// Do runs fn on an OS thread switched into the namespace: sockets fn opens
// live there, and /proc/sys/net is the namespace's. Goroutines fn starts do
// not inherit the namespace.
func (ns *Namespace) Do(fn func() error) error {
	return netnsexec.Do(ns.Path, fn)
}

// Listen opens a listener inside the namespace.
func (ns *Namespace) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	var l net.Listener
	err := ns.Do(func() error {
		var err error
		l, err = (&net.ListenConfig{}).Listen(ctx, network, address)
		return err
	})
	return l, err
}

// Dial opens a connection from inside the namespace. The connection stays in
// the namespace it was opened in.
func (ns *Namespace) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	var c net.Conn
	err := ns.Do(func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, network, address)
		return err
	})
	return c, err
}
