package netnsexec_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/nodekit/nodekit/internal/netnsexec"
	"github.com/nodekit/nodekit/internal/privtest"
)

func ownNetNS(t *testing.T) string {
	t.Helper()
	link, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	return link
}

func TestDoEntersAndLeaves(t *testing.T) {
	privtest.Require(t, "ip")
	name := fmt.Sprintf("nkexec-%d-%d", os.Getpid(), time.Now().UnixNano()%1e9)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", name).Run() })
	path := "/run/netns/" + name
	before := ownNetNS(t)
	var inside string
	if err := netnsexec.Do(path, func() error {
		inside = ownNetNS(t)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if inside == before {
		t.Fatalf("fn ran in the caller's namespace %s", inside)
	}
	if after := ownNetNS(t); after != before {
		t.Fatalf("caller's namespace changed to %s", after)
	}
	sentinel := errors.New("from fn")
	if err := netnsexec.Do(path, func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Fatalf("Do = %v, want fn's error", err)
	}
	if err := netnsexec.Do("/nonexistent/netns", func() error { return nil }); err == nil {
		t.Fatal("Do into a missing namespace succeeded")
	}
}
