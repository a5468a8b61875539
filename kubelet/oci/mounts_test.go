package oci

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func mountAt(s *specs.Spec, dst string) *specs.Mount {
	for i := range s.Mounts {
		if s.Mounts[i].Destination == dst {
			return &s.Mounts[i]
		}
	}
	return nil
}

func TestMounts(t *testing.T) {
	emptyDir := v1.Volume{Name: "data", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}}
	tests := []struct {
		name    string
		mutate  func(*v1.Pod, *Options)
		check   func(*testing.T, *specs.Spec)
		wantErr error
		errHas  string
	}{
		{
			name: "container's own /etc/hosts wins",
			mutate: func(p *v1.Pod, _ *Options) {
				p.Spec.Volumes = []v1.Volume{emptyDir}
				p.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "data", MountPath: "/etc/hosts", SubPath: "hosts"}}
			},
			check: func(t *testing.T, s *specs.Spec) {
				if m := mountAt(s, "/etc/hosts"); m == nil || !strings.HasSuffix(m.Source, "/data/hosts") {
					t.Errorf("/etc/hosts = %+v, want the volume's", m)
				}
			},
		},
		{
			name:   "no /etc/hosts without a pod IP",
			mutate: func(_ *v1.Pod, o *Options) { o.PodIPs = []string{} },
			check: func(t *testing.T, s *specs.Spec) {
				if m := mountAt(s, "/etc/hosts"); m != nil {
					t.Errorf("/etc/hosts = %+v, want none", m)
				}
			},
		},
		{
			name:   "/etc/hosts while the pod network is pending",
			mutate: func(_ *v1.Pod, o *Options) { o.PodIPs, o.PodNetworkPending = []string{}, true },
			check: func(t *testing.T, s *specs.Spec) {
				if m := mountAt(s, "/etc/hosts"); m == nil {
					t.Error("no /etc/hosts mount while the pod network is pending")
				}
			},
		},
		{
			name: "status.podIP refused while the pod network is pending",
			mutate: func(p *v1.Pod, o *Options) {
				o.PodIPs, o.PodNetworkPending = []string{}, true
				p.Spec.Containers[0].Env = []v1.EnvVar{{Name: "IP", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "status.podIP"}}}}
			},
			wantErr: ErrMissingOption, errHas: "env[0] (IP): status.podIP",
		},
		{
			name: "a /dev volume drops the standard /dev mounts",
			mutate: func(p *v1.Pod, o *Options) {
				p.Spec.Volumes = []v1.Volume{emptyDir}
				p.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "data", MountPath: "/dev"}}
				p.Spec.Containers[0].TerminationMessagePath = ""
				o.Sandbox.ShmPath = ""
			},
			check: func(t *testing.T, s *specs.Spec) {
				for _, m := range s.Mounts {
					if strings.HasPrefix(m.Destination, "/dev/") || (m.Destination == "/dev" && m.Type != "bind") {
						t.Errorf("standard mount %s kept", m.Destination)
					}
				}
			},
		},
		{
			name:   "private /dev/shm without a sandbox shm",
			mutate: func(_ *v1.Pod, o *Options) { o.Sandbox.ShmPath = "" },
			check: func(t *testing.T, s *specs.Spec) {
				if m := mountAt(s, "/dev/shm"); m == nil || m.Type != "tmpfs" {
					t.Errorf("/dev/shm = %+v, want the standard tmpfs", m)
				}
			},
		},
		{
			name:   "no pod files without a layout",
			mutate: func(_ *v1.Pod, o *Options) { o.Layout = nil },
			check: func(t *testing.T, s *specs.Spec) {
				for _, d := range []string{"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/dev/termination-log"} {
					if m := mountAt(s, d); m != nil {
						t.Errorf("%s mounted without a layout: %+v", d, m)
					}
				}
			},
		},
		{
			name: "mounts ordered by depth",
			mutate: func(p *v1.Pod, _ *Options) {
				p.Spec.Volumes = []v1.Volume{emptyDir}
				p.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{
					{Name: "data", MountPath: "/a/b/c"}, {Name: "data", MountPath: "/a"}, {Name: "data", MountPath: "/a/b"},
				}
			},
			check: func(t *testing.T, s *specs.Spec) {
				var order []string
				for _, m := range s.Mounts {
					if strings.HasPrefix(m.Destination, "/a") {
						order = append(order, m.Destination)
					}
				}
				if strings.Join(order, " ") != "/a /a/b /a/b/c" {
					t.Errorf("order %v", order)
				}
			},
		},
		{
			name: "bidirectional propagation needs privileged",
			mutate: func(p *v1.Pod, _ *Options) {
				p.Spec.Volumes = []v1.Volume{emptyDir}
				p.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "data", MountPath: "/d", MountPropagation: ptr.To(v1.MountPropagationBidirectional)}}
			},
			wantErr: ErrInvalidSpec, errHas: "volumeMounts[0] (data).mountPropagation",
		},
		{
			name: "bidirectional propagation",
			mutate: func(p *v1.Pod, _ *Options) {
				p.Spec.Volumes = []v1.Volume{emptyDir}
				p.Spec.Containers[0].SecurityContext = &v1.SecurityContext{Privileged: ptr.To(true)}
				p.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "data", MountPath: "/d", MountPropagation: ptr.To(v1.MountPropagationBidirectional)}}
			},
			check: func(t *testing.T, s *specs.Spec) {
				if m := mountAt(s, "/d"); m == nil || m.Options[1] != "rshared" || s.Linux.RootfsPropagation != "shared" {
					t.Errorf("mount %+v, rootfsPropagation %q", m, s.Linux.RootfsPropagation)
				}
			},
		},
		{
			name: "recursive read-only",
			mutate: func(p *v1.Pod, _ *Options) {
				p.Spec.Volumes = []v1.Volume{emptyDir}
				p.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "data", MountPath: "/d", ReadOnly: true, RecursiveReadOnly: ptr.To(v1.RecursiveReadOnlyEnabled)}}
			},
			check: func(t *testing.T, s *specs.Spec) {
				if m := mountAt(s, "/d"); m == nil || strings.Join(m.Options, ",") != "rbind,rprivate,ro,rro" {
					t.Errorf("mount %+v", m)
				}
			},
		},
		{
			name: "missing volume",
			mutate: func(p *v1.Pod, _ *Options) {
				p.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "ghost", MountPath: "/g"}}
			},
			wantErr: ErrInvalidSpec, errHas: `cannot find volume "ghost" to mount into container "app"`,
		},
		{
			name: "relative mount path",
			mutate: func(p *v1.Pod, _ *Options) {
				p.Spec.Volumes = []v1.Volume{emptyDir}
				p.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "data", MountPath: "rel"}}
			},
			wantErr: ErrInvalidSpec, errHas: "mountPath",
		},
		{
			name: "subPath escape through a link",
			mutate: func(p *v1.Pod, o *Options) {
				p.Spec.Volumes = []v1.Volume{{Name: "h", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: "/srv/data"}}}}
				p.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "h", MountPath: "/x", SubPath: "evil"}}
				if err := o.HostFS.(*FakeHostFS).AddSymlink("/srv/data/evil", "/etc"); err != nil {
					panic(err)
				}
			},
			wantErr: ErrSubPathEscape, errHas: `volumeMounts[0] (h): subPath "evil": resolves to "/etc", outside the volume`,
		},
		{
			name: "subPathExpr with a missing variable",
			mutate: func(p *v1.Pod, _ *Options) {
				p.Spec.Volumes = []v1.Volume{emptyDir}
				p.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "data", MountPath: "/x", SubPathExpr: "$(NOPE)/$(ALSO)"}}
			},
			wantErr: ErrInvalidSpec, errHas: "missing value for ALSO, NOPE",
		},
		{
			name: "configMap volume not written",
			mutate: func(p *v1.Pod, _ *Options) {
				p.Spec.Volumes = []v1.Volume{{Name: "cm", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectReference: v1.LocalObjectReference{Name: "x"}}}}}
				p.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "cm", MountPath: "/cm"}}
			},
			wantErr: fs.ErrNotExist, errHas: "volume cm (configmap): its files have not been written",
		},
		{
			name: "other volume types need a path",
			mutate: func(p *v1.Pod, _ *Options) {
				p.Spec.Volumes = []v1.Volume{{Name: "pvc", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}}}
				p.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "pvc", MountPath: "/pvc"}}
			},
			wantErr: ErrInvalidSpec, errHas: "Options.VolumePaths",
		},
		{
			name: "other volume types with a path",
			mutate: func(p *v1.Pod, o *Options) {
				p.Spec.Volumes = []v1.Volume{{Name: "pvc", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}}}}
				p.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "pvc", MountPath: "/pvc"}}
				o.VolumePaths = map[string]string{"pvc": "/mnt/pv-1"}
			},
			check: func(t *testing.T, s *specs.Spec) {
				if m := mountAt(s, "/pvc"); m == nil || m.Source != "/mnt/pv-1" {
					t.Errorf("mount %+v", m)
				}
			},
		},
		{
			name: "hostPath type mismatch",
			mutate: func(p *v1.Pod, _ *Options) {
				p.Spec.Volumes = []v1.Volume{{Name: "h", VolumeSource: v1.VolumeSource{HostPath: &v1.HostPathVolumeSource{Path: "/srv/data", Type: ptr.To(v1.HostPathFile)}}}}
				p.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "h", MountPath: "/h"}}
			},
			wantErr: ErrHostPathType, errHas: "volumeMounts[0] (h): hostPath type check failed: /srv/data is not a file",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod("p")
			var s *specs.Spec
			var err error
			s, err = generate(t, pod, func(o *Options) {
				if tc.mutate != nil {
					tc.mutate(pod, o)
				}
			})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("err = %v, want %v containing %q", err, tc.wantErr, tc.errHas)
				}
				if s != nil {
					t.Fatal("a spec was returned with an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}

func TestTerminationMessageFile(t *testing.T) {
	f := newTestFS(t)
	pod := testPod("p")
	opts := testOptions(f, "abc123")
	if _, err := GenerateSpec(t.Context(), pod, &pod.Spec.Containers[0], opts); err != nil {
		t.Fatal(err)
	}
	p := opts.Layout.TerminationMessagePath(pod.UID, "app", "abc123")
	fi, err := f.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o666 {
		t.Errorf("termination file mode %v, want 0666", fi.Mode())
	}
	// A second generation (a restart of the runtime) leaves it in place.
	if _, err := GenerateSpec(t.Context(), pod, &pod.Spec.Containers[0], opts); err != nil {
		t.Fatal(err)
	}
}

func TestEmptyDirTmpfs(t *testing.T) {
	layout := &Layout{Root: "/var/lib/kubelet"}
	alloc := v1.ResourceList{v1.ResourceMemory: resourceQ("4Gi")}
	pod := testPod("p")
	vol := &v1.Volume{Name: "m", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{Medium: v1.StorageMediumMemory}}}
	size := func() string {
		m, ok := EmptyDirTmpfs(pod, vol, layout, alloc)
		if !ok {
			t.Fatal("not a memory volume")
		}
		return m.Options[len(m.Options)-1]
	}
	if got := size(); got != "size=4294967296" {
		t.Errorf("no limits: %s, want the allocatable memory", got)
	}
	pod.Spec.Containers[0].Resources.Limits = v1.ResourceList{v1.ResourceMemory: resourceQ("1Gi")}
	if got := size(); got != "size=1073741824" {
		t.Errorf("pod limit: %s", got)
	}
	vol.EmptyDir.SizeLimit = ptr.To(resourceQ("16Mi"))
	if got := size(); got != "size=16777216" {
		t.Errorf("sizeLimit: %s", got)
	}
	m, _ := EmptyDirTmpfs(pod, vol, layout, alloc)
	if m.Destination != "/var/lib/kubelet/pods/0f1c6e3a-6f4f-4bd5-9d2e-3a1f0c9b7d11/volumes/kubernetes.io~empty-dir/m" || m.Type != "tmpfs" {
		t.Errorf("mount %+v", m)
	}
	if _, ok := EmptyDirTmpfs(pod, &v1.Volume{Name: "d", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}}, layout, alloc); ok {
		t.Error("a disk emptyDir got a tmpfs")
	}
}

func TestNeedsPodIPs(t *testing.T) {
	ipRef := &v1.ObjectFieldSelector{FieldPath: "status.podIPs"}
	nameRef := &v1.ObjectFieldSelector{FieldPath: "metadata.name"}
	for _, tc := range []struct {
		name string
		pod  v1.PodSpec
		want bool
	}{
		{"nothing", v1.PodSpec{Containers: []v1.Container{{Name: "c"}}}, false},
		{"env", v1.PodSpec{Containers: []v1.Container{{Name: "c", Env: []v1.EnvVar{{Name: "IP", ValueFrom: &v1.EnvVarSource{FieldRef: ipRef}}}}}}, true},
		{"env of another field", v1.PodSpec{Containers: []v1.Container{{Name: "c", Env: []v1.EnvVar{{Name: "N", ValueFrom: &v1.EnvVarSource{FieldRef: nameRef}}}}}}, false},
		{"downwardAPI volume", v1.PodSpec{Containers: []v1.Container{{Name: "c"}}, Volumes: []v1.Volume{{Name: "d", VolumeSource: v1.VolumeSource{
			DownwardAPI: &v1.DownwardAPIVolumeSource{Items: []v1.DownwardAPIVolumeFile{{Path: "ip", FieldRef: ipRef}}}}}}}, true},
		{"projected downwardAPI", v1.PodSpec{Containers: []v1.Container{{Name: "c"}}, Volumes: []v1.Volume{{Name: "d", VolumeSource: v1.VolumeSource{
			Projected: &v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{{DownwardAPI: &v1.DownwardAPIProjection{Items: []v1.DownwardAPIVolumeFile{{Path: "ip", FieldRef: ipRef}}}}}}}}}}, true},
		{"projected of another field", v1.PodSpec{Containers: []v1.Container{{Name: "c"}}, Volumes: []v1.Volume{{Name: "d", VolumeSource: v1.VolumeSource{
			Projected: &v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{{DownwardAPI: &v1.DownwardAPIProjection{Items: []v1.DownwardAPIVolumeFile{{Path: "n", FieldRef: nameRef}}}}}}}}}}, false},
	} {
		pod := &v1.Pod{Spec: tc.pod}
		if got := NeedsPodIPs(pod, &pod.Spec.Containers[0]); got != tc.want {
			t.Errorf("%s: NeedsPodIPs = %v, want %v", tc.name, got, tc.want)
		}
	}
}
