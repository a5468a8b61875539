package endpointslice

import (
	"fmt"
	"testing"

	v1 "k8s.io/api/core/v1"
)

// BenchmarkForService builds the slices of one Service selecting n ready
// pods: what the node agent does for each Service after every change.
func BenchmarkForService(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
			pods := make([]*v1.Pod, n)
			for i := range pods {
				pods[i] = pod(fmt.Sprintf("p%d", i), fmt.Sprintf("10.0.%d.%d", i/250, i%250+1), port("http", 8080, v1.ProtocolTCP))
			}
			svc := service()
			b.ReportAllocs()
			slices := 0
			for b.Loop() {
				slices = len(ForService(svc, pods, nil))
			}
			b.ReportMetric(float64(slices), "slices")
		})
	}
}
