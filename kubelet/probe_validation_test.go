package kubelet_test

import (
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/kubelet"
)

func TestValidateProbes(t *testing.T) {
	exec := v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"check"}}}
	withProbe := func(set func(c *v1.Container)) *v1.Pod {
		return newPod("p", func(p *v1.Pod) {
			p.Spec.Containers[0].Ports = []v1.ContainerPort{{Name: "http", ContainerPort: 8080}}
			set(&p.Spec.Containers[0])
		})
	}
	for _, tc := range []struct {
		name  string
		pod   *v1.Pod
		field string // "" when valid
	}{
		{"valid exec liveness", withProbe(func(c *v1.Container) { c.LivenessProbe = &v1.Probe{ProbeHandler: exec} }), ""},
		{"valid httpGet by port name", withProbe(func(c *v1.Container) {
			c.ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Port: intstr.FromString("http")}}, SuccessThreshold: 3}
		}), ""},
		{"valid grpc startup with grace", withProbe(func(c *v1.Container) {
			c.StartupProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{GRPC: &v1.GRPCAction{Port: 9000}}, TerminationGracePeriodSeconds: ptr.To[int64](5)}
		}), ""},
		{"valid sidecar probes", newPod("p", withSidecar("proxy"), func(p *v1.Pod) {
			p.Spec.InitContainers[0].StartupProbe = &v1.Probe{ProbeHandler: exec}
			p.Spec.InitContainers[0].LivenessProbe = &v1.Probe{ProbeHandler: exec}
		}), ""},
		{"no action", withProbe(func(c *v1.Container) { c.LivenessProbe = &v1.Probe{} }), "spec.containers[0].livenessProbe"},
		{"two actions", withProbe(func(c *v1.Container) {
			c.ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: exec.Exec, TCPSocket: &v1.TCPSocketAction{Port: intstr.FromInt(80)}}}
		}), "spec.containers[0].readinessProbe"},
		{"empty exec command", withProbe(func(c *v1.Container) {
			c.LivenessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{}}}
		}), "spec.containers[0].livenessProbe.exec.command"},
		{"unknown port name", withProbe(func(c *v1.Container) {
			c.LivenessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: intstr.FromString("grpc")}}}
		}), "spec.containers[0].livenessProbe.tcpSocket.port"},
		{"port out of range", withProbe(func(c *v1.Container) {
			c.ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Port: intstr.FromInt(70000)}}}
		}), "spec.containers[0].readinessProbe.httpGet.port"},
		{"bad scheme", withProbe(func(c *v1.Container) {
			c.ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Port: intstr.FromInt(80), Scheme: "FTP"}}}
		}), "spec.containers[0].readinessProbe.httpGet.scheme"},
		{"grpc port zero", withProbe(func(c *v1.Container) {
			c.StartupProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{GRPC: &v1.GRPCAction{}}}
		}), "spec.containers[0].startupProbe.grpc.port"},
		{"negative period", withProbe(func(c *v1.Container) {
			c.LivenessProbe = &v1.Probe{ProbeHandler: exec, PeriodSeconds: -1}
		}), "spec.containers[0].livenessProbe.periodSeconds"},
		{"liveness successThreshold 2", withProbe(func(c *v1.Container) {
			c.LivenessProbe = &v1.Probe{ProbeHandler: exec, SuccessThreshold: 2}
		}), "spec.containers[0].livenessProbe.successThreshold"},
		{"startup successThreshold 2", withProbe(func(c *v1.Container) {
			c.StartupProbe = &v1.Probe{ProbeHandler: exec, SuccessThreshold: 2}
		}), "spec.containers[0].startupProbe.successThreshold"},
		{"readiness with terminationGracePeriodSeconds", withProbe(func(c *v1.Container) {
			c.ReadinessProbe = &v1.Probe{ProbeHandler: exec, TerminationGracePeriodSeconds: ptr.To[int64](5)}
		}), "spec.containers[0].readinessProbe.terminationGracePeriodSeconds"},
		{"liveness with zero terminationGracePeriodSeconds", withProbe(func(c *v1.Container) {
			c.LivenessProbe = &v1.Probe{ProbeHandler: exec, TerminationGracePeriodSeconds: ptr.To[int64](0)}
		}), "spec.containers[0].livenessProbe.terminationGracePeriodSeconds"},
		{"probe on a regular init container", newPod("p", withInit("migrate"), func(p *v1.Pod) {
			p.Spec.InitContainers[0].ReadinessProbe = &v1.Probe{ProbeHandler: exec}
		}), "spec.initContainers[0].readinessProbe"},
		{"hook on a regular init container", newPod("p", withInit("migrate"), func(p *v1.Pod) {
			p.Spec.InitContainers[0].Lifecycle = &v1.Lifecycle{PostStart: &v1.LifecycleHandler{Exec: exec.Exec}}
		}), "spec.initContainers[0].lifecycle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := kubelet.ValidatePod(tc.pod)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid pod refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.field+":") && !strings.Contains(err.Error(), tc.field+" ") && !strings.HasSuffix(err.Error(), tc.field) {
				t.Fatalf("error %v does not name %s", err, tc.field)
			}
		})
	}
}
