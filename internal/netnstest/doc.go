// Package netnstest gives privileged tests throwaway network namespaces.
//
// A Sandbox belongs to one test. Every namespace it makes has a unique name,
// starts with only its loopback device (up), and is deleted in t.Cleanup,
// also when the test fails, after any process still inside it is killed.
// Veth pairs are created directly inside their two sandbox namespaces, so no
// device of the machine's own (root) namespace is ever named, created or
// moved, and since every veth joins two sandbox namespaces no namespace has a
// path out of the machine:
//
//	sb := netnstest.New(t)
//	node, pod := sb.Namespace("node"), sb.Namespace("pod")
//	sb.Veth(node, "veth-pod", pod, "eth0")
//	node.AddAddr(t, "veth-pod", "10.9.0.1/24")
//	pod.AddAddr(t, "eth0", "10.9.0.2/24")
//	out := node.MustRun(t, "ping", "-c1", "10.9.0.2")
//
// # Concurrency
//
// A Sandbox and its Namespaces are safe for concurrent use: each call runs
// its own ip(8) command or OS thread. Namespace.Do locks its goroutine to an
// OS thread for the duration of fn.
//
// # Caveats
//
// The sandbox needs root and iproute2's ip command; New calls
// privtest.Require. Names are at most 15 bytes for interfaces, as the kernel
// demands; Veth reports a longer name as an error.
package netnstest
