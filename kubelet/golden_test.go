package kubelet_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/nodekit/nodekit/kubelet"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Fatalf("%s differs (-want +got):\n%s", path, diff)
	}
}

// TestStatusGolden checks whole pod statuses, field by field, against the
// kubelet's output for the same situations.
func TestStatusGolden(t *testing.T) {
	tests := []struct {
		name string
		pod  *v1.Pod
		run  func(e *testEnv, pod *v1.Pod)
	}{
		{
			name: "running-burstable",
			pod: newPod("web", func(p *v1.Pod) {
				p.Generation = 3
				p.Spec.Containers[0].Resources.Requests = v1.ResourceList{v1.ResourceCPU: resource.MustParse("250m")}
			}),
			run: func(e *testEnv, pod *v1.Pod) { e.sync(); e.step(time.Minute); e.sync() },
		},
		{
			name: "init-pending",
			pod:  newPod("job", withInit("migrate")),
			run:  func(e *testEnv, pod *v1.Pod) { e.sync() },
		},
		{
			name: "crashloop",
			pod:  newPod("crash"),
			run: func(e *testEnv, pod *v1.Pod) {
				e.sync()
				e.step(time.Second)
				_ = e.rt.ExitByName(pod.UID, "app", 1, "")
				e.sync()
				e.step(5 * time.Second)
				_ = e.rt.ExitByName(pod.UID, "app", 2, "")
				e.sync()
			},
		},
		{
			name: "deadline-exceeded",
			pod:  newPod("deadline", func(p *v1.Pod) { p.Spec.ActiveDeadlineSeconds = new(int64); *p.Spec.ActiveDeadlineSeconds = 30 }),
			run:  func(e *testEnv, pod *v1.Pod) { e.sync(); e.step(31 * time.Second); e.sync() },
		},
		{
			name: "host-network-guaranteed",
			pod: newPod("host", func(p *v1.Pod) {
				p.Spec.HostNetwork = true
				rl := v1.ResourceList{v1.ResourceCPU: resource.MustParse("1"), v1.ResourceMemory: resource.MustParse("64Mi")}
				p.Spec.Containers[0].Resources = v1.ResourceRequirements{Requests: rl, Limits: rl}
			}),
			run: func(e *testEnv, pod *v1.Pod) { e.sync() },
		},
		{
			name: "sidecar-job-succeeded",
			pod:  newPod("job2", withRestartPolicy(v1.RestartPolicyNever), withSidecar("proxy")),
			run: func(e *testEnv, pod *v1.Pod) {
				e.syncN(2)
				e.step(time.Minute)
				_ = e.rt.ExitByName(pod.UID, "app", 0, "")
				e.syncN(2)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, kubelet.Options{})
			if err := e.s.SetPods([]*v1.Pod{tc.pod}); err != nil {
				t.Fatal(err)
			}
			tc.run(e, tc.pod)
			out, err := yaml.Marshal(e.status(tc.pod.UID))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, "# runtime\n"...)
			for _, line := range splitLines(e.rt.Dump()) {
				out = append(out, "# "+line+"\n"...)
			}
			golden(t, tc.name+".golden", out)
		})
	}
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
