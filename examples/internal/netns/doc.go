// Package netns gives the examples a named network namespace of their own
// (the agent's "node"), made and removed with iproute2's ip(8) so that users
// can enter it with "ip netns exec", and a way to run Go code inside it.
//
// It is support code of the examples, not a public API. It never creates a
// device in, or moves one out of, the namespace of the calling process.
//
// # Concurrency
//
// A Namespace is safe for concurrent use; Do locks its goroutine to an OS
// thread for the duration of fn.
//
// # Caveats
//
// It needs root and iproute2's ip(8). Delete unmounts the name; the kernel
// frees the namespace (and the devices in it) only once no process and no
// open file refers to it any more.
package netns
