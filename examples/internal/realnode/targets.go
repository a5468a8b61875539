package realnode

import (
	"context"
	"errors"
	"path/filepath"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/nodekit/nodekit/examples/internal/agent"
	"github.com/nodekit/nodekit/kubelet"
	"github.com/nodekit/nodekit/kubelet/runc"
	"github.com/nodekit/nodekit/stats"
)

// RuncTargets names the cgroups of a pod for the stats collector: one
// target per running container (its cgroup, init process for network
// figures, writable layer and log directory, from the runtime) and one for
// the pod's cgroup, whose network figures come from any of its running
// containers (the runc runtime has no pause process).
func RuncTargets(rt *runc.Runtime) agent.TargetsFunc {
	return func(ctx context.Context, pod *v1.Pod) ([]stats.Target, error) {
		nn := types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}
		var out []stats.Target
		var podTarget *stats.Target
		var errs []error
		statuses := append(append([]v1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
		for _, cs := range statuses {
			if cs.State.Running == nil || cs.ContainerID == "" {
				continue
			}
			id := strings.TrimPrefix(cs.ContainerID, rt.Name()+"://")
			info, err := rt.ContainerInfo(ctx, id)
			if errors.Is(err, kubelet.ErrNotFound) {
				continue // removed since the status was made
			}
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if info.CgroupsPath == "" || info.PID == 0 {
				continue
			}
			out = append(out, stats.Target{
				ID: info.CgroupsPath, Pod: nn, PodUID: pod.UID, Container: cs.Name,
				Name: id, Image: cs.Image, PID: info.PID,
				RootfsPath: info.UpperDir, LogsPath: filepath.Dir(info.LogPath),
			})
			if podTarget == nil && info.PodCgroupPath != "" {
				podTarget = &stats.Target{ID: info.PodCgroupPath, Pod: nn, PodUID: pod.UID, PID: info.PID}
			}
		}
		if podTarget != nil {
			out = append(out, *podTarget)
		}
		return out, errors.Join(errs...)
	}
}
