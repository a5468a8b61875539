package netns

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/nodekit/nodekit/internal/privtest"
)

func TestNamespace(t *testing.T) {
	privtest.Require(t, "ip")
	ctx := context.Background()
	name := fmt.Sprintf("nk-netns-test-%d", os.Getpid())
	ns, created, err := Open(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ns.Delete(context.Background()) })
	if !created || !Exists(name) {
		t.Fatalf("created %v exists %v", created, Exists(name))
	}
	again, created, err := Open(ctx, name)
	if err != nil || created || again.Path != ns.Path {
		t.Fatalf("reopen: %+v %v %v", again, created, err)
	}
	out, err := ns.Run(ctx, "ip", "-o", "link", "show")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(out), "\n") != 1 || !strings.Contains(string(out), "lo:") || !strings.Contains(string(out), "UP") {
		t.Errorf("a new namespace holds more than loopback, or it is down:\n%s", out)
	}
	// A listener opened inside is reachable from inside only.
	l, err := ns.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			_, _ = io.WriteString(c, "inside")
			c.Close()
		}
	}()
	c, err := ns.Dial(ctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	c.Close()
	if string(b) != "inside" {
		t.Errorf("read %q", b)
	}
	if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
		c.Close()
		t.Error("the namespace's listener is reachable from the caller's namespace")
	}
	// Do leaves the caller's namespace as it was.
	before, _ := os.Readlink("/proc/thread-self/ns/net")
	if err := ns.Do(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Readlink("/proc/self/ns/net"); after != before {
		t.Errorf("namespace changed: %s -> %s", before, after)
	}
	if err := ns.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if Exists(name) {
		t.Error("still exists after Delete")
	}
	if _, _, err := Open(ctx, "bad/name"); err == nil {
		t.Error("a name with a slash was accepted")
	}
}
