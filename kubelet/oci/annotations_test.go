package oci

import (
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nodekit/nodekit/kubelet"
)

func TestAnnotations(t *testing.T) {
	pod := goldenPods()[5].pod // shared-pid: an init container and two regular ones
	for _, name := range []string{"init", "sidecar"} {
		c := findContainer(pod, name)
		opts := testOptions(newTestFS(t), "ctr-"+name)
		opts.RestartCount = 3
		opts.Annotations = map[string]string{"example.com/extra": "kept", kubelet.LabelPodName: "cannot-override"}
		s, err := GenerateSpec(t.Context(), pod, c, opts)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"example.com/extra":                     "kept",
			kubelet.LabelPodName:                    "shared-pid",
			kubelet.LabelPodNamespace:               "default",
			kubelet.LabelPodUID:                     "0f1c6e3a-6f4f-4bd5-9d2e-3a1f0c9b7d11",
			kubelet.LabelContainerName:              name,
			kubelet.AnnotationContainerHash:         strconv.FormatUint(kubelet.HashContainer(c), 16),
			kubelet.AnnotationContainerRestartCount: "3",
			AnnotationCRIContainerType:              "container",
			AnnotationCRIContainerName:              name,
			AnnotationCRISandboxID:                  "sandbox-1",
			AnnotationCRISandboxName:                "shared-pid",
			AnnotationCRISandboxNamespace:           "default",
			AnnotationCRISandboxUID:                 "0f1c6e3a-6f4f-4bd5-9d2e-3a1f0c9b7d11",
			AnnotationCRIImageName:                  "busybox:1.36",
		}
		if name == "init" {
			want[kubelet.AnnotationContainerInit] = "true"
		}
		if d := cmp.Diff(want, s.Annotations); d != "" {
			t.Errorf("%s annotations (-want +got):\n%s", name, d)
		}
	}
}
