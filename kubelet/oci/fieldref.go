package oci

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// PodFieldValue returns the value of a downward-API field of pod, as the
// kubelet's podFieldSelectorRuntimeValue and fieldpath.ExtractFieldPathAsString
// compute it: metadata.name, metadata.namespace, metadata.uid,
// metadata.labels and metadata.annotations (the whole map as sorted
// `key="value"` lines, or one key with ['key']), spec.nodeName,
// spec.serviceAccountName, status.podIP, status.podIPs (comma-separated),
// status.hostIP and status.hostIPs. podIPs and hostIPs are the sandbox's and
// the node's IPs, primary first.
func PodFieldValue(pod *v1.Pod, ref *v1.ObjectFieldSelector, podIPs, hostIPs []string) (string, error) {
	if ref == nil {
		return "", fmt.Errorf("fieldRef is nil: %w", ErrInvalidSpec)
	}
	if ref.APIVersion != "" && ref.APIVersion != "v1" {
		return "", fmt.Errorf("fieldRef %q: unsupported apiVersion %q: %w", ref.FieldPath, ref.APIVersion, ErrInvalidSpec)
	}
	fieldPath := ref.FieldPath
	if p, key, ok := splitSubscript(fieldPath); ok {
		switch p {
		case "metadata.annotations":
			if errs := validation.IsQualifiedName(strings.ToLower(key)); len(errs) != 0 {
				return "", fmt.Errorf("fieldRef %q: invalid key subscript: %s: %w", fieldPath, strings.Join(errs, ";"), ErrInvalidSpec)
			}
			return pod.Annotations[key], nil
		case "metadata.labels":
			if errs := validation.IsQualifiedName(key); len(errs) != 0 {
				return "", fmt.Errorf("fieldRef %q: invalid key subscript: %s: %w", fieldPath, strings.Join(errs, ";"), ErrInvalidSpec)
			}
			return pod.Labels[key], nil
		default:
			return "", fmt.Errorf("fieldRef %q: field does not support a subscript: %w", fieldPath, ErrInvalidSpec)
		}
	}
	switch fieldPath {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP":
		if len(podIPs) == 0 {
			return "", nil
		}
		return podIPs[0], nil
	case "status.podIPs":
		return strings.Join(podIPs, ","), nil
	case "status.hostIP":
		if len(hostIPs) == 0 {
			return "", fmt.Errorf("fieldRef %q: the node's IPs are unknown (Options.Node.HostIPs): %w", fieldPath, ErrMissingOption)
		}
		return hostIPs[0], nil
	case "status.hostIPs":
		if len(hostIPs) == 0 {
			return "", fmt.Errorf("fieldRef %q: the node's IPs are unknown (Options.Node.HostIPs): %w", fieldPath, ErrMissingOption)
		}
		return strings.Join(hostIPs, ","), nil
	}
	return "", fmt.Errorf("fieldRef: unsupported fieldPath %q: %w", fieldPath, ErrInvalidSpec)
}

// splitSubscript splits "path['key']" as fieldpath.SplitMaybeSubscriptedPath.
func splitSubscript(fieldPath string) (string, string, bool) {
	s, ok := strings.CutSuffix(fieldPath, "']")
	if !ok {
		return fieldPath, "", false
	}
	p, key, ok := strings.Cut(s, "['")
	if !ok || p == "" {
		return fieldPath, "", false
	}
	return p, key, true
}

// formatMap is fieldpath.FormatMap: sorted `key="value"` lines, the value
// quoted as Go's %q, without a final newline.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(m[k]))
	}
	return b.String()
}

// ResourceFieldValue returns the value of a downward-API resourceFieldRef
// as the kubelet computes it: the container's request or limit of cpu,
// memory, ephemeral-storage or hugepages-<size>, divided by the divisor
// (default 1) and rounded up. An unset cpu, memory or ephemeral-storage
// limit reads the node's allocatable amount, as the kubelet's
// defaultPodLimitsForDownwardAPI. When ref.ContainerName is set it names the
// container of pod to read (a regular or init container); otherwise
// container is read.
func ResourceFieldValue(pod *v1.Pod, container *v1.Container, ref *v1.ResourceFieldSelector, allocatable v1.ResourceList) (string, error) {
	if ref == nil {
		return "", fmt.Errorf("resourceFieldRef is nil: %w", ErrInvalidSpec)
	}
	if ref.ContainerName != "" {
		container = findContainer(pod, ref.ContainerName)
		if container == nil {
			return "", fmt.Errorf("resourceFieldRef %q: container %q not found in the pod: %w", ref.Resource, ref.ContainerName, ErrInvalidSpec)
		}
	}
	if container == nil {
		return "", fmt.Errorf("resourceFieldRef %q: no container: %w", ref.Resource, ErrInvalidSpec)
	}
	divisor := resource.MustParse("1")
	if !ref.Divisor.IsZero() {
		divisor = ref.Divisor
	}
	limits := defaultedLimits(container.Resources.Limits, allocatable)
	requests := container.Resources.Requests
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("resourceFieldRef: unsupported resource %q: %w", ref.Resource, ErrInvalidSpec)
	}
	list := requests
	if kind == "limits" {
		list = limits
	}
	rn := v1.ResourceName(name)
	q := list[rn]
	switch {
	case rn == v1.ResourceCPU:
		if divisor.MilliValue() == 0 {
			return "", fmt.Errorf("resourceFieldRef %q: divisor %s is zero: %w", ref.Resource, divisor.String(), ErrInvalidSpec)
		}
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	case rn == v1.ResourceMemory, rn == v1.ResourceEphemeralStorage, strings.HasPrefix(name, v1.ResourceHugePagesPrefix):
		if divisor.Value() == 0 {
			return "", fmt.Errorf("resourceFieldRef %q: divisor %s is zero: %w", ref.Resource, divisor.String(), ErrInvalidSpec)
		}
		return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
	}
	return "", fmt.Errorf("resourceFieldRef: unsupported resource %q: %w", ref.Resource, ErrInvalidSpec)
}

// defaultedLimits returns limits with cpu, memory and ephemeral-storage
// taken from allocatable when unset (resource.MergeContainerResourceLimits).
func defaultedLimits(limits, allocatable v1.ResourceList) v1.ResourceList {
	out := make(v1.ResourceList, len(limits)+3)
	for k, v := range limits {
		out[k] = v
	}
	for _, rn := range []v1.ResourceName{v1.ResourceCPU, v1.ResourceMemory, v1.ResourceEphemeralStorage} {
		if _, ok := out[rn]; !ok {
			if v, ok := allocatable[rn]; ok {
				out[rn] = v
			}
		}
	}
	return out
}

// findContainer returns the pod's container or init container called name.
func findContainer(pod *v1.Pod, name string) *v1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}
