package agent

import (
	"github.com/prometheus/client_golang/prometheus"
	v1 "k8s.io/api/core/v1"
)

// engineCollector exports, per pod, the kube-state-metrics series users
// alert on, from the engine's statuses at scrape time. The kubelet's own
// series (running pods and containers among them) come from the engine's
// kubelet.Metrics.
type engineCollector struct {
	a        *Agent
	phase    *prometheus.Desc
	ready    *prometheus.Desc
	restarts *prometheus.Desc
}

func newEngineCollector(a *Agent) *engineCollector {
	pod := []string{"namespace", "pod", "uid"}
	return &engineCollector{
		a:        a,
		phase:    prometheus.NewDesc("kube_pod_status_phase", "The pods current phase.", append(pod, "phase"), nil),
		ready:    prometheus.NewDesc("kube_pod_status_ready", "Describes whether the pod is ready to serve requests.", append(pod, "condition"), nil),
		restarts: prometheus.NewDesc("kube_pod_container_status_restarts_total", "The number of container restarts per container.", append(pod, "container"), nil),
	}
}

func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.phase, c.ready, c.restarts} {
		ch <- d
	}
}

func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	phases := []v1.PodPhase{v1.PodPending, v1.PodRunning, v1.PodSucceeded, v1.PodFailed, v1.PodUnknown}
	for _, p := range c.a.Pods() {
		labels := []string{p.Namespace, p.Name, string(p.UID)}
		for _, ph := range phases {
			ch <- prometheus.MustNewConstMetric(c.phase, prometheus.GaugeValue, b2f(p.Status.Phase == ph), append(labels, string(ph))...)
		}
		ready := podReady(p)
		for _, cond := range []string{"true", "false"} {
			ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, b2f((cond == "true") == ready), append(labels, cond)...)
		}
		for _, cs := range p.Status.ContainerStatuses {
			ch <- prometheus.MustNewConstMetric(c.restarts, prometheus.CounterValue, float64(cs.RestartCount), append(labels, cs.Name)...)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func podReady(p *v1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == v1.PodReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}
