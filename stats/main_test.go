package stats

import (
	"bufio"
	"fmt"
	"os"
	"testing"
)

// helperEnv makes the test binary act as a child process for the
// real-kernel tests instead of running tests.
const helperEnv = "NODEKIT_STATS_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	os.Exit(m.Run())
}

// runHelper implements the child process. "alloc64": wait for a line on
// stdin (the parent has moved us into the test cgroup by then), allocate and
// touch 64 MiB, print "ready", then hold the memory until stdin closes.
func runHelper(mode string) int {
	switch mode {
	case "alloc64":
		in := bufio.NewReader(os.Stdin)
		if _, err := in.ReadString('\n'); err != nil {
			return 2
		}
		buf := make([]byte, 64<<20)
		for i := 0; i < len(buf); i += 4096 {
			buf[i] = byte(i / 4096)
		}
		fmt.Println("ready")
		_, _ = in.ReadString('\n') // until EOF
		// Keep buf alive until here.
		if buf[4096] != 1 {
			return 3
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
	return 2
}
