package oci

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/internal/privtest"
)

// busyboxRootfs builds a root filesystem below root holding a static
// busybox, /etc/passwd and /etc/group.
func busyboxRootfs(t *testing.T, root string) string {
	t.Helper()
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(root, "rootfs")
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(rootfs, "bin", "sh")); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"passwd": testPasswd, "group": testGroup} {
		if err := os.WriteFile(filepath.Join(rootfs, "etc", name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return rootfs
}

func shellPod(name string, lines ...string) *v1.Pod {
	pod := testPod(name)
	c := &pod.Spec.Containers[0]
	c.Image = "busybox"
	c.Command = []string{"/bin/busybox", "sh", "-c"}
	c.Args = []string{strings.Join(lines, "; ")}
	return pod
}

func wantLines(t *testing.T, got string, want ...string) {
	t.Helper()
	t.Logf("container output:\n%s", got)
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("container output lacks %q", w)
		}
	}
}

// TestRuncRunsGeneratedSpec hands generated specs to the real runc.
//
// restricted: a busybox container as a non-root user with a read-only root,
// no capabilities, no privilege escalation, the RuntimeDefault seccomp
// profile, a memory limit, an emptyDir with a subPath and kubelet-managed
// /etc files, in new namespaces, the subPath bind-mounted from a file
// descriptor (BindSubPaths). The container reports what it sees.
func TestRuncRunsGeneratedSpec(t *testing.T) {
	privtest.Require(t, "runc", "busybox")
	root := t.TempDir()
	rootfs := busyboxRootfs(t, root)

	pod := shellPod("restricted",
		"echo uid=$(/bin/busybox id -u) groups=$(/bin/busybox id -G)",
		"echo greeting=$GREETING",
		"echo hostname=$(/bin/busybox hostname) env=$HOSTNAME",
		"/bin/busybox grep -E '^(NoNewPrivs|CapEff|Seccomp):' /proc/self/status | /bin/busybox tr -s '\\t' ' '",
		"/bin/busybox touch /rootfile 2>/dev/null && echo root=writable || echo root=readonly",
		"echo hello > /data/out && echo data=$(/bin/busybox cat /data/out)",
		"echo sub=$(/bin/busybox ls /data-sub)",
		"echo nameserver=$(/bin/busybox grep nameserver /etc/resolv.conf)",
		"echo cwd=$(/bin/busybox pwd)",
		"echo memlimit=$(/bin/busybox cat /sys/fs/cgroup/memory/memory.limit_in_bytes)",
		"echo oom=$(/bin/busybox cat /proc/self/oom_score_adj)",
		"echo pid1=$(/bin/busybox cat /proc/1/comm)",
	)
	pod.Spec.SecurityContext = &v1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		FSGroup:        ptr.To[int64](2000),
		SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault},
	}
	pod.Spec.Volumes = []v1.Volume{{Name: "data", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}}}
	c := &pod.Spec.Containers[0]
	c.Env = []v1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "GREETING", Value: "hello-$(POD_NAME)"},
	}
	c.WorkingDir = "/tmp"
	c.Resources.Limits = v1.ResourceList{v1.ResourceMemory: resourceQ("64Mi")}
	c.SecurityContext = &v1.SecurityContext{
		RunAsUser:                ptr.To[int64](1000),
		ReadOnlyRootFilesystem:   ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &v1.Capabilities{Drop: []v1.Capability{"ALL"}},
	}
	c.VolumeMounts = []v1.VolumeMount{
		{Name: "data", MountPath: "/data"},
		{Name: "data", MountPath: "/data-sub", SubPath: "nested/dir"},
	}
	got := runInRunc(t, root, rootfs, pod, func(o *Options) { o.BindSubPaths = true })
	layout := &Layout{Root: filepath.Join(root, "kubelet")}
	if err := UnbindSubPaths(layout.SubPathsDir(pod.UID)); err != nil {
		t.Errorf("UnbindSubPaths: %v", err)
	}
	wantLines(t, got,
		"uid=1000 groups=1000 10 29 2000",
		"greeting=hello-restricted",
		"hostname=restricted env=restricted",
		"NoNewPrivs: 1",
		"CapEff: 0000000000000000",
		"Seccomp: 2",
		"root=readonly",
		"data=hello",
		"sub=\n",
		"nameserver=nameserver 10.96.0.10",
		"cwd=/tmp",
		"memlimit=67108864",
		"oom=985",
		"pid1=busybox",
	)
	if _, err := os.Stat(filepath.Join(layout.VolumeDir(pod.UID, PluginEmptyDir, "data"), "nested", "dir")); err != nil {
		t.Errorf("subPath directory: %v", err)
	}
}

// TestRuncHostNamespaces runs a hostNetwork, hostPID, hostIPC pod: it sees
// the host's host name and processes.
func TestRuncHostNamespaces(t *testing.T) {
	privtest.Require(t, "runc", "busybox")
	root := t.TempDir()
	rootfs := busyboxRootfs(t, root)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	pod := shellPod("hostns",
		"echo hostname=$(/bin/busybox hostname) env=$HOSTNAME",
		"echo pid1=$(/bin/busybox cat /proc/1/comm)",
		"echo netns=$(/bin/busybox readlink /proc/self/ns/net)",
	)
	pod.Spec.HostNetwork, pod.Spec.HostPID, pod.Spec.HostIPC = true, true, true
	got := runInRunc(t, root, rootfs, pod, func(o *Options) { o.Node.Hostname = host })
	hostNet, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	wantLines(t, got, "hostname="+host+" env="+host, "netns="+hostNet)
	if strings.Contains(got, "pid1=busybox") {
		t.Error("the container has its own PID namespace")
	}
}

// TestRuncPrivileged runs a privileged container with the host's devices:
// it has every capability of the runtime's bounding set, no seccomp filter
// and a writable /sys.
func TestRuncPrivileged(t *testing.T) {
	privtest.Require(t, "runc", "busybox")
	root := t.TempDir()
	rootfs := busyboxRootfs(t, root)
	devices, err := ListHostDevices("/dev")
	if err != nil {
		t.Fatal(err)
	}
	pod := shellPod("privileged",
		"/bin/busybox grep -E '^(CapEff|Seccomp):' /proc/self/status | /bin/busybox tr -s '\\t' ' '",
		"/bin/busybox test -c /dev/null && echo null=char",
		"/bin/busybox grep -E ' /sys sysfs ' /proc/self/mounts | /bin/busybox cut -d' ' -f4 | /bin/busybox cut -d, -f1",
	)
	pod.Spec.Containers[0].SecurityContext = &v1.SecurityContext{Privileged: ptr.To(true)}
	got := runInRunc(t, root, rootfs, pod, func(o *Options) { o.HostDevices = devices })
	// Every capability this process may grant: its bounding set.
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var bnd string
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "CapBnd:"); ok {
			bnd = strings.TrimSpace(v)
		}
	}
	wantLines(t, got, "CapEff: "+bnd, "Seccomp: 0", "null=char", "rw\n")
}

// runInRunc generates the spec of the pod's first container with a rootfs
// and a kubelet layout below root, runs it with runc to completion in new
// namespaces (those the pod does not take from the host) and returns its
// standard output.
func runInRunc(t *testing.T, root, rootfs string, pod *v1.Pod, mutate func(*Options)) string {
	t.Helper()
	c := &pod.Spec.Containers[0]
	id := fmt.Sprintf("nodekit-ocitest-%d-%s", os.Getpid(), pod.Name)
	cgroupParent := "/" + id
	t.Cleanup(func() { removeTestCgroups(t, id) })
	opts := Options{
		ContainerID:  id,
		RootfsPath:   rootfs,
		Layout:       &Layout{Root: filepath.Join(root, "kubelet")},
		CgroupParent: cgroupParent,
		Node:         NodeInfo{Hostname: "node-1", Allocatable: v1.ResourceList{v1.ResourceMemory: resourceQ("4Gi")}},
		PodIPs:       []string{},
		NoSwapLimit:  !fileExists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
	}
	if mutate != nil {
		mutate(&opts)
	}
	rc := ResolverConfig{ClusterDNS: []string{"10.96.0.10"}, ClusterDomain: "cluster.local"}
	if err := WritePodFiles(context.Background(), pod, opts, rc, "/etc/hosts"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec, err := GenerateSpec(ctx, pod, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(root, "bundle-"+pod.Name)
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		t.Fatal(err)
	}
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	runcRoot := filepath.Join(root, "runc")
	cmd := exec.CommandContext(ctx, "runc", "--root", runcRoot, "run", "--bundle", bundle, id)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	_ = exec.Command("runc", "--root", runcRoot, "delete", "--force", id).Run()
	if err != nil {
		t.Fatalf("runc run: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// removeTestCgroups removes the test's cgroup parent from every hierarchy
// (runc removes the container's own cgroup, not its parents).
func removeTestCgroups(t *testing.T, name string) {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", name))
	if fileExists(filepath.Join("/sys/fs/cgroup", name)) {
		dirs = append(dirs, filepath.Join("/sys/fs/cgroup", name))
	}
	for _, d := range dirs {
		// Children first (the container's own cgroup, if runc left it).
		subs, _ := filepath.Glob(filepath.Join(d, "*", "cgroup.procs"))
		for _, s := range subs {
			_ = os.Remove(filepath.Dir(s))
		}
		if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
			t.Logf("removing cgroup %s: %v", d, err)
		}
	}
}
