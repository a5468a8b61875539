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

// TestRuncRunsGeneratedSpec hands a generated spec to the real runc: a
// busybox container as a non-root user with a read-only root, no
// capabilities, no privilege escalation, the RuntimeDefault seccomp
// profile, a memory limit, an emptyDir with a subPath and kubelet-managed
// /etc files, in new namespaces. The container reports what it sees.
func TestRuncRunsGeneratedSpec(t *testing.T) {
	privtest.Require(t, "runc", "busybox")
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
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

	pod := testPod("runc-e2e")
	pod.UID = "5b0c9e84-3f0e-4e1a-9d0a-6c2b7f1e8a01"
	pod.Spec.SecurityContext = &v1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		FSGroup:        ptr.To[int64](2000),
		SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault},
	}
	pod.Spec.Volumes = []v1.Volume{{Name: "data", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}}}
	c := &pod.Spec.Containers[0]
	c.Image = "busybox"
	c.Command = []string{"/bin/busybox", "sh", "-c"}
	c.Args = []string{strings.Join([]string{
		"echo uid=$(/bin/busybox id -u) groups=$(/bin/busybox id -G)",
		"echo greeting=$GREETING",
		"echo hostname=$(/bin/busybox hostname)",
		"/bin/busybox grep -E '^(NoNewPrivs|CapEff|Seccomp):' /proc/self/status | /bin/busybox tr -s '\\t' ' '",
		"/bin/busybox touch /rootfile 2>/dev/null && echo root=writable || echo root=readonly",
		"echo hello > /data/out && echo data=$(/bin/busybox cat /data/out)",
		"echo sub=$(/bin/busybox ls /data-sub)",
		"echo nameserver=$(/bin/busybox grep nameserver /etc/resolv.conf)",
		"echo cwd=$(/bin/busybox pwd)",
		"echo memlimit=$(/bin/busybox cat /sys/fs/cgroup/memory/memory.limit_in_bytes)",
		"echo oom=$(/bin/busybox cat /proc/self/oom_score_adj)",
	}, "; ")}
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

	id := fmt.Sprintf("nodekit-ocitest-%d", os.Getpid())
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
	rc := ResolverConfig{ClusterDNS: []string{"10.96.0.10"}, ClusterDomain: "cluster.local"}
	if err := WritePodFiles(pod, opts, rc, "/etc/hosts"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	spec, err := GenerateSpec(ctx, pod, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	// The data directory must be writable by uid 1000 (emptyDir is 0777);
	// the subPath directory was created by GenerateSpec with the same mode.
	bundle := filepath.Join(root, "bundle")
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
	got := stdout.String()
	t.Logf("container output:\n%s", got)
	for _, want := range []string{
		"uid=1000 groups=1000 10 29 2000",
		"greeting=hello-runc-e2e",
		"hostname=runc-e2e",
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
	} {
		if !strings.Contains(got, want) {
			t.Errorf("container output lacks %q:\n%s", want, got)
		}
	}
	if _, err := os.Stat(filepath.Join(opts.Layout.VolumeDir(pod.UID, PluginEmptyDir, "data"), "nested", "dir")); err != nil {
		t.Errorf("subPath directory: %v", err)
	}
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
