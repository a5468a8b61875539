package runc

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/oci"
)

func TestContainerLifecycle(t *testing.T) {
	e := newTestEnv(t, false)
	r := e.newRuntime(t)
	ctx := context.Background()

	pod := testPod("lifecycle",
		[]string{"sh", "-c", "echo hello; echo oops >&2; exit 3"},
		[]string{"sleep", "3600"},
		[]string{"/does-not-exist"},
	)
	pod.Spec.HostNetwork = true
	sbID, err := r.RunPodSandbox(ctx, sandboxConfig(pod))
	if err != nil {
		t.Fatal(err)
	}

	// An exit code and the CRI log.
	id0, err := r.CreateContainer(ctx, sbID, containerConfig(pod, 0, nil))
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.ContainerStatus(ctx, id0)
	if err != nil || st.State != kubelet.ContainerCreated {
		t.Fatalf("status after create = %+v, %v; want Created", st, err)
	}
	if err := r.StartContainer(ctx, id0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "exit", func() bool {
		st, _ = r.ContainerStatus(ctx, id0)
		return st.State == kubelet.ContainerExited
	})
	if st.ExitCode != 3 || st.Reason != kubelet.ReasonError || st.StartedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) {
		t.Errorf("exited status = %+v; want exit code 3, reason Error, times in order", st)
	}
	if st.Annotations["test"] != "yes" || st.Labels[kubelet.LabelContainerName] != "c0" {
		t.Errorf("labels %v annotations %v not kept", st.Labels, st.Annotations)
	}
	log, err := os.ReadFile(r.ContainerLogPath(pod.Namespace, pod.Name, pod.UID, "c0", 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{" stdout F hello\n", " stderr F oops\n"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("log %q lacks %q", log, want)
		}
	}

	// Exec, exec timeout, and a stop that needs SIGKILL (sleep as PID 1
	// ignores SIGTERM).
	id1, err := r.CreateContainer(ctx, sbID, containerConfig(pod, 1, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, id1); err != nil {
		t.Fatal(err)
	}
	res, err := r.ExecSync(ctx, id1, []string{"sh", "-c", "echo out; echo err >&2; exit 7"}, 10*time.Second)
	if err != nil || string(res.Stdout) != "out\n" || string(res.Stderr) != "err\n" || res.ExitCode != 7 {
		t.Errorf("ExecSync = %+v (%q, %q), %v; want out, err, 7", res, res.Stdout, res.Stderr, err)
	}
	start := time.Now()
	_, err = r.ExecSync(ctx, id1, []string{"sleep", "30"}, 300*time.Millisecond)
	if !errors.Is(err, ErrExecTimeout) || time.Since(start) > 10*time.Second {
		t.Errorf("ExecSync of sleep 30 with a 300ms timeout: %v after %s; want ErrExecTimeout", err, time.Since(start))
	}
	if err := r.StopContainer(ctx, id1, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	st, _ = r.ContainerStatus(ctx, id1)
	if st.State != kubelet.ContainerExited || st.ExitCode != 137 {
		t.Errorf("stopped status = %+v; want Exited with 137 (SIGKILL)", st)
	}
	if _, err := r.ExecSync(ctx, id1, []string{"true"}, time.Second); !errors.Is(err, kubelet.ErrInvalidState) {
		t.Errorf("exec in exited container: %v; want ErrInvalidState", err)
	}

	// A process runc cannot start.
	id2, err := r.CreateContainer(ctx, sbID, containerConfig(pod, 2, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, id2); !errors.Is(err, ErrStartFailed) {
		t.Errorf("start of a missing binary: %v; want ErrStartFailed", err)
	}
	st, _ = r.ContainerStatus(ctx, id2)
	if st.State != kubelet.ContainerExited || st.Reason != ReasonStartError || st.ExitCode != 128 || !strings.Contains(st.Message, "does-not-exist") {
		t.Errorf("status after failed start = %+v; want Exited, StartError, 128, message naming the binary", st)
	}

	// Duplicates and image errors.
	if _, err := r.CreateContainer(ctx, sbID, containerConfig(pod, 0, nil)); !errors.Is(err, kubelet.ErrAlreadyExists) {
		t.Errorf("second create of c0 attempt 0: %v; want ErrAlreadyExists", err)
	}
	missing := containerConfig(pod, 0, nil)
	missing.Attempt = 1
	missing.Image = "nothere:1"
	if _, err := r.CreateContainer(ctx, sbID, missing); !errors.Is(err, kubelet.ErrImagePull) || !errors.Is(err, ErrImageNotFound) {
		t.Errorf("create with a missing image: %v; want ErrImagePull", err)
	}

	cs, err := r.ListContainers(ctx, kubelet.ContainerFilter{PodUID: pod.UID})
	if err != nil || len(cs) != 3 {
		t.Fatalf("ListContainers = %d containers, %v; want 3", len(cs), err)
	}
	if err := r.RemovePodSandbox(ctx, sbID); err != nil {
		t.Fatal(err)
	}
	assertNoLeftovers(t, e, r)
}

func TestSecurityRefusals(t *testing.T) {
	e := newTestEnv(t, false)
	r := e.newRuntime(t)
	ctx := context.Background()

	pod := testPod("security", []string{"id", "-u"}, []string{"sh", "-c", "touch /x"}, []string{"cat", "/data/f"})
	pod.Spec.HostNetwork = true
	yes := true
	pod.Spec.Containers[0].SecurityContext = &v1.SecurityContext{RunAsNonRoot: &yes}
	pod.Spec.Containers[1].SecurityContext = &v1.SecurityContext{ReadOnlyRootFilesystem: &yes}
	hostDir := t.TempDir()
	if err := os.Symlink("/etc", hostDir+"/escape"); err != nil {
		t.Fatal(err)
	}
	pod.Spec.Volumes = []v1.Volume{{Name: "host", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: hostDir}}}}
	pod.Spec.Containers[2].VolumeMounts = []v1.VolumeMount{{Name: "host", MountPath: "/data", SubPath: "escape"}}

	sbID, err := r.RunPodSandbox(ctx, sandboxConfig(pod))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.CreateContainer(ctx, sbID, containerConfig(pod, 0, nil)); !errors.Is(err, kubelet.ErrCreateContainerConfig) {
		t.Errorf("runAsNonRoot with a root image: %v; want ErrCreateContainerConfig", err)
	}
	if _, err := r.CreateContainer(ctx, sbID, containerConfig(pod, 2, nil)); !errors.Is(err, kubelet.ErrCreateContainerConfig) {
		t.Errorf("subPath through a symlink out of the volume: %v; want ErrCreateContainerConfig", err)
	}
	id, err := r.CreateContainer(ctx, sbID, containerConfig(pod, 1, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	var st *kubelet.ContainerStatus
	waitFor(t, 10*time.Second, "exit", func() bool {
		st, _ = r.ContainerStatus(ctx, id)
		return st.State == kubelet.ContainerExited
	})
	log, _ := os.ReadFile(r.ContainerLogPath(pod.Namespace, pod.Name, pod.UID, "c1", 0))
	if st.ExitCode == 0 || !strings.Contains(string(log), "Read-only file system") {
		t.Errorf("touch on a read-only root filesystem: exit code %d, log %q; want a failure for the read-only file system", st.ExitCode, log)
	}

	// A container plants a symbolic link to / in a shared emptyDir; another
	// container's subPath through it is refused, not resolved on the host.
	planter := testPod("security", []string{"sh", "-c", "ln -s / /cache/escape"}, []string{"ls", "/data"})
	planter.Spec.HostNetwork = true
	planter.Spec.Volumes = []v1.Volume{{Name: "cache", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}}}
	planter.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "cache", MountPath: "/cache"}}
	planter.Spec.Containers[1].VolumeMounts = []v1.VolumeMount{{Name: "cache", MountPath: "/data", SubPath: "escape/etc"}}
	cfg := containerConfig(planter, 0, nil)
	cfg.Attempt = 1
	pid, err := r.CreateContainer(ctx, sbID, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.StartContainer(ctx, pid); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the link to be planted", func() bool {
		st, _ = r.ContainerStatus(ctx, pid)
		return st.State == kubelet.ContainerExited
	})
	if st.ExitCode != 0 {
		t.Fatalf("planting the link failed: %+v", st)
	}
	cfg = containerConfig(planter, 1, nil)
	cfg.Attempt = 1
	if _, err := r.CreateContainer(ctx, sbID, cfg); !errors.Is(err, kubelet.ErrCreateContainerConfig) || !errors.Is(err, oci.ErrSubPathEscape) {
		t.Errorf("subPath through a link planted by a container: %v; want ErrCreateContainerConfig (subPath escape)", err)
	}

	if err := r.RemovePodSandbox(ctx, sbID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(hostDir + "/escape"); err != nil {
		t.Errorf("hostPath content touched: %v", err)
	}
	assertNoLeftovers(t, e, r)
}

func TestContainerEvents(t *testing.T) {
	e := newTestEnv(t, false)
	r := e.newRuntime(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := r.ContainerEvents(ctx)

	pod := testPod("events", []string{"sh", "-c", "sleep 0.3; exit 4"})
	pod.Spec.HostNetwork = true
	sbID, ids := startPod(t, r, pod, 1)
	id := ids[0]
	var got []kubelet.ContainerEventType
	timeout := time.After(20 * time.Second)
	for len(got) < 3 {
		select {
		case ev := <-events:
			if ev.ContainerID != id || ev.PodUID != pod.UID || ev.SandboxID != sbID {
				t.Fatalf("event %+v names another container", ev)
			}
			got = append(got, ev.Type)
		case <-timeout:
			t.Fatalf("events so far %v; want Created, Started, Stopped", got)
		}
	}
	want := []kubelet.ContainerEventType{kubelet.ContainerCreatedEvent, kubelet.ContainerStartedEvent, kubelet.ContainerStoppedEvent}
	if !slices.Equal(got, want) {
		t.Errorf("events %v; want %v", got, want)
	}
	st, _ := r.ContainerStatus(ctx, id)
	if st.State != kubelet.ContainerExited || st.ExitCode != 4 {
		t.Errorf("status after Stopped event = %+v; want Exited with 4", st)
	}
	if err := r.RemovePodSandbox(ctx, sbID); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev.Type != kubelet.ContainerDeletedEvent {
			t.Errorf("event after removal = %+v; want Deleted", ev)
		}
	case <-time.After(5 * time.Second):
		t.Error("no Deleted event")
	}
	cancel()
	for range events { // closed once ctx is done
	}
}
