package metricstest

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestSamples(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c_total", Help: "c"}, []string{"b", "a"})
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "g", Help: "g"})
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "h_seconds", Help: "h"})
	reg.MustRegister(c, g, h)
	c.WithLabelValues("2", "1").Add(3)
	g.Set(7)
	h.Observe(1)
	h.Observe(2)
	got := Samples(t, reg)
	want := map[string]float64{"c_total{a=1,b=2}": 3, "g{}": 7, "h_seconds{}": 2}
	if len(got) != len(want) {
		t.Fatalf("Samples = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
