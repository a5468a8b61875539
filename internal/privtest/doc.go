// Package privtest decides whether a privileged test may run.
//
// Tests that need root or a system tool (runc, conmon, iptables-restore,
// conntrack, the CNI plugins) call Require first:
//
//	func TestRealRestore(t *testing.T) {
//		privtest.Require(t, "iptables-restore", "cni:bridge")
//		...
//	}
//
// Locally, without root or the tool, the test is skipped with a message that
// names what is missing. With NODEKIT_REQUIRE_PRIVILEGED=1, which .ci/run
// sets, the same condition fails the test, so CI can never go green by
// skipping the tests that matter.
//
// # Concurrency
//
// All functions are safe for concurrent use; they only read the process
// environment and the file system.
//
// # Caveats
//
// Root is judged by the effective user id; capabilities granted to a non-root
// user are not recognised.
package privtest
