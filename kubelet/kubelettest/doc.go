// Package kubelettest provides FakeRuntime, an in-memory kubelet.Runtime for
// tests of code built on the kubelet package.
//
// The fake behaves like a CRI runtime: sandboxes and containers follow the CRI
// state machines (Created, Running, Exited), invalid transitions fail with the
// same errors a real runtime returns (kubelet.ErrNotFound,
// kubelet.ErrInvalidState, kubelet.ErrAlreadyExists, kubelet.ErrImagePull),
// each non-host-network sandbox gets an IP, stopping a sandbox kills its
// containers, and removal is forcible and idempotent. Container exits happen
// on demand (ExitContainer, ExitByName, SetAutoExit), stop signals can be
// ignored (SetIgnoreSIGTERM), and failures and latency are injected per
// operation and pod (InjectError, SetLatency with Hang).
//
// # Usage
//
//	clock := clocktesting.NewFakeClock(start)
//	rt := kubelettest.NewFakeRuntime(clock)
//	s := kubelet.New(rt, kubelet.Options{Clock: clock})
//	_ = s.SetPods(pods)
//	_ = s.SyncOnce(ctx)
//	_ = rt.ExitByName(pod.UID, "app", 1, "")
//	fmt.Print(rt.Dump())
//
// # Concurrency
//
// FakeRuntime is safe for concurrent use.
//
// # Caveats
//
// StopContainer does not wait out the grace period: the container exits at
// once, with 143 (SIGTERM) or, if it ignores SIGTERM, 137 (SIGKILL); the
// grace period is recorded in Calls. Latency is real time, not the fake
// clock's. Container IDs depend on the order of calls, so Dump leaves them
// out. Values returned share their Labels and Annotations maps with the
// fake's records (as the kubelet.Runtime contract allows); callers must not
// modify them.
package kubelettest
