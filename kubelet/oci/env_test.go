package oci

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

func fieldEnv(name, path string) v1.EnvVar {
	return v1.EnvVar{Name: name, ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: path}}}
}

func resourceEnv(name, res, divisor, container string) v1.EnvVar {
	sel := &v1.ResourceFieldSelector{Resource: res, ContainerName: container}
	if divisor != "" {
		sel.Divisor = resource.MustParse(divisor)
	}
	return v1.EnvVar{Name: name, ValueFrom: &v1.EnvVarSource{ResourceFieldRef: sel}}
}

func TestContainerEnv(t *testing.T) {
	cmRef := func(name string, optional bool) *v1.ConfigMapEnvSource {
		return &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: name}, Optional: ptr.To(optional)}
	}
	tests := []struct {
		name    string
		mutate  func(*v1.Pod, *v1.Container)
		want    []EnvVar
		wantErr error
		errHas  string
	}{
		{
			name: "expansion sees only earlier variables",
			mutate: func(_ *v1.Pod, c *v1.Container) {
				c.Env = []v1.EnvVar{
					{Name: "A", Value: "a"},
					{Name: "B", Value: "$(A)-$(C)"},
					{Name: "C", Value: "c"},
					{Name: "D", Value: "$$(A) $(A)$(C)"},
				}
			},
			want: []EnvVar{{"A", "a"}, {"B", "a-$(C)"}, {"C", "c"}, {"D", "$(A) ac"}},
		},
		{
			name: "env overrides envFrom in place",
			mutate: func(_ *v1.Pod, c *v1.Container) {
				c.EnvFrom = []v1.EnvFromSource{{ConfigMapRef: cmRef("app-config", false)}}
				c.Env = []v1.EnvVar{{Name: "MODE", Value: "slow-$(LOG_LEVEL)"}}
			},
			want: []EnvVar{{"LOG_LEVEL", "debug"}, {"MODE", "slow-debug"}},
		},
		{
			name: "envFrom prefix and secret",
			mutate: func(_ *v1.Pod, c *v1.Container) {
				c.EnvFrom = []v1.EnvFromSource{
					{Prefix: "X_", ConfigMapRef: cmRef("app-config", false)},
					{SecretRef: &v1.SecretEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "db"}}},
				}
			},
			want: []EnvVar{{"X_LOG_LEVEL", "debug"}, {"X_MODE", "fast"}, {"password", "s3cret"}},
		},
		{
			name: "optional missing configMap is skipped",
			mutate: func(_ *v1.Pod, c *v1.Container) {
				c.EnvFrom = []v1.EnvFromSource{{ConfigMapRef: cmRef("missing", true)}}
				c.Env = []v1.EnvVar{
					{Name: "K", ValueFrom: &v1.EnvVarSource{ConfigMapKeyRef: &v1.ConfigMapKeySelector{
						LocalObjectReference: v1.LocalObjectReference{Name: "app-config"}, Key: "nope", Optional: ptr.To(true)}}},
					{Name: "L", Value: "l"},
				}
			},
			want: []EnvVar{{"L", "l"}},
		},
		{
			name: "required missing configMap",
			mutate: func(_ *v1.Pod, c *v1.Container) {
				c.EnvFrom = []v1.EnvFromSource{{ConfigMapRef: cmRef("missing", false)}}
			},
			wantErr: ErrObjectNotFound,
			errHas:  "envFrom[0]: configMap default/missing",
		},
		{
			name: "required missing key",
			mutate: func(_ *v1.Pod, c *v1.Container) {
				c.Env = []v1.EnvVar{{Name: "K", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{
					LocalObjectReference: v1.LocalObjectReference{Name: "db"}, Key: "user"}}}}
			},
			wantErr: ErrObjectNotFound,
			errHas:  "couldn't find key user in Secret default/db",
		},
		{
			name: "downward API fields",
			mutate: func(p *v1.Pod, c *v1.Container) {
				p.Labels = map[string]string{"b": "2", "a": "1 \"q\""}
				c.Env = []v1.EnvVar{
					fieldEnv("NAME", "metadata.name"),
					fieldEnv("NS", "metadata.namespace"),
					fieldEnv("UID", "metadata.uid"),
					fieldEnv("LABELS", "metadata.labels"),
					fieldEnv("LABEL_B", "metadata.labels['b']"),
					fieldEnv("ANN", "metadata.annotations['team']"),
					fieldEnv("NODE", "spec.nodeName"),
					fieldEnv("SA", "spec.serviceAccountName"),
					fieldEnv("IP", "status.podIP"),
					fieldEnv("IPS", "status.podIPs"),
					fieldEnv("HOST_IP", "status.hostIP"),
				}
			},
			want: []EnvVar{
				{"NAME", "envpod"}, {"NS", "default"}, {"UID", "0f1c6e3a-6f4f-4bd5-9d2e-3a1f0c9b7d11"},
				{"LABELS", "a=\"1 \\\"q\\\"\"\nb=\"2\""}, {"LABEL_B", "2"}, {"ANN", "edge"},
				{"NODE", "node-1"}, {"SA", "default"}, {"IP", "10.244.0.5"}, {"IPS", "10.244.0.5,fd00::5"},
				{"HOST_IP", "192.0.2.10"},
			},
		},
		{
			name: "unsupported field path",
			mutate: func(_ *v1.Pod, c *v1.Container) {
				c.Env = []v1.EnvVar{fieldEnv("X", "spec.containers")}
			},
			wantErr: ErrInvalidSpec,
			errHas:  `env[0] (X): fieldRef: unsupported fieldPath "spec.containers"`,
		},
		{
			name: "resource fields default to allocatable and round up",
			mutate: func(p *v1.Pod, c *v1.Container) {
				c.Resources.Requests = v1.ResourceList{v1.ResourceCPU: resource.MustParse("250m"), v1.ResourceMemory: resource.MustParse("100Mi")}
				c.Resources.Limits = v1.ResourceList{v1.ResourceMemory: resource.MustParse("1Gi")}
				c.Env = []v1.EnvVar{
					resourceEnv("CPU_LIMIT", "limits.cpu", "", ""),
					resourceEnv("CPU_REQUEST", "requests.cpu", "", ""),
					resourceEnv("CPU_REQUEST_M", "requests.cpu", "1m", ""),
					resourceEnv("MEM_LIMIT_MI", "limits.memory", "1Mi", ""),
					resourceEnv("MEM_REQUEST_GI", "requests.memory", "1Gi", ""),
					resourceEnv("OTHER_CPU", "limits.cpu", "", "other"),
					resourceEnv("OTHER_MEM", "limits.memory", "1Gi", "other"),
				}
				// Appending moves the containers: c is not used after this.
				p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: "other", Resources: v1.ResourceRequirements{
					Limits: v1.ResourceList{v1.ResourceCPU: resource.MustParse("1500m")}}})
			},
			want: []EnvVar{
				{"CPU_LIMIT", "2"}, {"CPU_REQUEST", "1"}, {"CPU_REQUEST_M", "250"}, {"MEM_LIMIT_MI", "1024"},
				{"MEM_REQUEST_GI", "1"}, {"OTHER_CPU", "2"}, {"OTHER_MEM", "4"},
			},
		},
		{
			name: "unknown resource",
			mutate: func(_ *v1.Pod, c *v1.Container) {
				c.Env = []v1.EnvVar{resourceEnv("X", "limits.gpu", "", "")}
			},
			wantErr: ErrInvalidSpec,
			errHas:  `unsupported resource "limits.gpu"`,
		},
		{
			name: "no object source",
			mutate: func(_ *v1.Pod, c *v1.Container) {
				c.EnvFrom = []v1.EnvFromSource{{ConfigMapRef: cmRef("app-config", false)}}
			},
			wantErr: ErrMissingOption,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod("envpod")
			pod.Status.PodIPs = []v1.PodIP{{IP: "10.244.0.5"}, {IP: "fd00::5"}}
			c := &pod.Spec.Containers[0]
			tc.mutate(pod, c)
			c = &pod.Spec.Containers[0]
			opts := testOptions(newTestFS(t), "c1")
			opts.PodIPs = nil
			if tc.wantErr == ErrMissingOption {
				opts.Objects = nil
			}
			got, err := NewInput(pod, c, opts).ContainerEnv(context.Background())
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("err = %q, want it to contain %q", err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("env (-want +got):\n%s", d)
			}
		})
	}
}

func TestWithEnvLayering(t *testing.T) {
	pod := testPod("layers")
	c := &pod.Spec.Containers[0]
	c.Env = []v1.EnvVar{{Name: "IMAGE_VAR", Value: "from-pod"}, {Name: "PATH", Value: "/custom"}}
	opts := testOptions(newTestFS(t), "c1")
	s, err := GenerateSpec(context.Background(), pod, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"PATH=/custom", "HOSTNAME=layers", "IMAGE_VAR=from-pod"}
	if d := cmp.Diff(want, s.Process.Env); d != "" {
		t.Errorf("env (-want +got):\n%s", d)
	}
}
