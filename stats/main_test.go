package stats

import (
	"bufio"
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
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

// runHelper implements the child process. "alloc64": print "waiting", wait
// for a line on stdin, map and touch 64 MiB of anonymous memory (mmap, so
// neither the Go heap nor the race detector's shadow adds to it), print
// "ready", then hold the memory until stdin closes.
func runHelper(mode string) int {
	switch mode {
	case "alloc64":
		in := bufio.NewReader(os.Stdin)
		fmt.Println("waiting")
		if _, err := in.ReadString('\n'); err != nil {
			return 2
		}
		buf, err := unix.Mmap(-1, 0, 64<<20, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		for i := 0; i < len(buf); i += 4096 {
			buf[i] = 1
		}
		fmt.Println("ready")
		_, _ = in.ReadString('\n') // until EOF
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
	return 2
}
