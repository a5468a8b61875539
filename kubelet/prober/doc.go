// Package prober runs the liveness, readiness and startup probes of pods
// as the kubelet does (pkg/kubelet/prober and pkg/probe), and gives the
// results to the kubelet package's Syncer through its ProbeResults seam.
//
// A Manager keeps one worker per pod, container (regular, or restartable
// init container) and probe type. A worker follows the container through
// the pod status: when a new container instance appears it records the
// kubelet's initial result (readiness Failure, liveness Success, startup
// Unknown), waits initialDelaySeconds from the container's start, then
// probes every periodSeconds with timeoutSeconds, and records Success
// after successThreshold successes in a row and Failure after
// failureThreshold failures in a row (API defaults 1 s, 10 s, 1 and 3
// when a pod leaves them zero). Liveness and readiness probes wait until
// the startup probe succeeded; after a liveness or startup failure the
// worker holds its result until the runtime reports a new container
// instance. A probe that errors (the runtime could not exec, a named port
// does not exist) is retried three times and its result thrown away.
//
// Probe actions are the kubelet's: exec through Runtime.ExecSync with the
// timeout enforced (a timeout fails the probe) and output capped at
// 10 KiB; httpGet with scheme, host (default the pod IP), path, port by
// number or name and headers, User-Agent kube-probe/<major.minor>,
// Accept */*, no keep-alive, redirects followed only to the same host (a
// redirect elsewhere is success with a warning), status 200-399 success,
// body capped at 10 KiB; tcpSocket (a connection is success); and gRPC
// (grpc.health.v1.Health/Check with the service name, SERVING is
// success).
//
// Network probes (httpGet, tcpSocket, gRPC) connect from the embedding
// program's network namespace by default, as the kubelet does from the
// node's. Where pod IPs are reachable only elsewhere (pods in a node
// network namespace the program does not live in), Options.DialContext
// opens every probe connection instead, for example on a thread switched
// into that namespace.
//
// Every result change calls Source.Trigger, so the Syncer at once
// restarts a container whose liveness or startup probe failed (with the
// probe's terminationGracePeriodSeconds, subject to restart policy and
// backoff), marks containers ready or not and sets the ContainersReady
// and Ready conditions, lets the next init container start once a
// sidecar's startup probe succeeded, and notifies its subscribers.
//
// # Usage
//
//	pm := prober.New(rt, prober.Options{})
//	s := kubelet.New(rt, kubelet.Options{Probes: pm})
//	go s.Run(ctx)
//	go pm.Run(ctx, s)     // follows s.Subscribe, calls s.Trigger
//	_ = s.SetPods(pods)
//
// # Concurrency
//
// A Manager is safe for concurrent use; ProbeResult may be called from any
// goroutine. Only one Run may be active at a time; workers run only while
// Run is active and end with it.
//
// # Caveats
//
// Where the prober differs from the kubelet, and why:
//
//   - Workers start when the Manager first sees the pod in a status update
//     (or at the start of Run), not from the pod worker's SyncPod; a
//     worker follows the container through Source.PodStatus as the
//     kubelet's follows the status manager.
//   - A container whose definition changes gets new workers (the kubelet
//     does not support probe updates because the API makes them
//     immutable; pods given to a Syncer need not come from an API
//     server). The Syncer restarts such a container anyway.
//   - Probe outcomes are logged to Options.Logger instead of being
//     recorded as Unhealthy events, and there are no prober metrics.
//   - gRPC probes connect with grpc.NewClient and WaitForReady instead of
//     the deprecated blocking dial; either way an unreachable server fails
//     the probe after timeoutSeconds.
//   - An HTTP probe is one HTTP/1.1 exchange on a new connection, made on
//     the worker's goroutine with net/http's Request.Write and
//     ReadResponse rather than through a Transport (which hands every
//     connection between three goroutines). A probe answered with a
//     redirect is sent again through net/http's Client, which follows it
//     with the kubelet's policy, so the first URL of a redirecting
//     endpoint sees two requests per probe. With Options.HTTPTransport
//     every probe goes through the Client. The kubelet's transport adds
//     apimachinery's HTTP/2 defaults; probes here are HTTP/1.1.
//   - An httpGet, tcpSocket or gRPC probe without a host while the pod
//     has no IP is an error (no result) instead of a connection to the
//     node's own ":port", which is what an empty host means to Go's
//     dialer in the kubelet.
//   - The kubelet does not reset a readiness result to its initial
//     Failure for containers that were running before it restarted,
//     because its status manager still holds their Ready state from the
//     API server. A Syncer starts without statuses, so after a restart of
//     the embedding program every container starts from the initial
//     results again.
//   - The start jitter (a worker created within one period of the
//     Manager's creation first waits a random part of its period) uses
//     the Manager's clock, so tests on a fake clock control it.
//
// # Performance
//
// Measured on a shared 2-core machine (AMD EPYC) under a load average of
// 7 to 12 from other builds, with
//
//	go test ./kubelet/prober/ -run XXX -bench Probe -benchtime 10x -count 3
//
// BenchmarkProbes/pods=1000 (1000 pods' HTTP readiness probes at a 1 s
// period against a loopback server in a child process, engine and fake
// runtime included) costs 156 to 218 ms of CPU per second (cpu-ms/s),
// about 57 allocations and 4.9 KB per probe.
// BenchmarkProbeFloor, which only opens a TCP connection, writes a fixed
// GET and reads the answer 1000 times a second, costs 165 to 204 cpu-ms/s
// on the same machine at the same time. The two ranges overlap: the
// kernel's connect, close and loopback handshake of one connection per
// probe, which the kubelet's no-keep-alive rule requires, is most of the
// cost, and the prober's own share is within the run-to-run noise, which
// is about a third with the machine's load. On an idle machine both are
// lower; the 50 cpu-ms/s target was not met here.
//
// Options.Coalesce moves every worker's probes onto a common grid (a
// deliberate difference from the kubelet, whose workers each keep the
// phase of their container's start): the probes then share the wake-ups
// of the program's threads, which is most of what a lone probe costs
// besides the kernel. Re-measured on the idle machine with -benchtime 5x
// -count 2: BenchmarkProbes/pods=1000 cost 267 to 305 cpu-ms/s with the
// kubelet's timing, 175 to 187 with a 10 ms grid and 112 to 121 with a
// 100 ms grid, against 84 for BenchmarkProbeFloor/conns=1000,coalesce=100ms
// (connections alone on the same grid). See BENCHMARKS.md.
package prober
