package privtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// EnvRequire is the environment variable that turns a missing privilege or
// tool from a skip into a failure. CI sets it to "1".
const EnvRequire = "NODEKIT_REQUIRE_PRIVILEGED"

// cniPrefix marks a tool name as a CNI plugin binary rather than a command
// on PATH, as in "cni:bridge".
const cniPrefix = "cni:"

// defaultCNIPluginDirs are the directories searched for CNI plugin binaries,
// in order: Debian's containernetworking-plugins package, then the upstream
// default.
var defaultCNIPluginDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// Required reports whether missing privileges fail tests instead of skipping
// them, that is whether NODEKIT_REQUIRE_PRIVILEGED is "1" or "true".
func Required() bool {
	v := strings.ToLower(os.Getenv(EnvRequire))
	return v == "1" || v == "true"
}

// Require makes t need root and every named tool. Tool names are commands
// looked up on PATH ("runc", "iptables-restore") or CNI plugins written
// "cni:bridge", looked up in CNIPluginDirs. When something is missing the
// test is skipped, or fails when Required reports true. Require must be
// called from the goroutine running the test.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	if missing := Missing(tools...); len(missing) > 0 {
		msg := "needs " + strings.Join(missing, ", ")
		if Required() {
			t.Fatalf("%s (%s=1 makes this a failure)", msg, EnvRequire)
			return
		}
		t.Skip(msg)
	}
}

// Missing returns what of root and the named tools this process lacks, in a
// form fit for a message: "root" first, then each missing tool. It returns
// nil when nothing is missing.
func Missing(tools ...string) []string {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, tool := range tools {
		if _, err := LookTool(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	return missing
}

// LookTool resolves a tool name as Require does and returns its path.
func LookTool(tool string) (string, error) {
	if name, ok := strings.CutPrefix(tool, cniPrefix); ok {
		for _, dir := range CNIPluginDirs() {
			p := filepath.Join(dir, name)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				return p, nil
			}
		}
		return "", fmt.Errorf("CNI plugin %q not found in %v", name, CNIPluginDirs())
	}
	return exec.LookPath(tool)
}

// CNIPluginDirs returns the directories that hold CNI plugin binaries on this
// machine, among /usr/lib/cni and /opt/cni/bin, in that order. When neither
// exists it returns both, so that callers can name them in an error.
func CNIPluginDirs() []string {
	var dirs []string
	for _, d := range defaultCNIPluginDirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			dirs = append(dirs, d)
		}
	}
	if len(dirs) == 0 {
		return append([]string(nil), defaultCNIPluginDirs...)
	}
	return dirs
}
