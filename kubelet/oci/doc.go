// Package oci turns a container of a core/v1 Pod into an OCI runtime spec
// (github.com/opencontainers/runtime-spec/specs-go) with the semantics the
// kubelet and containerd's CRI plugin give it together, so that a runtime
// built on runc alone runs a pod as a real node would.
//
// Generation is a composition of small option functions in the style of
// containerd's oci.SpecOpts: DefaultSpec is the base, KubeletSpecOpts the
// kubelet's and containerd's rules one concern each (WithProcessArgs,
// WithEnv, WithUser, WithResources, WithNamespaces, WithMounts,
// WithSecurityContext, WithSeccomp, ...), and GenerateSpec applies both,
// then the caller's own options. Everything the runtime knows and the pod
// does not (container ID, image configuration, sandbox namespaces, host
// layout, node resources, ConfigMaps and Secrets) comes in Options.
//
// # Usage
//
//	opts := oci.Options{
//		ContainerID: id,
//		Image:       imageConfig,            // entrypoint, cmd, env, user, workdir
//		RootfsPath:  rootfs,                 // for named users
//		Sandbox:     oci.Sandbox{NetworkNamespacePath: netns, ...},
//		Layout:      &oci.Layout{Root: "/var/lib/kubelet"},
//		Node:        oci.NodeInfo{Allocatable: alloc, HostIPs: hostIPs},
//		PodIPs:      podIPs,
//		Objects:     objects,                // ConfigMaps and Secrets
//	}
//	// once per pod, when the sandbox has its IPs:
//	err := oci.WritePodFiles(ctx, pod, opts, resolverConfig, "/etc/hosts")
//	err = oci.WritePodVolumes(ctx, pod, opts)
//	// per container:
//	spec, err := oci.GenerateSpec(ctx, pod, &pod.Spec.Containers[i], opts)
//	if errors.Is(err, oci.ErrRunAsNonRoot) { ... CreateContainerConfigError ... }
//
// The runtime writes spec as the bundle's config.json and runs it. The
// spec's annotations name the pod, the container and its definition hash,
// so a runtime can rebuild its state from the bundles after a restart.
//
// Helpers cover the kubelet-side files a runtime writes itself:
// HostsFileContent, PodDNSConfig and ResolvConfContent for /etc/hosts and
// /etc/resolv.conf, VolumePayload and WriteAtomic (the kubelet's
// AtomicWriter, a "..data" symlink swap) for configMap, secret, downwardAPI
// and projected volumes, EmptyDirTmpfs for Memory-medium emptyDirs,
// ResolveSubPath and CheckHostPath for volume paths, ListHostDevices and
// BoundingCapabilities for privileged containers.
//
// # Concurrency
//
// GenerateSpec and the other functions are safe for concurrent use when
// the interfaces in Options (HostFS, ObjectSource, SeccompProfileLoader)
// are, as OSHostFS, FakeHostFS, MapObjectSource and SeccompProfileDir are.
// An Input is for one spec and one goroutine. WriteAtomic calls on the same
// directory must be serialized by the caller.
//
// # Caveats
//
// Where the result differs from a kubelet with containerd, on purpose:
//
//   - The environment is ordered (envFrom keys sorted per source, then env
//     in order; a redefined name keeps its first position). The kubelet
//     builds it from a map, so its order is random; the values are the
//     same. DNS options are sorted for the same reason.
//   - Service environment variables (enableServiceLinks) are not added:
//     there is no Service lister here.
//   - Expand copies the byte after a lone '$'; the kubelet converts it to a
//     rune, which mangles non-ASCII text.
//   - A Memory-medium emptyDir is bound from the host like a disk one; the
//     runtime mounts the tmpfs on the host first (EmptyDirTmpfs), as the
//     kubelet does, so that the pod's containers share it.
//   - fsGroup is added to the supplementary groups, but volume ownership is
//     not changed (the kubelet chowns volumes to fsGroup).
//   - As in the kubelet with containerd, only the user part of an image's
//     "user:group" is used: the group comes from runAsGroup or /etc/passwd.
//   - runAsNonRoot refuses an image whose user is a name, as the kubelet
//     does, even though the name could be resolved in the rootfs.
//   - ResolveSubPath returns a path without symbolic links and checks it
//     lies in the volume, but cannot hold it: a process that can write to
//     the volume could replace a directory of the path by a link between
//     generation and runc's mount. The kubelet closes that window by
//     bind-mounting an open file descriptor (/proc/<pid>/fd/<n>) to a
//     private directory; Options.BindSubPaths does the same (BindSubPath),
//     for runtimes running as root.
//   - The package is for Linux only, like the nodes it serves.
//   - Refused with ErrInvalidSpec, rather than run with less isolation than
//     asked for: user namespaces (hostUsers: false), Localhost AppArmor
//     profiles, volumeDevices. Ignored: SELinux options, AppArmor
//     RuntimeDefault, pod-level resources, cgroup v2 unified settings
//     (memory.oom.group, MemoryQoS), hugepages limits, hostnameOverride.
//     Volumes of other types (persistentVolumeClaim, CSI, image volumes)
//     are bound from Options.VolumePaths; serviceAccountToken and
//     clusterTrustBundle projections are not supported.
//   - CPU is given as cgroup v1 shares, quota and period, as containerd
//     does; on a cgroup v2 host runc converts the shares to cpu.weight,
//     with the mapping of kubelet.CPUSharesToWeight only from runc 1.3.2
//     on (older runc use a linear formula).
//   - The kubelet-managed /etc files are mounted only when they exist
//     (WritePodFiles writes them), as containerd does for its own.
//   - The default RLIMIT_NOFILE is containerd's default spec value
//     (1024:1024); Options.Rlimits replaces it.
//   - linux.rootfsPropagation is "shared" or "slave" where containerd
//     writes "rshared"/"rslave": runc accepts both, the runtime-spec schema
//     only the former.
//   - A container with tty: true still gets terminal: false (runc needs a
//     console socket for a terminal); a runtime that provides one sets it
//     with an extra SpecOpt.
//   - GenerateSpec prepares the host as the kubelet does before a
//     container starts (emptyDir and subPath directories, DirectoryOrCreate
//     and FileOrCreate paths, the termination-message file); when it fails
//     later, what it created stays, as with the kubelet: all of it is
//     harmless to create again.
//
// Tests: golden config.json files (go test -update rewrites them) and every
// spec the option tests generate are validated against the runtime-spec
// JSON schema; as root, with runc and busybox installed, the privileged
// tests run generated specs with the real runc.
package oci
