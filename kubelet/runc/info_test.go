package runc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodekit/nodekit/kubelet"
)

func TestContainerInfo(t *testing.T) {
	e := newTestEnv(t, false)
	r := e.newRuntime(t)
	ctx := context.Background()

	if _, err := r.ContainerInfo(ctx, "nope"); !errors.Is(err, kubelet.ErrNotFound) {
		t.Fatalf("unknown container: %v, want ErrNotFound", err)
	}
	pod := testPod("info", []string{"sleep", "3600"})
	pod.Spec.HostNetwork = true
	_, id := createPod(t, r, pod)
	info, err := r.ContainerInfo(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	wantPod := e.cgroupRoot + kubelet.PodCgroupName(pod, kubelet.CgroupDriverCgroupfs)
	if info.PID != 0 || info.PodCgroupPath != wantPod || info.CgroupsPath != wantPod+"/"+id {
		t.Errorf("created container info %+v; want no PID, pod cgroup %s", info, wantPod)
	}
	if err := r.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	info, err = r.ContainerInfo(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if info.PID <= 0 {
		t.Fatalf("running container has no PID: %+v", info)
	}
	// The PID is in the container's cgroup, as the kernel sees it.
	procs, err := os.ReadFile(filepath.Join(DefaultCgroupFSRoot, "memory", info.CgroupsPath, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains("\n"+string(procs), "\n"+strconv.Itoa(info.PID)+"\n") {
		t.Errorf("PID %d not in %s/cgroup.procs: %q", info.PID, info.CgroupsPath, procs)
	}
	if st, err := os.Stat(info.UpperDir); err != nil || !st.IsDir() {
		t.Errorf("upper dir %s: %v", info.UpperDir, err)
	}
	if info.LogPath != r.ContainerLogPath(pod.Namespace, pod.Name, pod.UID, "c0", 0) {
		t.Errorf("log path %s", info.LogPath)
	}
	if err := r.StopContainer(ctx, id, time.Second); err != nil {
		t.Fatal(err)
	}
	if info, err = r.ContainerInfo(ctx, id); err != nil || info.PID != 0 {
		t.Errorf("stopped container info %+v, %v; want no PID", info, err)
	}
}
