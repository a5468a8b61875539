package nodekit

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// components are the three packages that must never import each other.
var components = []string{"kubelet", "proxy", "stats"}

const module = "github.com/nodekit/nodekit"

// TestComponentsIndependent fails when a package under kubelet/, proxy/ or
// stats/ depends, directly or through anything else, on a package of
// another of the three.
func TestComponentsIndependent(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go command needed to list dependencies: %v", err)
	}
	var patterns []string
	for _, c := range components {
		if _, err := os.Stat(c); err == nil {
			patterns = append(patterns, "./"+c+"/...")
		}
	}
	if len(patterns) == 0 {
		t.Fatal("none of kubelet/, proxy/, stats/ exists")
	}
	args := append([]string{"list", "-test", "-deps=false", "-f", "{{.ImportPath}}\t{{join .Deps \" \"}}"}, patterns...)
	cmd := exec.Command(gobin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, stderr.String())
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, "\t")
		// "pkg [pkg.test]" variants carry the test's dependencies.
		pkg, _, _ = strings.Cut(pkg, " ")
		own := componentOf(pkg)
		if own == "" {
			continue
		}
		checked++
		for _, dep := range strings.Fields(deps) {
			dep, _, _ = strings.Cut(dep, " ")
			if other := componentOf(dep); other != "" && other != own {
				t.Errorf("%s depends on %s: %s and %s must not import each other (share through internal/, wire in examples/)", pkg, dep, own, other)
			}
		}
	}
	if checked == 0 {
		t.Fatal("go list returned no package of kubelet, proxy or stats")
	}
}

// componentOf returns which of the three components pkg belongs to, or "".
func componentOf(pkg string) string {
	rest, ok := strings.CutPrefix(pkg, module+"/")
	if !ok {
		return ""
	}
	top, _, _ := strings.Cut(rest, "/")
	top = strings.TrimSuffix(top, "_test")
	if slices.Contains(components, top) {
		return top
	}
	return ""
}

func TestComponentOf(t *testing.T) {
	for pkg, want := range map[string]string{
		module + "/proxy":              "proxy",
		module + "/proxy/proxytest":    "proxy",
		module + "/kubelet":            "kubelet",
		module + "/stats_test":         "stats",
		module + "/internal/netnstest": "",
		module + "/examples/node":      "",
		"github.com/other/proxy":       "",
		module + "/proxyish":           "",
	} {
		if got := componentOf(pkg); got != want {
			t.Errorf("componentOf(%q) = %q, want %q", pkg, got, want)
		}
	}
}

// allowedTop is the fixed top level of the repository.
var allowedTop = []string{
	"kubelet", "proxy", "stats", "examples", "internal",
	"doc.go", "layout_test.go", "go.mod", "go.sum",
	"README.md", "BENCHMARKS.md", "Makefile", "LICENSE",
}

// TestTopLevelLayout fails when a tracked file or directory at the top of
// the repository is not part of the fixed layout (dot-files excepted).
func TestTopLevelLayout(t *testing.T) {
	out, err := exec.Command("git", "ls-files").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	seen := map[string]bool{}
	for _, f := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		top, _, _ := strings.Cut(f, "/")
		if top == "" || strings.HasPrefix(top, ".") || seen[top] {
			continue
		}
		seen[top] = true
		if !slices.Contains(allowedTop, top) {
			t.Errorf("%s at the top level: the layout allows only %v and dot-files", top, allowedTop)
		}
	}
}
