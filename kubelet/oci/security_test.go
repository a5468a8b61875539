package oci

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

func TestContainerCapabilities(t *testing.T) {
	def := DefaultCapabilities()
	tests := []struct {
		name    string
		caps    *v1.Capabilities
		want    []string
		wantErr bool
	}{
		{name: "none", want: def},
		{name: "add one", caps: &v1.Capabilities{Add: []v1.Capability{"NET_ADMIN"}}, want: append(append([]string{}, def...), "CAP_NET_ADMIN")},
		{name: "add existing, any case, with prefix", caps: &v1.Capabilities{Add: []v1.Capability{"cap_chown", "Kill"}}, want: def},
		{name: "drop one", caps: &v1.Capabilities{Drop: []v1.Capability{"NET_RAW"}},
			want: []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_SETGID", "CAP_SETUID",
				"CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}},
		{name: "drop all add one", caps: &v1.Capabilities{Drop: []v1.Capability{"ALL"}, Add: []v1.Capability{"NET_BIND_SERVICE"}}, want: []string{"CAP_NET_BIND_SERVICE"}},
		{name: "drop all", caps: &v1.Capabilities{Drop: []v1.Capability{"all"}}, want: []string{}},
		{name: "add all drop one", caps: &v1.Capabilities{Add: []v1.Capability{"ALL"}, Drop: []v1.Capability{"SYS_ADMIN"}},
			want: func() []string {
				var out []string
				for _, c := range KnownCapabilities() {
					if c != "CAP_SYS_ADMIN" {
						out = append(out, c)
					}
				}
				return out
			}()},
		{name: "drop wins over add", caps: &v1.Capabilities{Add: []v1.Capability{"NET_ADMIN"}, Drop: []v1.Capability{"NET_ADMIN"}}, want: def},
		{name: "unknown", caps: &v1.Capabilities{Add: []v1.Capability{"FLY"}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ContainerCapabilities(tc.caps, KnownCapabilities())
			if tc.wantErr {
				if !errors.Is(err, ErrInvalidSpec) {
					t.Fatalf("err = %v, want ErrInvalidSpec", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("caps (-want +got):\n%s", d)
			}
		})
	}
}

func generate(t *testing.T, pod *v1.Pod, mutateOpts func(*Options)) (*specs.Spec, error) {
	t.Helper()
	opts := testOptions(newTestFS(t), "c1")
	if mutateOpts != nil {
		mutateOpts(&opts)
	}
	s, err := GenerateSpec(context.Background(), pod, &pod.Spec.Containers[0], opts)
	if err == nil {
		data, merr := json.Marshal(s)
		if merr != nil {
			t.Fatal(merr)
		}
		validateSpec(t, specSchema(t), data)
	}
	return s, err
}

func TestSeccomp(t *testing.T) {
	dir := t.TempDir()
	profile := `{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read","write","exit_group"],"action":"SCMP_ACT_ALLOW"}]}`
	if err := os.MkdirAll(filepath.Join(dir, "profiles"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "profiles", "tight.json"), []byte(profile), 0o644); err != nil {
		t.Fatal(err)
	}
	localhost := func(p string) *v1.SeccompProfile {
		return &v1.SeccompProfile{Type: v1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr.To(p)}
	}
	tests := []struct {
		name           string
		podProfile     *v1.SeccompProfile
		profile        *v1.SeccompProfile
		privileged     bool
		seccompDefault bool
		noLoader       bool
		wantAction     specs.LinuxSeccompAction // "" means no filter
		wantErr        error
	}{
		{name: "unset is unconfined"},
		{name: "unset with --seccomp-default", seccompDefault: true, wantAction: specs.ActErrno},
		{name: "RuntimeDefault", profile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault}, wantAction: specs.ActErrno},
		{name: "pod RuntimeDefault", podProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault}, wantAction: specs.ActErrno},
		{name: "container Unconfined over pod", podProfile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault},
			profile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeUnconfined}},
		{name: "privileged is never filtered", profile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault}, privileged: true},
		{name: "Localhost", profile: localhost("profiles/tight.json"), wantAction: specs.ActErrno},
		{name: "Localhost cannot leave its directory", profile: localhost("../../etc/passwd"), wantErr: os.ErrNotExist},
		{name: "Localhost missing", profile: localhost("profiles/none.json"), wantErr: os.ErrNotExist},
		{name: "Localhost without loader", profile: localhost("profiles/tight.json"), noLoader: true, wantErr: ErrMissingOption},
		{name: "Localhost without path", profile: &v1.SeccompProfile{Type: v1.SeccompProfileTypeLocalhost}, wantErr: ErrInvalidSpec},
		{name: "unknown type", profile: &v1.SeccompProfile{Type: "Strict"}, wantErr: ErrInvalidSpec},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod("p")
			pod.Spec.SecurityContext = &v1.PodSecurityContext{SeccompProfile: tc.podProfile}
			pod.Spec.Containers[0].SecurityContext = &v1.SecurityContext{SeccompProfile: tc.profile, Privileged: ptr.To(tc.privileged)}
			s, err := generate(t, pod, func(o *Options) {
				o.SeccompDefault = tc.seccompDefault
				if !tc.noLoader {
					o.SeccompProfiles = SeccompProfileDir(dir)
				}
			})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tc.wantAction == "" && s.Linux.Seccomp != nil:
				t.Fatalf("seccomp = %+v, want none", s.Linux.Seccomp.DefaultAction)
			case tc.wantAction != "" && (s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != tc.wantAction):
				t.Fatalf("seccomp = %+v, want default action %s", s.Linux.Seccomp, tc.wantAction)
			}
		})
	}
}

func TestSecurityContextFlags(t *testing.T) {
	pod := testPod("p")
	pod.Spec.Containers[0].SecurityContext = &v1.SecurityContext{
		ReadOnlyRootFilesystem:   ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		ProcMount:                ptr.To(v1.UnmaskedProcMount),
	}
	s, err := generate(t, pod, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Root.Readonly || !s.Process.NoNewPrivileges || s.Linux.MaskedPaths != nil || s.Linux.ReadonlyPaths != nil {
		t.Errorf("readonly=%v nnp=%v masked=%v ro=%v", s.Root.Readonly, s.Process.NoNewPrivileges, s.Linux.MaskedPaths, s.Linux.ReadonlyPaths)
	}
	for _, m := range s.Mounts {
		if (m.Destination == "/etc/hostname" || m.Destination == "/etc/resolv.conf") && m.Options[2] != "ro" {
			t.Errorf("%s is writable with a read-only root: %v", m.Destination, m.Options)
		}
	}

	pod.Spec.Containers[0].SecurityContext = &v1.SecurityContext{Privileged: ptr.To(true), AllowPrivilegeEscalation: ptr.To(false)}
	if _, err := generate(t, pod, nil); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("privileged without privilege escalation: err = %v, want ErrInvalidSpec", err)
	}
	pod.Spec.Containers[0].SecurityContext = nil
	pod.Spec.HostNetwork = true
	pod.Spec.SecurityContext = &v1.PodSecurityContext{Sysctls: []v1.Sysctl{{Name: "net.core.somaxconn", Value: "1024"}}}
	if _, err := generate(t, pod, nil); !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("net sysctl with hostNetwork: err = %v, want ErrInvalidSpec", err)
	}
	pod.Spec.HostNetwork = false
	pod.Spec.SecurityContext.Sysctls = []v1.Sysctl{{Name: "net/ipv4/conf/eno2.100/rp_filter", Value: "1"}}
	s, err = generate(t, pod, nil)
	if err != nil || s.Linux.Sysctl["net.ipv4.conf.eno2/100.rp_filter"] != "1" {
		t.Errorf("sysctl with slashes and a dotted component: %v, %v", s.Linux.Sysctl, err)
	}
	pod.Spec.SecurityContext.Sysctls = []v1.Sysctl{{Name: "kernel/shm_rmid_forced", Value: "1"}}
	s, err = generate(t, pod, nil)
	if err != nil || s.Linux.Sysctl["kernel.shm_rmid_forced"] != "1" {
		t.Errorf("sysctl with slashes: %v, %v", s.Linux.Sysctl, err)
	}
}

func TestRefusedFeatures(t *testing.T) {
	for name, mutate := range map[string]func(*v1.Pod){
		"spec.hostUsers": func(p *v1.Pod) { p.Spec.HostUsers = ptr.To(false) },
		"securityContext.appArmorProfile": func(p *v1.Pod) {
			p.Spec.SecurityContext = &v1.PodSecurityContext{AppArmorProfile: &v1.AppArmorProfile{Type: v1.AppArmorProfileTypeLocalhost, LocalhostProfile: ptr.To("x")}}
		},
		"volumeDevices": func(p *v1.Pod) {
			p.Spec.Containers[0].VolumeDevices = []v1.VolumeDevice{{Name: "blk", DevicePath: "/dev/xvda"}}
		},
	} {
		pod := testPod("p")
		mutate(pod)
		if _, err := generate(t, pod, nil); !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err = %v, want ErrInvalidSpec naming the field", name, err)
		}
	}
	pod := testPod("p")
	pod.Spec.SecurityContext = &v1.PodSecurityContext{AppArmorProfile: &v1.AppArmorProfile{Type: v1.AppArmorProfileTypeRuntimeDefault}}
	if _, err := generate(t, pod, nil); err != nil {
		t.Errorf("AppArmor RuntimeDefault: %v", err)
	}
}

func TestNamespaces(t *testing.T) {
	type ns = specs.LinuxNamespace
	sbNet, sbIPC, sbUTS, sbPID := "/run/netns/cni-1", "/proc/4242/ns/ipc", "/proc/4242/ns/uts", "/proc/4242/ns/pid"
	tests := []struct {
		name                           string
		hostNet, hostPID, hostIPC, shr bool
		want                           []ns
	}{
		{name: "pod network", want: []ns{{Type: "pid"}, {Type: "ipc", Path: sbIPC}, {Type: "uts", Path: sbUTS}, {Type: "mount"}, {Type: "network", Path: sbNet}}},
		{name: "shared pid", shr: true, want: []ns{{Type: "pid", Path: sbPID}, {Type: "ipc", Path: sbIPC}, {Type: "uts", Path: sbUTS}, {Type: "mount"}, {Type: "network", Path: sbNet}}},
		{name: "host network", hostNet: true, want: []ns{{Type: "pid"}, {Type: "ipc", Path: sbIPC}, {Type: "mount"}}},
		{name: "host pid", hostPID: true, shr: true, want: []ns{{Type: "ipc", Path: sbIPC}, {Type: "uts", Path: sbUTS}, {Type: "mount"}, {Type: "network", Path: sbNet}}},
		{name: "host ipc", hostIPC: true, want: []ns{{Type: "pid"}, {Type: "uts", Path: sbUTS}, {Type: "mount"}, {Type: "network", Path: sbNet}}},
		{name: "all host", hostNet: true, hostPID: true, hostIPC: true, want: []ns{{Type: "mount"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod("p")
			pod.Spec.HostNetwork, pod.Spec.HostPID, pod.Spec.HostIPC = tc.hostNet, tc.hostPID, tc.hostIPC
			pod.Spec.ShareProcessNamespace = ptr.To(tc.shr)
			s, err := generate(t, pod, nil)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, s.Linux.Namespaces); d != "" {
				t.Errorf("namespaces (-want +got):\n%s", d)
			}
		})
	}
}

func TestResourcesAndCgroupsPath(t *testing.T) {
	q := resource.MustParse
	tests := []struct {
		name       string
		req, lim   v1.ResourceList
		mutate     func(*Options)
		wantCPU    *specs.LinuxCPU
		wantMem    *specs.LinuxMemory
		wantPids   *specs.LinuxPids
		wantPath   string
		wantOOMAdj int
	}{
		{name: "best effort", wantCPU: &specs.LinuxCPU{Shares: ptr.To[uint64](2), Period: ptr.To[uint64](100000)},
			wantPath: "/kubepods/besteffort/pod0f1c6e3a-6f4f-4bd5-9d2e-3a1f0c9b7d11/c1", wantOOMAdj: 1000},
		{name: "guaranteed", req: v1.ResourceList{"cpu": q("1"), "memory": q("1Gi")}, lim: v1.ResourceList{"cpu": q("1"), "memory": q("1Gi")},
			wantCPU:  &specs.LinuxCPU{Shares: ptr.To[uint64](1024), Quota: ptr.To[int64](100000), Period: ptr.To[uint64](100000)},
			wantMem:  &specs.LinuxMemory{Limit: ptr.To[int64](1 << 30), Swap: ptr.To[int64](1 << 30)},
			wantPath: "/kubepods/pod0f1c6e3a-6f4f-4bd5-9d2e-3a1f0c9b7d11/c1", wantOOMAdj: -997},
		{name: "limit only sets shares from the limit", lim: v1.ResourceList{"cpu": q("500m")},
			wantCPU:  &specs.LinuxCPU{Shares: ptr.To[uint64](512), Quota: ptr.To[int64](50000), Period: ptr.To[uint64](100000)},
			wantPath: "/kubepods/burstable/pod0f1c6e3a-6f4f-4bd5-9d2e-3a1f0c9b7d11/c1", wantOOMAdj: 999},
		{name: "tiny limit has the minimum quota", req: v1.ResourceList{"cpu": q("1m"), "memory": q("1Gi")}, lim: v1.ResourceList{"cpu": q("5m")},
			wantCPU:  &specs.LinuxCPU{Shares: ptr.To[uint64](2), Quota: ptr.To[int64](1000), Period: ptr.To[uint64](100000)},
			wantPath: "/kubepods/burstable/pod0f1c6e3a-6f4f-4bd5-9d2e-3a1f0c9b7d11/c1", wantOOMAdj: 750},
		{name: "systemd, no swap limit, pids", req: v1.ResourceList{"memory": q("64Mi")}, lim: v1.ResourceList{"memory": q("128Mi")},
			mutate: func(o *Options) {
				o.CgroupDriver = "systemd"
				o.NoSwapLimit = true
				o.PidsLimit = 128
			},
			wantCPU:  &specs.LinuxCPU{Shares: ptr.To[uint64](2), Period: ptr.To[uint64](100000)},
			wantMem:  &specs.LinuxMemory{Limit: ptr.To[int64](128 << 20)},
			wantPids: &specs.LinuxPids{Limit: ptr.To[int64](128)},
			wantPath: "kubepods-burstable-pod0f1c6e3a_6f4f_4bd5_9d2e_3a1f0c9b7d11.slice:cri-nodekit:c1", wantOOMAdj: 985},
		{name: "explicit parent and prefix", mutate: func(o *Options) {
			o.CgroupParent = "/custom.slice/pod.slice"
			o.SystemdScopePrefix = "mine"
		}, wantCPU: &specs.LinuxCPU{Shares: ptr.To[uint64](2), Period: ptr.To[uint64](100000)}, wantPath: "pod.slice:mine:c1", wantOOMAdj: 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod := testPod("p")
			pod.Spec.Containers[0].Resources = v1.ResourceRequirements{Requests: tc.req, Limits: tc.lim}
			s, err := generate(t, pod, tc.mutate)
			if err != nil {
				t.Fatal(err)
			}
			r := s.Linux.Resources
			if d := cmp.Diff(tc.wantCPU, r.CPU); d != "" {
				t.Errorf("cpu (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.wantMem, r.Memory); d != "" {
				t.Errorf("memory (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.wantPids, r.Pids); d != "" {
				t.Errorf("pids (-want +got):\n%s", d)
			}
			if s.Linux.CgroupsPath != tc.wantPath {
				t.Errorf("cgroupsPath = %q, want %q", s.Linux.CgroupsPath, tc.wantPath)
			}
			if *s.Process.OOMScoreAdj != tc.wantOOMAdj {
				t.Errorf("oomScoreAdj = %d, want %d", *s.Process.OOMScoreAdj, tc.wantOOMAdj)
			}
		})
	}
}
