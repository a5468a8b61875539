package oci_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/nodekit/nodekit/internal/cgrouplayout"
	"github.com/nodekit/nodekit/kubelet/oci"
)

func examplePod() *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "1a2b3c4d-0000-4000-8000-000000000001"},
		Spec: v1.PodSpec{
			NodeName: "node-1",
			Containers: []v1.Container{{
				Name:       "server",
				Image:      "example/server:1",
				Args:       []string{"--listen=$(POD_IP):8080"},
				Env:        []v1.EnvVar{{Name: "POD_IP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.podIP"}}}},
				WorkingDir: "/srv",
				Resources: v1.ResourceRequirements{
					Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("250m"), v1.ResourceMemory: resource.MustParse("64Mi")},
					Limits:   v1.ResourceList{v1.ResourceCPU: resource.MustParse("1"), v1.ResourceMemory: resource.MustParse("128Mi")},
				},
				SecurityContext: &v1.SecurityContext{RunAsUser: ptr.To[int64](1000), AllowPrivilegeEscalation: ptr.To(false)},
			}},
		},
	}
}

// GenerateSpec turns one container into a runtime spec. The image's
// entrypoint stays, the container's args replace its cmd, and $(POD_IP) is
// expanded from the downward API.
func ExampleGenerateSpec() {
	pod := examplePod()
	opts := oci.Options{
		ContainerID: "c0ffee",
		Image:       oci.ImageConfig{Entrypoint: []string{"/server"}, Cmd: []string{"--help"}},
		Sandbox:     oci.Sandbox{NetworkNamespacePath: "/run/netns/web"},
		PodIPs:      []string{"10.244.1.7"},
		Node:        oci.NodeInfo{Allocatable: v1.ResourceList{v1.ResourceMemory: resource.MustParse("4Gi")}},
		HostFS:      oci.NewFakeHostFS(),
	}
	spec, err := oci.GenerateSpec(context.Background(), pod, &pod.Spec.Containers[0], opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("args:", spec.Process.Args)
	fmt.Println("env:", spec.Process.Env)
	fmt.Println("cwd:", spec.Process.Cwd)
	fmt.Println("user:", spec.Process.User.UID, spec.Process.User.GID)
	fmt.Println("noNewPrivileges:", spec.Process.NoNewPrivileges)
	fmt.Println("cpu:", *spec.Linux.Resources.CPU.Shares, *spec.Linux.Resources.CPU.Quota, *spec.Linux.Resources.CPU.Period)
	fmt.Println("memory:", *spec.Linux.Resources.Memory.Limit)
	fmt.Println("oomScoreAdj:", *spec.Process.OOMScoreAdj)
	fmt.Println("cgroupsPath:", spec.Linux.CgroupsPath)
	fmt.Println("pod:", spec.Annotations["io.kubernetes.pod.namespace"]+"/"+spec.Annotations["io.kubernetes.pod.name"])
	// Output:
	// args: [/server --listen=10.244.1.7:8080]
	// env: [PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOSTNAME=web POD_IP=10.244.1.7]
	// cwd: /srv
	// user: 1000 0
	// noNewPrivileges: true
	// cpu: 256 100000 100000
	// memory: 134217728
	// oomScoreAdj: 985
	// cgroupsPath: /kubepods/burstable/pod1a2b3c4d-0000-4000-8000-000000000001/c0ffee
	// pod: shop/web
}

// A container with runAsNonRoot whose image runs as root is refused with
// the kubelet's message; errors.Is classifies it.
func ExampleGenerateSpec_runAsNonRoot() {
	pod := examplePod()
	pod.Spec.Containers[0].SecurityContext = &v1.SecurityContext{RunAsNonRoot: ptr.To(true)}
	opts := oci.Options{ContainerID: "c0ffee", Image: oci.ImageConfig{Entrypoint: []string{"/server"}}, HostFS: oci.NewFakeHostFS()}
	_, err := oci.GenerateSpec(context.Background(), pod, &pod.Spec.Containers[0], opts)
	fmt.Println(errors.Is(err, oci.ErrRunAsNonRoot))
	fmt.Println(err)
	// Output:
	// true
	// pod "web_shop(1a2b3c4d-0000-4000-8000-000000000001)", container "server": container has runAsNonRoot and image will run as root (pod: "web_shop(1a2b3c4d-0000-4000-8000-000000000001)", container: server): runAsNonRoot violated
}

// Extra SpecOpts run after the kubelet's rules, as containerd's SpecOpts.
func ExampleGenerateSpec_extraOptions() {
	pod := examplePod()
	opts := oci.Options{ContainerID: "c0ffee", Image: oci.ImageConfig{Entrypoint: []string{"/server"}}, HostFS: oci.NewFakeHostFS()}
	withLabel := func(_ context.Context, in *oci.Input, s *specs.Spec) error {
		s.Annotations["example.com/owner"] = in.Pod.Namespace
		return nil
	}
	spec, err := oci.GenerateSpec(context.Background(), pod, &pod.Spec.Containers[0], opts, withLabel)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(spec.Annotations["example.com/owner"])
	// Output:
	// shop
}

func ExampleExpand() {
	env := oci.MappingFor(map[string]string{"NAME": "world"})
	fmt.Println(oci.Expand("hello $(NAME), $$(NAME) is escaped, $(UNSET) stays", env))
	// Output:
	// hello world, $(NAME) is escaped, $(UNSET) stays
}

func ExampleCgroupsPath() {
	fmt.Println(oci.CgroupsPath(cgrouplayout.DriverCgroupfs, "/kubepods/burstable/pod42", "abc", ""))
	fmt.Println(oci.CgroupsPath(cgrouplayout.DriverSystemd, "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod42.slice", "abc", ""))
	// Output:
	// /kubepods/burstable/pod42/abc
	// kubepods-burstable-pod42.slice:cri-nodekit:abc
}

// ResolveSubPath follows links inside the volume and refuses those that
// leave it.
func ExampleResolveSubPath() {
	fs := oci.NewFakeHostFS()
	_ = fs.AddDir("/vol/data/logs", 0o755)
	_ = fs.AddSymlink("/vol/current", "data")
	_ = fs.AddSymlink("/vol/evil", "/etc")
	for _, sub := range []string{"current/logs", "evil", "../x"} {
		p, err := oci.ResolveSubPath(fs, "/vol", sub)
		fmt.Println(sub, "=>", p, errors.Is(err, oci.ErrSubPathEscape))
	}
	// Output:
	// current/logs => /vol/data/logs false
	// evil =>  true
	// ../x =>  true
}

func ExampleCheckHostPath() {
	fs := oci.NewFakeHostFS()
	_ = fs.AddFile("/etc/app.conf", []byte("x"), 0o644)
	err := oci.CheckHostPath(fs, &v1.HostPathVolumeSource{Path: "/etc/app.conf", Type: ptr.To(v1.HostPathDirectory)})
	fmt.Println(err)
	err = oci.CheckHostPath(fs, &v1.HostPathVolumeSource{Path: "/var/lib/app", Type: ptr.To(v1.HostPathDirectoryOrCreate)})
	_, statErr := fs.Stat("/var/lib/app")
	fmt.Println(err, statErr)
	// Output:
	// hostPath type check failed: /etc/app.conf is not a directory: hostPath type check failed
	// <nil> <nil>
}

func ExamplePodDNSConfig() {
	pod := examplePod()
	cfg, err := oci.PodDNSConfig(pod, oci.ResolverConfig{
		ClusterDNS:     []string{"10.96.0.10"},
		ClusterDomain:  "cluster.local",
		HostResolvConf: []byte("nameserver 192.0.2.53\nsearch corp.example\n"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(oci.ResolvConfContent(cfg)))
	// Output:
	// search shop.svc.cluster.local svc.cluster.local cluster.local corp.example
	// nameserver 10.96.0.10
	// options ndots:5
}

func ExampleHostsFileContent() {
	fmt.Print(string(oci.HostsFileContent([]string{"10.244.1.7"}, "web", "", []v1.HostAlias{{IP: "10.0.0.9", Hostnames: []string{"db", "db.local"}}})))
	// Output:
	// # Kubernetes-managed hosts file.
	// 127.0.0.1	localhost
	// ::1	localhost ip6-localhost ip6-loopback
	// fe00::0	ip6-localnet
	// fe00::0	ip6-mcastprefix
	// fe00::1	ip6-allnodes
	// fe00::2	ip6-allrouters
	// 10.244.1.7	web
	//
	// # Entries added by HostAliases.
	// 10.0.0.9	db	db.local
}

func ExampleWriteAtomic() {
	dir, err := os.MkdirTemp("", "oci-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	vol := filepath.Join(dir, "config")
	for _, v := range []string{"v1", "v2"} {
		if err := oci.WriteAtomic(vol, map[string]oci.FileProjection{"app.conf": {Data: []byte(v), Mode: 0o644}}); err != nil {
			fmt.Println(err)
			return
		}
		b, _ := os.ReadFile(filepath.Join(vol, "app.conf"))
		link, _ := os.Readlink(filepath.Join(vol, "app.conf"))
		fmt.Println(string(b), link)
	}
	entries, _ := os.ReadDir(vol)
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "..20") {
			names = append(names, e.Name())
		}
	}
	fmt.Println(names, len(entries))
	// Output:
	// v1 ..data/app.conf
	// v2 ..data/app.conf
	// [..data app.conf] 3
}
