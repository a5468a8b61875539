package cgrouplayout_test

import (
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodekit/nodekit/internal/cgrouplayout"
)

func ExamplePodCgroupName() {
	pod := &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{UID: "0f1e2d3c-aaaa-bbbb-cccc-000000000001"},
		Spec: v1.PodSpec{Containers: []v1.Container{{
			Name: "web",
			Resources: v1.ResourceRequirements{
				Requests: v1.ResourceList{v1.ResourceMemory: resource.MustParse("64Mi")},
			},
		}}},
	}
	name := cgrouplayout.PodCgroupName(pod)
	fmt.Println(cgrouplayout.QOSClass(pod))
	fmt.Println(name.ToCgroupfs())
	fmt.Println(name.ToSystemd())
	// Output:
	// Burstable
	// /kubepods/burstable/pod0f1e2d3c-aaaa-bbbb-cccc-000000000001
	// /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_aaaa_bbbb_cccc_000000000001.slice
}
