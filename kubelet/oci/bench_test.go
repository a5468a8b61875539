package oci

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// benchPod is a typical two-container pod: an app with resources, env from
// the downward API and a ConfigMap, a RuntimeDefault seccomp profile, an
// emptyDir and a configMap volume; and a logging sidecar sharing the
// emptyDir.
func benchPod() *v1.Pod {
	pod := testPod("bench")
	pod.Spec.SecurityContext = &v1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To[int64](1000),
		FSGroup:        ptr.To[int64](2000),
		SeccompProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault},
	}
	pod.Spec.Volumes = []v1.Volume{
		{Name: "cache", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}},
		{Name: "config", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "app-config"}}}},
	}
	app := &pod.Spec.Containers[0]
	app.Resources = v1.ResourceRequirements{
		Requests: v1.ResourceList{v1.ResourceCPU: resourceQ("250m"), v1.ResourceMemory: resourceQ("64Mi")},
		Limits:   v1.ResourceList{v1.ResourceCPU: resourceQ("500m"), v1.ResourceMemory: resourceQ("128Mi")},
	}
	app.SecurityContext = &v1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), Capabilities: &v1.Capabilities{Drop: []v1.Capability{"ALL"}}}
	app.EnvFrom = []v1.EnvFromSource{{ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "app-config"}}}}
	app.Env = []v1.EnvVar{
		fieldEnv("POD_NAME", "metadata.name"), fieldEnv("POD_IP", "status.podIP"),
		resourceEnv("MEM_LIMIT", "limits.memory", "1Mi", ""),
		{Name: "URL", Value: "http://$(POD_IP):8080/$(POD_NAME)"},
	}
	app.VolumeMounts = []v1.VolumeMount{{Name: "cache", MountPath: "/cache"}, {Name: "config", MountPath: "/etc/app"}}
	pod.Spec.Containers = append(pod.Spec.Containers, v1.Container{
		Name:                   "log-shipper",
		Image:                  "busybox:1.36",
		Args:                   []string{"tail", "-F", "/cache/app.log"},
		TerminationMessagePath: "/dev/termination-log",
		Resources: v1.ResourceRequirements{
			Requests: v1.ResourceList{v1.ResourceCPU: resourceQ("10m"), v1.ResourceMemory: resourceQ("16Mi")},
			Limits:   v1.ResourceList{v1.ResourceMemory: resourceQ("32Mi")},
		},
		VolumeMounts: []v1.VolumeMount{{Name: "cache", MountPath: "/cache", ReadOnly: true}},
	})
	return pod
}

// BenchmarkSpecGeneration generates the specs of both containers of
// benchPod per op, on the in-memory FakeHostFS (fakefs) and on the real
// filesystem in a temporary directory (osfs), and validates one of each
// against the runtime-spec schema before timing.
func BenchmarkSpecGeneration(b *testing.B) {
	pod := benchPod()
	run := func(b *testing.B, opts Options) {
		ctx := context.Background()
		sch := specSchema(b)
		for i := range pod.Spec.Containers {
			s, err := GenerateSpec(ctx, pod, &pod.Spec.Containers[i], opts)
			if err != nil {
				b.Fatal(err)
			}
			data, err := json.Marshal(s)
			if err != nil {
				b.Fatal(err)
			}
			validateSpec(b, sch, data)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			for i := range pod.Spec.Containers {
				if _, err := GenerateSpec(ctx, pod, &pod.Spec.Containers[i], opts); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pod.Spec.Containers)), "ns/container")
	}
	b.Run("fakefs", func(b *testing.B) {
		run(b, testOptions(newTestFS(b), "ctr-bench"))
	})
	b.Run("osfs", func(b *testing.B) {
		root := b.TempDir()
		opts := testOptions(nil, "ctr-bench")
		opts.HostFS = OSHostFS{}
		opts.RootfsPath = filepath.Join(root, "rootfs")
		opts.Layout = &Layout{Root: filepath.Join(root, "kubelet")}
		opts.Sandbox.ShmPath = ""
		if err := WriteAtomic(filepath.Join(opts.RootfsPath, "etc"), map[string]FileProjection{
			"passwd": {Data: []byte(testPasswd), Mode: 0o644}, "group": {Data: []byte(testGroup), Mode: 0o644},
		}); err != nil {
			b.Fatal(err)
		}
		if err := WritePodVolumes(context.Background(), pod, opts); err != nil {
			b.Fatal(err)
		}
		run(b, opts)
	})
}
