package oci

import (
	"io/fs"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

const (
	testRootfs     = "/images/busybox/rootfs"
	testKubeletDir = "/var/lib/kubelet"
)

// testPasswd and testGroup are the image's user database.
const (
	testPasswd = "root:x:0:0:root:/root:/bin/sh\n" +
		"# comment\n" +
		"daemon:x:1:1:daemon:/usr/sbin:/bin/false\n" +
		"app:x:1000:1000:app:/home/app:/bin/sh\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	testGroup = "root:x:0:\n" +
		"daemon:x:1:\n" +
		"wheel:x:10:root,app\n" +
		"app:x:1000:app\n" +
		"audio:x:29:app\n" +
		"nogroup:x:65534:\n"
)

// newTestFS returns a fake host with an image rootfs, a kubelet directory,
// a hostPath directory and a written configMap volume.
func newTestFS(t testing.TB) *FakeHostFS {
	t.Helper()
	f := NewFakeHostFS()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.AddFile(testRootfs+"/etc/passwd", []byte(testPasswd), 0o644))
	must(f.AddFile(testRootfs+"/etc/group", []byte(testGroup), 0o644))
	must(f.AddDir(testRootfs+"/bin", 0o755))
	must(f.AddDir(testKubeletDir, 0o750))
	must(f.AddDir("/srv/data/logs", 0o755))
	must(f.AddSpecial("/run/containerd.sock", fs.ModeSocket|0o660))
	must(f.AddSpecial("/dev/kvm", fs.ModeDevice|fs.ModeCharDevice|0o660))
	must(f.AddSpecial("/dev/sda", fs.ModeDevice|0o660))
	for _, name := range []string{"etc-hosts", "etc-hostname", "etc-resolv.conf"} {
		must(f.AddFile(testKubeletDir+"/pods/0f1c6e3a-6f4f-4bd5-9d2e-3a1f0c9b7d11/"+name, nil, 0o644))
	}
	must(f.AddDir(testKubeletDir+"/pods/0f1c6e3a-6f4f-4bd5-9d2e-3a1f0c9b7d11/volumes/kubernetes.io~configmap/config", 0o755))
	return f
}

// testOptions returns the runtime's options for a container.
func testOptions(f *FakeHostFS, id string) Options {
	return Options{
		ContainerID: id,
		Image: ImageConfig{
			Entrypoint: []string{"/bin/sh", "-c"},
			Cmd:        []string{"echo hello"},
			Env:        []string{"PATH=/bin:/usr/bin", "IMAGE_VAR=from-image"},
			WorkingDir: "/home",
		},
		RootfsPath: testRootfs,
		Sandbox: Sandbox{
			ID:                   "sandbox-1",
			NetworkNamespacePath: "/run/netns/cni-1",
			IPCNamespacePath:     "/proc/4242/ns/ipc",
			UTSNamespacePath:     "/proc/4242/ns/uts",
			PIDNamespacePath:     "/proc/4242/ns/pid",
			ShmPath:              "/run/nodekit/sandboxes/sandbox-1/shm",
		},
		Node: NodeInfo{
			Hostname: "node-1",
			Allocatable: v1.ResourceList{
				v1.ResourceCPU:    resource.MustParse("2"),
				v1.ResourceMemory: resource.MustParse("4Gi"),
			},
			HostIPs: []string{"192.0.2.10"},
		},
		PodIPs:          []string{"10.244.0.5"},
		AllCapabilities: KnownCapabilities(),
		ClusterDomain:   "cluster.local",
		Layout:          &Layout{Root: testKubeletDir},
		HostFS:          f,
		Objects: MapObjectSource{
			ConfigMaps: map[string]*v1.ConfigMap{
				"default/app-config": {Data: map[string]string{"LOG_LEVEL": "debug", "MODE": "fast"}},
			},
			Secrets: map[string]*v1.Secret{
				"default/db": {Data: map[string][]byte{"password": []byte("s3cret")}},
			},
		},
	}
}

func testPod(name string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   "default",
			UID:         "0f1c6e3a-6f4f-4bd5-9d2e-3a1f0c9b7d11",
			Labels:      map[string]string{"app": "web"},
			Annotations: map[string]string{"team": "edge"},
		},
		Spec: v1.PodSpec{
			NodeName:           "node-1",
			ServiceAccountName: "default",
			Containers: []v1.Container{{
				Name:                     "app",
				Image:                    "busybox:1.36",
				Command:                  []string{"sleep"},
				Args:                     []string{"3600"},
				TerminationMessagePath:   "/dev/termination-log",
				TerminationMessagePolicy: v1.TerminationMessageReadFile,
			}},
		},
	}
}

// goldenPods are the representative pods of the golden tests; each entry
// generates the spec of one container.
func goldenPods() []struct {
	name      string
	pod       *v1.Pod
	container string
	opts      func(*Options)
} {
	plain := testPod("plain")

	res := testPod("resources")
	res.Spec.SecurityContext = &v1.PodSecurityContext{
		RunAsNonRoot:       ptr.To(true),
		FSGroup:            ptr.To[int64](2000),
		SupplementalGroups: []int64{3000},
		SeccompProfile:     &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault},
		Sysctls:            []v1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}},
	}
	res.Spec.Containers[0].Resources = v1.ResourceRequirements{
		Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("250m"), v1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   v1.ResourceList{v1.ResourceCPU: resource.MustParse("500m"), v1.ResourceMemory: resource.MustParse("128Mi")},
	}
	res.Spec.Containers[0].SecurityContext = &v1.SecurityContext{
		RunAsUser:                ptr.To[int64](1000),
		RunAsGroup:               ptr.To[int64](1000),
		ReadOnlyRootFilesystem:   ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities: &v1.Capabilities{
			Drop: []v1.Capability{"ALL"},
			Add:  []v1.Capability{"NET_BIND_SERVICE"},
		},
	}
	res.Spec.Containers[0].EnvFrom = []v1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &v1.ConfigMapEnvSource{LocalObjectReference: v1.LocalObjectReference{Name: "app-config"}}}}
	res.Spec.Containers[0].Env = []v1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "POD_IP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: "NODE_IP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
		{Name: "APP_LABEL", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
		{Name: "CPU_LIMIT_M", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "limits.cpu", Divisor: resource.MustParse("1m")}}},
		{Name: "MEM_REQUEST", ValueFrom: &v1.EnvVarSource{ResourceFieldRef: &v1.ResourceFieldSelector{Resource: "requests.memory"}}},
		{Name: "DB_PASSWORD", ValueFrom: &v1.EnvVarSource{SecretKeyRef: &v1.SecretKeySelector{LocalObjectReference: v1.LocalObjectReference{Name: "db"}, Key: "password"}}},
		{Name: "GREETING", Value: "hello $(POD_NAME) at $(POD_IP), $$(NOT_EXPANDED) $(UNDEFINED)"},
	}
	res.Spec.Containers[0].Command = []string{"/bin/server"}
	res.Spec.Containers[0].Args = []string{"--name=$(POD_NAME)", "--level=$(CFG_LOG_LEVEL)"}

	vols := testPod("volumes")
	vols.Spec.Volumes = []v1.Volume{
		{Name: "cache", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}},
		{Name: "scratch", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{Medium: v1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("16Mi"))}}},
		{Name: "logs", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: "/srv/data/logs", Type: ptr.To(v1.HostPathDirectory)}}},
		{Name: "state", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: "/srv/state", Type: ptr.To(v1.HostPathDirectoryOrCreate)}}},
		{Name: "sock", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: "/run/containerd.sock", Type: ptr.To(v1.HostPathSocket)}}},
		{Name: "config", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "app-config"}}}},
	}
	vols.Spec.Containers[0].Env = []v1.EnvVar{{Name: "POD_NAME", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}
	vols.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{
		{Name: "cache", MountPath: "/cache"},
		{Name: "cache", MountPath: "/var/lib/app/tmp", SubPath: "tmp/app"},
		{Name: "scratch", MountPath: "/scratch"},
		{Name: "logs", MountPath: "/var/log/app", SubPathExpr: "$(POD_NAME)"},
		{Name: "state", MountPath: "/state", MountPropagation: ptr.To(v1.MountPropagationHostToContainer)},
		{Name: "sock", MountPath: "/run/containerd.sock", ReadOnly: true},
		{Name: "config", MountPath: "/etc/app"},
	}

	hostNet := testPod("hostnet")
	hostNet.Spec.HostNetwork = true
	hostNet.Spec.HostPID = true
	hostNet.Spec.HostIPC = true
	hostNet.Spec.DNSPolicy = v1.DNSClusterFirstWithHostNet

	priv := testPod("privileged")
	priv.Spec.Containers[0].SecurityContext = &v1.SecurityContext{Privileged: ptr.To(true)}

	shared := testPod("shared-pid")
	shared.Spec.ShareProcessNamespace = ptr.To(true)
	shared.Spec.InitContainers = []v1.Container{{Name: "init", Image: "busybox:1.36", Command: []string{"true"}}}
	shared.Spec.Containers = append(shared.Spec.Containers, v1.Container{
		Name:  "sidecar",
		Image: "busybox:1.36",
		Args:  []string{"tail -f /dev/null"},
	})

	return []struct {
		name      string
		pod       *v1.Pod
		container string
		opts      func(*Options)
	}{
		{name: "plain", pod: plain, container: "app"},
		{name: "resources-security", pod: res, container: "app"},
		{name: "volumes-subpath", pod: vols, container: "app"},
		{name: "hostnetwork", pod: hostNet, container: "app"},
		{name: "privileged", pod: priv, container: "app", opts: func(o *Options) {
			mode := fs.FileMode(0o660)
			uid, gid := uint32(0), uint32(0)
			o.HostDevices = []specs.LinuxDevice{{Path: "/dev/kvm", Type: "c", Major: 10, Minor: 232, FileMode: &mode, UID: &uid, GID: &gid}}
		}},
		{name: "shareprocessnamespace-sidecar", pod: shared, container: "sidecar"},
		{name: "shareprocessnamespace-init", pod: shared, container: "init"},
	}
}

func resourceQ(s string) resource.Quantity { return resource.MustParse(s) }
