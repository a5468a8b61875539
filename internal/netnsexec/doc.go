// Package netnsexec runs Go code inside a network namespace.
//
// Do switches one locked OS thread into the namespace bind-mounted at a path
// (/run/netns/NAME, /proc/PID/ns/net), runs a function there and switches
// back: sockets and netlink handles the function opens belong to that
// namespace, and child processes it starts inherit it.
//
// # Concurrency
//
// Do is safe for concurrent use; each call runs on its own goroutine and
// thread. Goroutines started by fn do not inherit the namespace.
//
// # Caveats
//
// If switching back fails, the thread is left locked so that the Go runtime
// discards it with its goroutine rather than reusing a thread in a foreign
// namespace.
package netnsexec
