package netnstest_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nodekit/nodekit/internal/netnstest"
)

// TestTCPEchoAcrossNamespaces runs an echo server in one namespace and a
// client in another, joined by a veth pair, with Go sockets opened by Do.
func TestTCPEchoAcrossNamespaces(t *testing.T) {
	sb := netnstest.New(t)
	server, client := sb.Namespace("server"), sb.Namespace("client")
	sb.Veth(server, "veth-s", client, "veth-c")
	server.AddAddr(t, "veth-s", "10.231.0.1/24")
	client.AddAddr(t, "veth-c", "10.231.0.2/24")

	var ln net.Listener
	if err := server.Do(func() (err error) {
		ln, err = net.Listen("tcp", "10.231.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()

	var conn net.Conn
	if err := client.Do(func() (err error) {
		d := net.Dialer{Timeout: 5 * time.Second}
		conn, err = d.Dial("tcp", ln.Addr().String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "hello across namespaces\n"); err != nil {
		t.Fatal(err)
	}
	got, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || got != "hello across namespaces\n" {
		t.Fatalf("echo = %q, %v", got, err)
	}

	// The same address is not reachable from this test's own namespace:
	// the sandbox has no path to it.
	d := net.Dialer{Timeout: 300 * time.Millisecond}
	if c, err := d.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Fatal("sandbox server reachable from the test's own namespace")
	}
}

// TestCommandRunsInside checks that Command and Run execute inside the
// namespace: the interfaces they see are the sandbox's, not the machine's.
func TestCommandRunsInside(t *testing.T) {
	sb := netnstest.New(t)
	ns := sb.Namespace("cmd")
	out := ns.MustRun(t, "ip", "-o", "link", "show")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.Contains(lines[0], " lo:") {
		t.Fatalf("fresh namespace links = %q, want only lo", out)
	}
	if routes := strings.TrimSpace(ns.MustRun(t, "ip", "route", "show")); routes != "" {
		t.Fatalf("fresh namespace has routes %q, want none", routes)
	}
	_, err := ns.Run(context.Background(), "sh", "-c", "echo oops >&2; exit 3")
	var exitErr interface{ ExitCode() int }
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 || !strings.Contains(err.Error(), "oops") {
		t.Fatalf("Run error = %v, want exit 3 carrying stderr", err)
	}
}

// TestCleanupRemovesEverything makes namespaces in a subtest, leaves a
// process running in one of them, and checks that none survives the
// subtest's cleanup and that the process was killed.
func TestCleanupRemovesEverything(t *testing.T) {
	var names []string
	var cmd *exec.Cmd
	t.Run("inner", func(t *testing.T) {
		sb := netnstest.New(t)
		a, b := sb.Namespace("a"), sb.Namespace("b")
		sb.Veth(a, "va", b, "vb")
		names = append(names, a.Name, b.Name)
		cmd = a.Command(context.Background(), "sleep", "300")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
	})
	if len(names) == 0 {
		t.Skip("inner test skipped")
	}
	for _, n := range names {
		if _, err := os.Stat("/run/netns/" + n); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s still present after cleanup (stat: %v)", n, err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("process left in the namespace exited cleanly; want it killed")
		}
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		t.Error("process left in the namespace still runs after cleanup")
	}
}
