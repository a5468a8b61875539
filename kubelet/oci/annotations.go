package oci

import (
	"context"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/nodekit/nodekit/kubelet"
)

// Annotation keys of containerd's CRI plugin, set beside the kubelet's so
// that tools which know CRI bundles recognise these.
const (
	AnnotationCRIContainerType    = "io.kubernetes.cri.container-type"
	AnnotationCRIContainerName    = "io.kubernetes.cri.container-name"
	AnnotationCRISandboxID        = "io.kubernetes.cri.sandbox-id"
	AnnotationCRISandboxName      = "io.kubernetes.cri.sandbox-name"
	AnnotationCRISandboxNamespace = "io.kubernetes.cri.sandbox-namespace"
	AnnotationCRISandboxUID       = "io.kubernetes.cri.sandbox-uid"
	AnnotationCRIImageName        = "io.kubernetes.cri.image-name"
	// AnnotationTerminationMessagePolicy is the kubelet's key for the
	// container's terminationMessagePolicy.
	AnnotationTerminationMessagePolicy = "io.kubernetes.container.terminationMessagePolicy"
)

// WithAnnotations records in the spec's annotations who the container is,
// so that a runtime can rebuild its state from the bundles alone: the pod's
// name, namespace and UID and the container's name (the kubelet's
// io.kubernetes.* keys and containerd's io.kubernetes.cri.* keys), the
// definition hash (kubelet.HashContainer, hexadecimal, as the engine
// stores it), the restart count, the termination-message path and policy,
// whether it is an init container, the sandbox ID and the image. The
// caller's Options.Annotations are added without replacing these.
func WithAnnotations(_ context.Context, in *Input, s *specs.Spec) error {
	pod, c := in.Pod, in.Container
	a := make(map[string]string, 16+len(in.Options.Annotations))
	for k, v := range in.Options.Annotations {
		a[k] = v
	}
	a[kubelet.LabelPodName] = pod.Name
	a[kubelet.LabelPodNamespace] = pod.Namespace
	a[kubelet.LabelPodUID] = string(pod.UID)
	a[kubelet.LabelContainerName] = c.Name
	a[kubelet.AnnotationContainerHash] = strconv.FormatUint(kubelet.HashContainer(c), 16)
	a[kubelet.AnnotationContainerRestartCount] = strconv.Itoa(in.Options.RestartCount)
	if c.TerminationMessagePath != "" {
		a[kubelet.AnnotationContainerTerminationMsg] = c.TerminationMessagePath
	}
	if c.TerminationMessagePolicy != "" {
		a[AnnotationTerminationMessagePolicy] = string(c.TerminationMessagePolicy)
	}
	if isInitContainer(in) {
		a[kubelet.AnnotationContainerInit] = "true"
	}
	a[AnnotationCRIContainerType] = "container"
	a[AnnotationCRIContainerName] = c.Name
	a[AnnotationCRISandboxName] = pod.Name
	a[AnnotationCRISandboxNamespace] = pod.Namespace
	a[AnnotationCRISandboxUID] = string(pod.UID)
	if in.Options.Sandbox.ID != "" {
		a[AnnotationCRISandboxID] = in.Options.Sandbox.ID
	}
	if c.Image != "" {
		a[AnnotationCRIImageName] = c.Image
	}
	s.Annotations = a
	return nil
}

func isInitContainer(in *Input) bool {
	for i := range in.Pod.Spec.InitContainers {
		if in.Pod.Spec.InitContainers[i].Name == in.Container.Name {
			return true
		}
	}
	return false
}
