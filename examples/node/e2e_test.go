package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/examples/internal/netns"
	"github.com/nodekit/nodekit/examples/internal/realnode"
	"github.com/nodekit/nodekit/internal/privtest"
)

// requireNode skips (or fails under CI) tests that run real pods.
func requireNode(t *testing.T) {
	t.Helper()
	privtest.Require(t, "runc", "conmon", "ip", "iptables", "iptables-restore", "iptables-save",
		"cni:bridge", "cni:host-local", "cni:loopback", "busybox")
}

func suffix(t *testing.T) string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// program returns a command running this program (the test binary in
// TestMain's program mode).
func program(ctx context.Context, t *testing.T, args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	return cmd
}

// rootNetwork is what the node must never change in the machine's own
// network namespace: its links and its iptables rules (counters left out).
func rootNetwork(t *testing.T) string {
	t.Helper()
	links, err := exec.Command("ip", "-o", "link", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range strings.Split(string(links), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			b.WriteString("link " + f[1] + "\n")
		}
	}
	for _, tool := range []string{"iptables-save", "iptables-legacy-save", "iptables-nft-save"} {
		if _, err := exec.LookPath(tool); err != nil {
			continue
		}
		out, err := exec.Command(tool).Output()
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "#") {
				continue
			}
			if i := strings.LastIndex(l, " ["); i >= 0 && strings.HasPrefix(l, ":") {
				l = l[:i]
			}
			b.WriteString(tool + " " + l + "\n")
		}
	}
	return b.String()
}

// leftovers lists what a node called name with state in stateDir left on
// the machine: its namespace, cgroups, mounts and state.
func leftovers(t *testing.T, name, stateDir string) []string {
	t.Helper()
	var out []string
	if netns.Exists("nodekit-" + name) {
		out = append(out, "network namespace nodekit-"+name)
	}
	hs, err := realnode.CgroupHierarchies()
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if _, err := os.Stat(filepath.Join(h, "nodekit", name)); err == nil {
			out = append(out, "cgroup "+filepath.Join(h, "nodekit", name))
		}
	}
	mounts, err := realnode.MountsUnder(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mounts {
		out = append(out, "mount "+m)
	}
	if _, err := os.Stat(stateDir); err == nil {
		out = append(out, "state directory "+stateDir)
	}
	return out
}

// TestDemo runs "node demo" with DEMO_ONCE=1, as make demo does in CI, and
// checks its output and that it left the machine as it found it.
func TestDemo(t *testing.T) {
	requireNode(t)
	name := "e2e" + suffix(t)
	base := t.TempDir()
	stateDir := filepath.Join(base, "state")
	manifests, err := filepath.Abs("manifests")
	if err != nil {
		t.Fatal(err)
	}
	before := rootNetwork(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	cmd := program(ctx, t, "demo", "--node-name", name, "--state-dir", stateDir, "--listen", freeAddr(t), "--manifests", manifests)
	cmd.Env = append(cmd.Env, "DEMO_ONCE=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t.Cleanup(func() {
		// Whatever happened, leave nothing behind.
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		if left := leftovers(t, name, stateDir); len(left) > 0 {
			c := program(cctx, t, "cleanup", "--node-name", name, "--state-dir", stateDir)
			if o, err := c.CombinedOutput(); err != nil {
				t.Errorf("cleanup: %v: %s", err, o)
			}
		}
	})
	err = cmd.Run()
	t.Logf("demo output:\n%s", out.String())
	if err != nil {
		log, _ := os.ReadFile(stateDir + ".log")
		t.Fatalf("demo: %v\nnode log:\n%s", err, log)
	}
	text := out.String()
	answers := map[string]int{}
	for _, m := range regexp.MustCompile(`#\d+ -> (\S+)`).FindAllStringSubmatch(text, -1) {
		answers[m[1]]++
	}
	if len(answers) != 3 || answers["web-0"] == 0 || answers["web-1"] == 0 || answers["web-2"] == 0 {
		t.Errorf("requests answered by %v, want all of web-0, web-1 and web-2", answers)
	}
	if total := answers["web-0"] + answers["web-1"] + answers["web-2"]; total != 30 {
		t.Errorf("%d answers, want 30", total)
	}
	if !regexp.MustCompile(`node port http://10\.87\.0\.2:30080/ -> web-\d`).MatchString(text) {
		t.Error("no answer through the node port")
	}
	header := regexp.MustCompile(`(?m)^NAME\s+PHASE\s+READY\s+RESTARTS\s+IP\s+CPU\s+MEMORY\s+STATUS$`)
	if !header.MatchString(text) {
		t.Error("no pod table")
	}
	for _, pod := range []string{"web-0", "web-1", "web-2", "crashloop", "memory-limit"} {
		row := regexp.MustCompile(`(?m)^` + pod + `\s+Running\s+\d/1\s+\d+\s+10\.88\.\d+\.\d+\s+\S+\s+\S+\s+\S+$`)
		if !row.MatchString(text) {
			t.Errorf("no table row for %s", pod)
		}
	}
	// shared-pid runs with a pause process (--pause-image).
	if !regexp.MustCompile(`(?m)^shared-pid\s+Running\s+2/2\s+0\s+10\.88\.\d+\.\d+\s`).MatchString(text) {
		t.Error("no running table row for shared-pid (shareProcessNamespace)")
	}
	// web-2's readiness and liveness probes are tcpSocket probes, which
	// reach its pod IP only from inside the node namespace: it answered
	// above, so it turned Ready; its liveness probe never failed.
	if !regexp.MustCompile(`(?m)^web-2\s+Running\s+1/1\s+0\s`).MatchString(text) {
		t.Error("web-2 (tcpSocket probes) is not ready, or it was restarted")
	}
	if m := regexp.MustCompile(`(?m)^memory-limit\s.*\s(\d+\.\d)Mi\s+Running$`).FindStringSubmatch(text); m == nil {
		t.Error("no memory figure for memory-limit")
	} else if m[1] < "20.0" || m[1] > "40.0" {
		t.Errorf("memory-limit holds %sMi, want about 24", m[1])
	}
	if !strings.Contains(text, "node stopped; its pods, namespace, cgroups and state are removed") {
		t.Error("the demo did not report its cleanup")
	}
	if left := leftovers(t, name, stateDir); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	if after := rootNetwork(t); after != before {
		t.Errorf("the machine's network changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestRestartAdopts stops a node with its pods left running and starts it
// again: the same containers keep running, none is duplicated, and edits to
// the manifests directory apply within a few seconds.
func TestRestartAdopts(t *testing.T) {
	requireNode(t)
	name := "rs" + suffix(t)
	base := t.TempDir()
	stateDir := filepath.Join(base, "state")
	manifests := filepath.Join(base, "manifests")
	if err := os.Mkdir(manifests, 0o755); err != nil {
		t.Fatal(err)
	}
	pod := func(name string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: " + name + "\nspec:\n  terminationGracePeriodSeconds: 2\n  containers:\n  - name: sleep\n    image: busybox:latest\n    command: [sleep, '100000']\n"
	}
	if err := os.WriteFile(filepath.Join(manifests, "a.yaml"), []byte(pod("a")), 0o644); err != nil {
		t.Fatal(err)
	}
	before := rootNetwork(t)
	t.Cleanup(func() {
		cctx, ccancel := context.WithTimeout(context.Background(), time.Minute)
		defer ccancel()
		c := program(cctx, t, "cleanup", "--node-name", name, "--state-dir", stateDir)
		if o, err := c.CombinedOutput(); err != nil {
			t.Errorf("cleanup: %v: %s", err, o)
		}
		if left := leftovers(t, name, stateDir); len(left) > 0 {
			t.Errorf("left behind after cleanup: %v", left)
		}
		if after := rootNetwork(t); after != before {
			t.Errorf("the machine's network changed:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})
	listen := freeAddr(t)
	start := func() (*exec.Cmd, *syncBuffer) {
		cmd := program(context.Background(), t, "--manifests", manifests, "--node-name", name, "--state-dir", stateDir,
			"--listen", listen, "--busybox-image", "busybox:latest", "--poll", "100ms", "--system-reserved", "memory=512Mi")
		log := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, log
	}
	stop := func(cmd *exec.Cmd, log *syncBuffer) {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("node: %v\n%s", err, log)
		}
	}
	running := func(log *syncBuffer, want ...string) map[string]string {
		deadline := time.Now().Add(30 * time.Second)
		for {
			ids := map[string]string{}
			var list v1.PodList
			if resp, err := http.Get("http://" + listen + "/pods"); err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				_ = json.Unmarshal(body, &list)
			}
			for _, p := range list.Items {
				for _, cs := range p.Status.ContainerStatuses {
					if cs.State.Running != nil {
						ids[p.Name] = cs.ContainerID
					}
				}
			}
			ok := len(ids) == len(want) && len(list.Items) == len(want)
			for _, w := range want {
				ok = ok && ids[w] != ""
			}
			if ok {
				return ids
			}
			if time.Now().After(deadline) {
				t.Fatalf("pods %v not running (running: %v)\n%s", want, ids, log)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	cmd, log := start()
	first := running(log, "a")
	// The kubepods cgroup holds the machine's memory less the reserved
	// (the kernel rounds a limit down to whole pages).
	if got, want := kubepodsMemoryLimit(t, "/nodekit/"+name), (machineMemory(t)-512<<20)&^int64(os.Getpagesize()-1); got != want {
		t.Errorf("kubepods memory limit %d, want the machine's less 512 MiB, %d", got, want)
	}
	stop(cmd, log)

	cmd, log = start()
	defer func() {
		if cmd.ProcessState == nil {
			stop(cmd, log)
		}
	}()
	second := running(log, "a")
	if first["a"] != second["a"] {
		t.Errorf("container of a is %s after the restart, was %s: not adopted", second["a"], first["a"])
	}
	// Editing the directory: a new pod starts, a removed one goes.
	if err := os.WriteFile(filepath.Join(manifests, "b.yaml"), []byte(pod("b")), 0o644); err != nil {
		t.Fatal(err)
	}
	running(log, "a", "b")
	if err := os.Remove(filepath.Join(manifests, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	running(log, "b")
	stop(cmd, log)
}

// kubepodsMemoryLimit reads the memory limit of the kubepods cgroup below
// cgroupRoot.
func kubepodsMemoryLimit(t *testing.T, cgroupRoot string) int64 {
	t.Helper()
	p := filepath.Join("/sys/fs/cgroup", cgroupRoot, "kubepods", "memory.max")
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		p = filepath.Join("/sys/fs/cgroup/memory", cgroupRoot, "kubepods", "memory.limit_in_bytes")
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return n
}

// machineMemory returns MemTotal in bytes.
func machineMemory(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "MemTotal:" && f[2] == "kB" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}

// syncBuffer is a bytes.Buffer that a process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemoWithoutRoot runs the demo as an unprivileged user: it says what it
// needs and exits with status 2 before doing anything.
func TestDemoWithoutRoot(t *testing.T) {
	privtest.Require(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "nodekit-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "node.test")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	name := "nr" + suffix(t)
	stateDir := filepath.Join(dir, "state")
	cmd := exec.Command(bin, "demo", "--node-name", name, "--state-dir", stateDir)
	cmd.Env = []string{mainEnv + "=1", "DEMO_ONCE=1", "PATH=" + os.Getenv("PATH")}
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 {
		t.Fatalf("exit %v, want status 2; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "make demo needs root") || !strings.Contains(string(out), "root (run it with sudo)") {
		t.Errorf("the message does not say what is needed:\n%s", out)
	}
	if left := leftovers(t, name, stateDir); len(left) > 0 {
		t.Errorf("made %v before failing", left)
	}
	if _, err := os.Stat(stateDir + ".log"); err == nil {
		t.Error("wrote a log before failing")
	}
}
