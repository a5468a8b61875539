// Package runc is a kubelet.Runtime that runs pods on a Linux node with no
// container daemon: runc runs each container from an OCI bundle generated
// by package kubelet/oci, conmon (one per container) monitors it, and CNI
// plugins (through libcni) give each pod its network.
//
// Everything the runtime owns lives below one root directory of the caller's
// choice: OCI bundles, runc's own state (runc --root <root>/runc), conmon's
// exit files, the containers' logs in the CRI format at the kubelet's layout
// (<root>/pods/<namespace>_<name>_<uid>/<container>/<attempt>.log), the pods'
// volumes and /etc files, the pods' namespaces and the CNI cache and address
// allocations. Runtimes with different roots never collide.
//
// # Usage
//
//	images := runc.DirImageStore("/var/lib/nodekit/images")
//	_ = runc.WriteBusyboxImage(ctx, images, "busybox:latest", "/bin/busybox")
//	rt, err := runc.New("/var/lib/nodekit/runtime", runc.Options{Images: images})
//	s := kubelet.New(rt, kubelet.Options{})   // the engine adopts what rt lists
//	go s.Run(ctx)
//	_ = s.SetPods(pods)
//
// # How pods run
//
// A pod sandbox is a set of namespaces without a process: RunPodSandbox
// unshares a network, an IPC and a UTS namespace (with the pod's host name) on
// a locked thread and bind-mounts them below the sandbox's directory; CNI's
// loopback and pod network lists (by default bridge + host-local, see
// DefaultConfList) attach the network namespace, and the pod IPs are those of
// the CNI result (with NetworkOptions.InternalLoopback the runtime sets the
// loopback interface up itself, without the plugin). The pod's /dev/shm is a tmpfs of Options.ShmSize, and its
// Memory-medium emptyDirs are tmpfs mounts, as the kubelet makes them. Every
// container of the pod joins the network, IPC and UTS namespaces, so they share
// localhost.
//
// CreateContainer resolves the image in the ImageStore (a missing one wraps
// kubelet.ErrImagePull), mounts an overlay whose lower layer is the image's
// root filesystem and whose upper layer belongs to the container (so the image
// is never written; without overlayfs the image is copied, see Caveats),
// writes configMap, secret, downwardAPI and projected volumes, and writes the
// bundle's config.json with oci.GenerateSpec. Spec errors that the kubelet
// reports as CreateContainerConfigError (runAsNonRoot violated, a subPath
// escaping its volume, a hostPath of the wrong type, a missing object) wrap
// kubelet.ErrCreateContainerConfig. The engine's labels and annotations are
// stored in the bundle's container.json.
//
// StartContainer starts conmon, which daemonizes, runs runc create and stays
// as the container's parent: it writes the container's output to the log and
// its exit code (128+signal for a killed process) to <root>/exits/<id>. Then
// runc start starts the process. If runc cannot create or start it, the
// container is reported Exited with reason StartError and exit code 128, as
// containerd reports it. A container's exit reason is Completed, Error, or
// OOMKilled when the kernel's OOM killer killed a process of its cgroup
// (memory.oom_control on cgroup v1, memory.events on v2, read before runc
// delete removes the cgroup).
//
// StopContainer sends the image's stop signal (SIGTERM by default), waits for
// the grace period, then sends SIGKILL. ExecSync runs runc exec, which takes
// the container's environment, user and capabilities, and kills the command
// when its timeout ends.
//
// Containers outlive the program: conmon is not its child. A new Runtime on the
// same root reads the sandbox and container records, lists running containers
// as Running and those that exited meanwhile with their exit codes, so the
// engine adopts them (kubelet.Syncer keeps restart counts in the annotations).
//
// RemovePodSandbox releases everything: it kills and removes the containers
// (runc delete, which removes their cgroups; their overlays, bundles, exit
// files and logs), runs CNI DEL (releasing the address), unmounts the
// namespaces, /dev/shm and tmpfs volumes, and, when it was the pod's last
// sandbox, removes the pod's volumes, log directory and pod cgroup.
//
// Runtime implements kubelet.EventSource: a Stopped event is sent as soon as
// conmon writes an exit file (inotify on the exit directory), so the engine
// restarts a crashed container at once instead of at its next relist.
//
// # Networks and tests
//
// NetworkOptions.NodeNetNSPath runs the CNI plugins (and so puts the bridge
// and the host ends of the veth pairs) in a network namespace of the caller's
// choice instead of the program's own. The tests of this package use it with a
// namespace of package internal/netnstest, a subnet in 10.88.0.0/16 and no IP
// masquerading, and check that the machine's own links and iptables rules are
// unchanged.
//
// # Concurrency
//
// A Runtime is safe for concurrent use, as kubelet.Runtime requires. Calls on
// different containers and sandboxes run in parallel; the engine serializes
// the calls for one pod. Two Runtimes must not share a root at the same time.
// DirImageStore is safe for concurrent use; WriteBusyboxImage must not run
// concurrently with a Resolve of the same reference.
//
// # Caveats
//
// Where this runtime differs from containerd or CRI-O with the kubelet, and
// why:
//
//   - A pod's network, IPC and UTS namespaces are kept by bind mounts, not
//     by a pause container. Only a pod with shareProcessNamespace gets a
//     pause process, since a PID namespace cannot outlive its PID 1: the
//     image is Options.PauseImage (without one such pods are refused with
//     ErrNoPauseImage), run through conmon and runc like a container, and
//     the pod's containers join its PID namespace. As with the CRI
//     runtimes, the sandbox is reported NotReady once the pause process
//     died (the kernel kills the rest of the namespace with it). Unlike the
//     kubelet, the pause process keeps the runtime's oom_score_adj instead
//     of -998, which an unprivileged-resource root (no CAP_SYS_RESOURCE)
//     could not set.
//   - Images are not pulled: an ImageStore resolves references to unpacked
//     root filesystems. imagePullPolicy is not consulted; a missing image is
//     ErrImagePull (then ImagePullBackOff in the engine).
//   - The pod network is attached after RunPodSandbox returns, while the
//     first container is created (it saves the CNI plugins' time, about
//     15 ms, from a pod's start). A CRI runtime attaches it before
//     RunPodSandbox returns, so where the kubelet reports a CNI failure as
//     a failed sandbox (the pod stays ContainerCreating), the engine here
//     sees StartContainer fail (the container's waiting reason is
//     RunContainerError until the next sync), then a NotReady sandbox,
//     which it replaces as the kubelet would.
//   - Only the cgroupfs layout is produced (cgroupsPath below
//     Options.CgroupRoot), not the systemd driver's. RunPodSandbox writes
//     the pod's own cgroup (".../pod<uid>") with the limits the kubelet's
//     pod container manager writes (kubelet.PodResources), which the
//     kubelet does itself with the CRI runtimes. Like the kubelet's QoS
//     container manager, it keeps the cpu.shares (cpu.weight on v2) of
//     kubepods/burstable at the Burstable pods' CPU requests together and
//     of kubepods/besteffort at 2, updated as pods come and go and when a
//     Runtime starts (kubelet.QOSCPUShares). The kubepods cgroup gets the
//     node's allocatable cpu, memory and pids when Options.KubepodsResources
//     says what they are (the kubelet computes them from the capacity and
//     its reserved flags; the runtime knows neither, so it writes nothing
//     by default). Not done: hugepage limits, the QOSReserved memory
//     reservations, and updates of a pod's limits while it runs (no
//     in-place resize).
//   - When overlayfs cannot be mounted (no overlay module, an upper directory
//     on a filesystem overlayfs refuses), each container gets a copy of the
//     image (cp -a --reflink=auto): correct but slower and larger.
//   - conmon stays in the caller's cgroup. A service manager that kills the
//     whole cgroup of the embedding program on stop kills the containers'
//     monitors too: the containers keep running and are listed as running,
//     but their exit codes are lost, and once they exit they are reported
//     with reason ContainerMonitorLost and exit code 255. Run the program with
//     KillMode=process, or move it elsewhere.
//   - The default network has no IP masquerading and no port mappings, so
//     pods reach the node and each other but not beyond the node without
//     further routing. NetworkOptions.ConfList replaces it entirely.
//   - Stopping a container that was created but never started does nothing;
//     RemoveContainer removes it.
//   - runc exec cannot tell its own failure from the command's exit code 255.
package runc
