package stats

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestPrometheusGoldenV1(t *testing.T) {
	c, _ := summaryCollector(t)
	p, err := NewPrometheusCollector(c, PrometheusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if problems, err := testutil.CollectAndLint(p); err != nil || len(problems) > 0 {
		// cAdvisor's names predate some lint rules; only report real errors.
		for _, pr := range problems {
			if !strings.Contains(pr.Text, "counter metrics should have \"_total\" suffix") &&
				!strings.Contains(pr.Text, "non-histogram and non-summary metrics should not have \"_count\" suffix") {
				t.Errorf("lint %s: %s", pr.Metric, pr.Text)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := testutil.CollectAndFormat(p, expfmt.TypeTextPlain, PrometheusFamilies()...)
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, "prometheus-v1.txt", got)
	// The golden text must also parse back to exactly what is collected.
	if err := testutil.CollectAndCompare(p, bytes.NewReader(got)); err != nil {
		t.Error(err)
	}
	// Every family is described once, with the kubelet's labels.
	descs := make(chan *prometheus.Desc, 100)
	p.Describe(descs)
	close(descs)
	n := 0
	for d := range descs {
		n++
		want := `variableLabels: {container,id,image,name,namespace,pod`
		if strings.Contains(d.String(), `fqName: "machine_`) {
			want = `variableLabels: {machine_id,system_uuid,boot_id}`
		}
		if !strings.Contains(d.String(), want) {
			t.Errorf("desc without the kubelet's labels: %s", d)
		}
	}
	if n != len(PrometheusFamilies()) {
		t.Errorf("%d descriptors, want %d", n, len(PrometheusFamilies()))
	}
}

func TestPrometheusAllowlistAndTimestamps(t *testing.T) {
	c, f := summaryCollector(t)
	p, err := NewPrometheusCollector(c, PrometheusOptions{Families: []string{"container_memory_working_set_bytes"}, Timestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	const want = `
# HELP container_memory_working_set_bytes Current working set in bytes.
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="",id="/",image="",name="",namespace="",pod=""} 1.3586432e+08 1767323046000
container_memory_working_set_bytes{container="",id="/kubepods/burstable/pod8f2c6d3e-3b7a-4d5e-9f10-2a6b7c8d9e01",image="",name="",namespace="default",pod="web-0"} 9.990144e+06 1767323046000
container_memory_working_set_bytes{container="coredns",id="/kubepods/pod1b2c3d4e-5f60-4a1b-8c2d-3e4f5a6b7c8d/a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",image="registry.k8s.io/coredns/coredns:v1.12.0",name="a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",namespace="kube-system",pod="coredns-0"} 8.941568e+06 1767323046000
container_memory_working_set_bytes{container="nginx",id="/kubepods/burstable/pod8f2c6d3e-3b7a-4d5e-9f10-2a6b7c8d9e01/3f9a1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8",image="registry.k8s.io/nginx:1.27",name="3f9a1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8",namespace="default",pod="web-0"} 8.941568e+06 1767323046000
`
	if err := testutil.CollectAndCompare(p, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	// A vanished container disappears from the next scrape.
	f.removeCgroup(v1ContainerPath)
	f.clock.Step(time.Second)
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(p); n != 3 {
		t.Errorf("%d series after the container vanished, want 3", n)
	}
	if _, err := NewPrometheusCollector(c, PrometheusOptions{Families: []string{"container_cpu_load_average_10s"}}); err == nil {
		t.Error("unknown family accepted")
	}
}

func TestPrometheusGatherMatchesRegistry(t *testing.T) {
	c, _ := summaryCollector(t)
	for _, ts := range []bool{false, true} {
		p, err := NewPrometheusCollector(c, PrometheusOptions{Timestamps: ts})
		if err != nil {
			t.Fatal(err)
		}
		viaRegistry, err := testutil.CollectAndFormat(p, expfmt.TypeTextPlain, PrometheusFamilies()...)
		if err != nil {
			t.Fatal(err)
		}
		viaGather, err := testutil.GatherAndFormat(p, expfmt.TypeTextPlain, PrometheusFamilies()...)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(string(viaRegistry), string(viaGather)); diff != "" {
			t.Errorf("timestamps=%v: Gather differs from a Registry (-registry +gather):\n%s", ts, diff)
		}
		if ts && !strings.Contains(string(viaGather), " 1767323046000\n") {
			t.Error("no timestamps in the exposition")
		}
	}
}

func TestPrometheusGoldenV2(t *testing.T) {
	clk := clocktesting.NewFakeClock(fixtureStart)
	c, err := NewCollector(fixtureFS(t, "v2"), Options{Clock: clk, Mask: MaskDefault | MaskPSI,
		MachineIDFile: "testdata/v2/etc/machine-id", SystemUUIDFile: "testdata/v2/sys/product_uuid"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Add(Target{ID: v2CtrPath, Pod: types.NamespacedName{Namespace: "default", Name: "batch-1"}, PodUID: fixturePodUID2,
		Container: "worker", Name: fixtureCID2, Image: "busybox:1.37", PID: 4242}); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	p, err := NewPrometheusCollector(c, PrometheusOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := testutil.GatherAndFormat(p, expfmt.TypeTextPlain, PrometheusFamilies()...)
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, "prometheus-v2.txt", got)
	if !strings.Contains(string(got), `container_oom_events_total{container="worker"`) {
		t.Error("no container_oom_events_total from memory.events")
	}
}

func TestPrometheusPerCPU(t *testing.T) {
	f := newLiveFixture(t)
	c := f.collector(Options{Mask: MaskDefault | MaskCPUPerCPU})
	if err := c.Add(testTarget()); err != nil {
		t.Fatal(err)
	}
	f.refresh(c)
	series := func(cpu string) string {
		return `container_cpu_usage_seconds_total{container="nginx",cpu="` + cpu + `",id="` + v1ContainerPath +
			`",image="registry.k8s.io/nginx:1.27",name="` + fixtureCID + `",namespace="default",pod="web-0"}`
	}
	for _, tc := range []struct {
		name string
		opts PrometheusOptions
		want string
	}{
		{"default: total", PrometheusOptions{}, series("total") + " 0.849038869"},
		// cpuacct.usage_percpu of the fixture: "497888817 351150052".
		{"per CPU", PrometheusOptions{PerCPU: true}, series("cpu00") + " 0.497888817\n" + series("cpu01") + " 0.351150052"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Families = []string{"container_cpu_usage_seconds_total"}
			p, err := NewPrometheusCollector(c, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := testutil.GatherAndFormat(p, expfmt.TypeTextPlain, "container_cpu_usage_seconds_total")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(got), tc.want+"\n") {
				t.Errorf("exposition lacks\n%s\ngot:\n%s", tc.want, got)
			}
			if tc.opts.PerCPU && strings.Contains(string(got), `cpu="total"`) {
				t.Error("per-CPU export still has the container's total series")
			}
			// The registry path agrees with Gather.
			viaRegistry, err := testutil.CollectAndFormat(p, expfmt.TypeTextPlain, "container_cpu_usage_seconds_total")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(viaRegistry), string(got)); diff != "" {
				t.Errorf("registry differs from Gather:\n%s", diff)
			}
		})
	}
}
