package runc

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/kubelet"
)

// TestNoLeftoversAfterManyPods runs pods through the engine cycle after
// cycle (networked, with a Memory emptyDir, a crashing and a running
// container, killed at the end) and counts what remains: nothing.
func TestNoLeftoversAfterManyPods(t *testing.T) {
	cycles := 12
	if testing.Short() {
		cycles = 3
	}
	before := rootNetworkSnapshot(t)
	env := newTestEnv(t, true)
	env.opts.PauseImage = testImage
	env.opts.PauseCommand = pauseArgs
	r := env.newRuntime(t)
	e := startEngine(t, r, kubelet.Options{})
	ctx := context.Background()

	for i := range cycles {
		pod := testPod("leak-"+strconv.Itoa(i),
			[]string{"sleep", "3600"},
			[]string{"sh", "-c", "echo $RANDOM > /cache/x; exit 1"},
		)
		pod.UID = types.UID("leak-uid-" + strconv.Itoa(i))
		// Every other pod shares its PID namespace, held by a pause
		// process.
		pod.Spec.ShareProcessNamespace = ptr.To(i%2 == 1)
		grace := int64(0)
		pod.Spec.TerminationGracePeriodSeconds = &grace
		size := resource.MustParse("8Mi")
		pod.Spec.Volumes = []v1.Volume{{Name: "cache", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{Medium: v1.StorageMediumMemory, SizeLimit: &size}}}}
		pod.Spec.Containers[1].VolumeMounts = []v1.VolumeMount{{Name: "cache", MountPath: "/cache"}}
		if err := e.SetPods([]*v1.Pod{pod}); err != nil {
			t.Fatal(err)
		}
		e.waitStatus(t, pod.UID, 30*time.Second, "c0 running and c1 exited once", func(st *v1.PodStatus) bool {
			c0, c1 := containerState(st, "c0"), containerState(st, "c1")
			return st.PodIP != "" && c0 != nil && c0.State.Running != nil && c1 != nil && (c1.State.Terminated != nil || c1.LastTerminationState.Terminated != nil)
		})
		if i == 0 {
			// The counter sees every kind of resource while a pod runs.
			kinds := map[string]bool{}
			for _, l := range leftovers(env, r) {
				kinds[strings.Fields(l)[0]] = true
			}
			for _, k := range []string{"mount", "cgroup", "state", "cni"} {
				if !kinds[k] {
					t.Errorf("leftover counter sees no %s while a pod runs: the final count would prove nothing", k)
				}
			}
		}
	}
	if err := e.SetPods(nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "every sandbox to be removed", func() bool {
		sbs, _ := r.ListPodSandboxes(ctx, kubelet.SandboxFilter{})
		return len(sbs) == 0
	})
	e.stop()
	assertNoLeftovers(t, env, r)
	if after := rootNetworkSnapshot(t); after != before {
		t.Errorf("the root network namespace changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}
