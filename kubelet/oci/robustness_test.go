package oci

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
)

// FuzzGenerateSpec feeds arbitrary pods (JSON, seeded with the golden
// pods and broken variants) to GenerateSpec: it never panics, an error is
// a *ContainerError naming the container and wrapping a sentinel of this
// package or an error of its interfaces, and a spec is valid against the
// runtime-spec schema.
func FuzzGenerateSpec(f *testing.F) {
	for _, g := range goldenPods() {
		b, err := json.Marshal(g.pod)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"metadata":{"name":"x"},"spec":{"containers":[{"name":"c","env":[{"name":"A","valueFrom":{}}]}]}}`,
		`{"metadata":{"name":"x"},"spec":{"containers":[{"name":"c","volumeMounts":[{"name":"v","mountPath":"/v","subPath":"../../x"}]}],"volumes":[{"name":"v","emptyDir":{}}]}}`,
		`{"metadata":{"name":"x"},"spec":{"containers":[{"name":"c","resources":{"limits":{"cpu":"-1"}}}]}}`,
		`{"metadata":{"name":"x"},"spec":{"containers":[{"name":"c","securityContext":{"runAsUser":-4,"capabilities":{"add":["BOGUS"]}}}]}}`,
		`{"metadata":{"name":"x"},"spec":{"hostname":"Not_A_Label","containers":[{"name":"c"}]}}`,
		`{"metadata":{"name":"x"},"spec":{"containers":[{"name":"c","env":[{"name":"A","valueFrom":{"resourceFieldRef":{"resource":"limits.memory","divisor":"0"}}}]}]}}`,
		`{"metadata":{"name":"x"},"spec":{"containers":[{"name":"c","volumeMounts":[{"name":"h","mountPath":"/h"}]}],"volumes":[{"name":"h","hostPath":{"path":"/srv/data/logs","type":"Socket"}}]}}`,
		`{"metadata":{"name":""},"spec":{"containers":[{"name":""}]}}`,
	} {
		f.Add([]byte(s))
	}
	sch := specSchema(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var pod v1.Pod
		if err := json.Unmarshal(data, &pod); err != nil {
			return
		}
		all := append(append([]v1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
		for i := range all {
			c := &all[i]
			opts := testOptions(newTestFS(t), "ctr")
			s, err := GenerateSpec(context.Background(), &pod, c, opts)
			if err != nil {
				var ce *ContainerError
				if !errors.As(err, &ce) || ce.Container != c.Name {
					t.Fatalf("error %v (%T) is not a ContainerError for %q", err, err, c.Name)
				}
				if s != nil {
					t.Fatal("spec returned with an error")
				}
				if !knownError(err) {
					t.Fatalf("error %v wraps no known cause", err)
				}
				continue
			}
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			validateSpec(t, sch, b)
		}
	})
}

// knownError reports whether err wraps a sentinel of this package or an
// error of the filesystem.
func knownError(err error) bool {
	for _, s := range []error{ErrInvalidSpec, ErrRunAsNonRoot, ErrNoCommand, ErrUserNotFound, ErrSubPathEscape,
		ErrHostPathType, ErrObjectNotFound, ErrMissingOption} {
		if errors.Is(err, s) {
			return true
		}
	}
	// Filesystem errors (ENOENT, ENOTDIR, ELOOP) from path resolution.
	return strings.Contains(err.Error(), "no such file") || strings.Contains(err.Error(), "not a directory") ||
		strings.Contains(err.Error(), "too many levels of symbolic links")
}

func TestGenerateSpecNilInput(t *testing.T) {
	if _, err := GenerateSpec(context.Background(), nil, nil, Options{}); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("nil pod: err = %v, want ErrInvalidSpec", err)
	}
	pod := testPod("p")
	if _, err := GenerateSpec(context.Background(), pod, &pod.Spec.Containers[0], Options{}); !errors.Is(err, ErrMissingOption) {
		t.Errorf("no container ID: err = %v, want ErrMissingOption", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := GenerateSpec(ctx, pod, &pod.Spec.Containers[0], testOptions(newTestFS(t), "c")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
}
