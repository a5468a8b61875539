package manifest

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/nodekit/nodekit/kubelet"
)

// preparePod applies the defaults of a static pod and validates it. It
// returns a *DocumentError without File and Document.
func preparePod(pod *v1.Pod, nodeName string) error {
	if pod.Namespace == "" {
		pod.Namespace = v1.NamespaceDefault
	}
	if pod.Name == "" {
		return &DocumentError{Kind: "Pod", Field: "metadata.name", Err: errors.New("required")}
	}
	for _, msg := range validation.IsDNS1123Subdomain(pod.Name) {
		return &DocumentError{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, Field: "metadata.name", Err: errors.New(msg)}
	}
	for _, msg := range validation.IsDNS1123Label(pod.Namespace) {
		return &DocumentError{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, Field: "metadata.namespace", Err: errors.New(msg)}
	}
	if pod.Spec.NodeName != "" && pod.Spec.NodeName != nodeName {
		return &DocumentError{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, Field: "spec.nodeName",
			Err: fmt.Errorf("%q is not this node (%q); leave it empty", pod.Spec.NodeName, nodeName)}
	}
	pod.Spec.NodeName = nodeName
	defaultPodSpec(&pod.Spec)
	if pod.UID == "" {
		uid, err := podUID(pod, nodeName)
		if err != nil {
			return &DocumentError{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, Err: err}
		}
		pod.UID = uid
	}
	if err := kubelet.ValidatePod(pod); err != nil {
		return &DocumentError{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, Err: err}
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		for j, p := range c.Ports {
			field := fmt.Sprintf("spec.containers[%d].ports[%d]", i, j)
			if p.ContainerPort < 1 || p.ContainerPort > 65535 {
				return &DocumentError{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, Field: field + ".containerPort", Err: fmt.Errorf("%d is not between 1 and 65535", p.ContainerPort)}
			}
			if p.Name != "" {
				for _, msg := range validation.IsValidPortName(p.Name) {
					return &DocumentError{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, Field: field + ".name", Err: errors.New(msg)}
				}
			}
			if err := checkProtocol(p.Protocol); err != nil {
				return &DocumentError{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, Field: field + ".protocol", Err: err}
			}
		}
	}
	return nil
}

// defaultPodSpec applies the API server's defaults that matter to the node
// (pkg/apis/core/v1/defaults.go): the port protocol, which Services match
// named ports by, requests equal to limits where only limits are given (which
// decides the QoS class), the termination message and image pull policy, the
// restart and DNS policies and the grace period.
func defaultPodSpec(spec *v1.PodSpec) {
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = v1.RestartPolicyAlways
	}
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = v1.DNSClusterFirst
	}
	if spec.TerminationGracePeriodSeconds == nil {
		g := int64(v1.DefaultTerminationGracePeriodSeconds)
		spec.TerminationGracePeriodSeconds = &g
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = v1.DefaultSchedulerName
	}
	defaultContainers := func(cs []v1.Container) {
		for i := range cs {
			c := &cs[i]
			for j := range c.Ports {
				if c.Ports[j].Protocol == "" {
					c.Ports[j].Protocol = v1.ProtocolTCP
				}
			}
			if c.TerminationMessagePath == "" {
				c.TerminationMessagePath = v1.TerminationMessagePathDefault
			}
			if c.TerminationMessagePolicy == "" {
				c.TerminationMessagePolicy = v1.TerminationMessageReadFile
			}
			if c.ImagePullPolicy == "" {
				c.ImagePullPolicy = v1.PullIfNotPresent
			}
			// A limit without a request requests the limit.
			for name, q := range c.Resources.Limits {
				if _, ok := c.Resources.Requests[name]; !ok {
					if c.Resources.Requests == nil {
						c.Resources.Requests = v1.ResourceList{}
					}
					c.Resources.Requests[name] = q.DeepCopy()
				}
			}
		}
	}
	defaultContainers(spec.InitContainers)
	defaultContainers(spec.Containers)
}

// podUID is the kubelet's static-pod UID (pkg/kubelet/config/common.go
// generatePodName/applyDefaults): an MD5 hex digest of the pod and the node
// name, so that the same manifest on the same node always gets the same UID.
// The kubelet hashes a spew dump of the object; this hashes its JSON.
func podUID(pod *v1.Pod, nodeName string) (types.UID, error) {
	data, err := json.Marshal(pod)
	if err != nil {
		return "", err
	}
	h := md5.New()
	h.Write(data)
	fmt.Fprintf(h, "host:%s", nodeName)
	return types.UID(hex.EncodeToString(h.Sum(nil))), nil
}

func checkProtocol(p v1.Protocol) error {
	switch p {
	case v1.ProtocolTCP, v1.ProtocolUDP, v1.ProtocolSCTP:
		return nil
	}
	return fmt.Errorf("%q is not TCP, UDP or SCTP", p)
}
