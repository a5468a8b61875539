package oci

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// readVolume returns the user-visible files of dir (through its links) and
// their modes.
func readVolume(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(filepath.Join(dir, dataDirName)+"/", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(dir, dataDirName), p)
		// Read through the user-visible path.
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			return err
		}
		fi, err := os.Stat(filepath.Join(dir, rel))
		if err != nil {
			return err
		}
		out[rel] = fi.Mode().Perm().String() + " " + string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func TestWriteAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "vol")
	first := map[string]FileProjection{
		"a":       {Data: []byte("1"), Mode: 0o644},
		"sub/b":   {Data: []byte("2"), Mode: 0o600},
		"sub/c/d": {Data: []byte("3"), Mode: 0o400},
	}
	if err := WriteAtomic(dir, first); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "-rw-r--r-- 1", "sub/b": "-rw------- 2", "sub/c/d": "-r-------- 3"}
	if d := cmp.Diff(want, readVolume(t, dir)); d != "" {
		t.Fatalf("first write (-want +got):\n%s", d)
	}
	if target, err := os.Readlink(filepath.Join(dir, "a")); err != nil || target != "..data/a" {
		t.Fatalf("a -> %q, %v; want ..data/a", target, err)
	}
	oldData, _ := os.Readlink(filepath.Join(dir, dataDirName))

	// Same content: nothing changes, not even the data directory.
	if err := WriteAtomic(dir, first); err != nil {
		t.Fatal(err)
	}
	if cur, _ := os.Readlink(filepath.Join(dir, dataDirName)); cur != oldData {
		t.Fatalf("identical payload rewrote the data (%s -> %s)", oldData, cur)
	}

	second := map[string]FileProjection{"a": {Data: []byte("one"), Mode: 0o644}, "e": {Data: []byte("5"), Mode: 0o644}}
	if err := WriteAtomic(dir, second); err != nil {
		t.Fatal(err)
	}
	want = map[string]string{"a": "-rw-r--r-- one", "e": "-rw-r--r-- 5"}
	if d := cmp.Diff(want, readVolume(t, dir)); d != "" {
		t.Fatalf("second write (-want +got):\n%s", d)
	}
	cur, _ := os.Readlink(filepath.Join(dir, dataDirName))
	if got := entries(t, dir); !cmp.Equal(got, []string{cur, dataDirName, "a", "e"}) {
		t.Fatalf("entries %v: stale links or data directories left", got)
	}

	for _, bad := range []string{"", "/abs", "../x", "a/../../x", "..hidden", "a\x00b"} {
		if err := WriteAtomic(dir, map[string]FileProjection{bad: {}}); !errors.Is(err, ErrInvalidSpec) {
			t.Errorf("path %q: err = %v, want ErrInvalidSpec", bad, err)
		}
	}
	if d := cmp.Diff(want, readVolume(t, dir)); d != "" {
		t.Fatalf("a refused write changed the volume (-want +got):\n%s", d)
	}
}

func TestVolumePayloadAndWriteVolume(t *testing.T) {
	root := t.TempDir()
	pod := testPod("p")
	pod.Spec.Containers[0].Resources.Limits = v1.ResourceList{v1.ResourceMemory: resourceQ("256Mi")}
	objects := MapObjectSource{
		ConfigMaps: map[string]*v1.ConfigMap{"default/cm": {Data: map[string]string{"k1": "v1", "k2": "v2"}, BinaryData: map[string][]byte{"bin": {0, 1}}}},
		Secrets:    map[string]*v1.Secret{"default/s": {Data: map[string][]byte{"token": []byte("t0k")}}},
	}
	opts := Options{Layout: &Layout{Root: root}, Objects: objects, Node: NodeInfo{Allocatable: v1.ResourceList{v1.ResourceCPU: resourceQ("4")}}}
	cmVol := func(items []v1.KeyToPath, optional bool, name string) *v1.Volume {
		return &v1.Volume{Name: "cmv", VolumeSource: v1.VolumeSource{ConfigMap: &v1.ConfigMapVolumeSource{
			LocalObjectReference: v1.LocalObjectReference{Name: name}, Items: items, Optional: ptr.To(optional)}}}
	}
	tests := []struct {
		name    string
		vol     *v1.Volume
		want    map[string]FileProjection
		wantErr error
	}{
		{name: "configMap all keys", vol: cmVol(nil, false, "cm"), want: map[string]FileProjection{
			"k1": {[]byte("v1"), 0o644}, "k2": {[]byte("v2"), 0o644}, "bin": {[]byte{0, 1}, 0o644}}},
		{name: "configMap items", vol: cmVol([]v1.KeyToPath{{Key: "k2", Path: "dir/two", Mode: ptr.To[int32](0o600)}}, false, "cm"),
			want: map[string]FileProjection{"dir/two": {[]byte("v2"), 0o600}}},
		{name: "configMap missing key", vol: cmVol([]v1.KeyToPath{{Key: "nope", Path: "x"}}, false, "cm"), wantErr: ErrObjectNotFound},
		{name: "optional missing configMap", vol: cmVol(nil, true, "gone"), want: map[string]FileProjection{}},
		{name: "required missing configMap", vol: cmVol(nil, false, "gone"), wantErr: ErrObjectNotFound},
		{name: "secret with defaultMode", vol: &v1.Volume{Name: "sv", VolumeSource: v1.VolumeSource{Secret: &v1.SecretVolumeSource{SecretName: "s", DefaultMode: ptr.To[int32](0o400)}}},
			want: map[string]FileProjection{"token": {[]byte("t0k"), 0o400}}},
		{name: "downwardAPI", vol: &v1.Volume{Name: "dv", VolumeSource: v1.VolumeSource{DownwardAPI: &v1.DownwardAPIVolumeSource{Items: []v1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "name", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}},
			{Path: "mem", ResourceFieldRef: &v1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.memory", Divisor: resourceQ("1Mi")}},
			{Path: "cpu", ResourceFieldRef: &v1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.cpu"}},
		}}}},
			want: map[string]FileProjection{"labels": {[]byte(`app="web"`), 0o644}, "name": {[]byte("p"), 0o644},
				"mem": {[]byte("256"), 0o644}, "cpu": {[]byte("4"), 0o644}}},
		{name: "projected", vol: &v1.Volume{Name: "pv", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
			{ConfigMap: &v1.ConfigMapProjection{LocalObjectReference: v1.LocalObjectReference{Name: "cm"}, Items: []v1.KeyToPath{{Key: "k1", Path: "cm/k1"}}}},
			{Secret: &v1.SecretProjection{LocalObjectReference: v1.LocalObjectReference{Name: "s"}}},
			{DownwardAPI: &v1.DownwardAPIProjection{Items: []v1.DownwardAPIVolumeFile{{Path: "ns", FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
		}}}},
			want: map[string]FileProjection{"cm/k1": {[]byte("v1"), 0o644}, "token": {[]byte("t0k"), 0o644}, "ns": {[]byte("default"), 0o644}}},
		{name: "projected token unsupported", vol: &v1.Volume{Name: "pv", VolumeSource: v1.VolumeSource{Projected: &v1.ProjectedVolumeSource{Sources: []v1.VolumeProjection{
			{ServiceAccountToken: &v1.ServiceAccountTokenProjection{Path: "token"}}}}}}, wantErr: ErrInvalidSpec},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := VolumePayload(context.Background(), pod, tc.vol, opts)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("payload (-want +got):\n%s", d)
			}
		})
	}

	// WritePodVolumes then GenerateSpec binds the written directory.
	pod.Spec.Volumes = []v1.Volume{*cmVol(nil, false, "cm"), {Name: "scratch", VolumeSource: v1.VolumeSource{EmptyDir: &v1.EmptyDirVolumeSource{}}}}
	pod.Spec.Containers[0].VolumeMounts = []v1.VolumeMount{{Name: "cmv", MountPath: "/etc/cm"}, {Name: "cmv", MountPath: "/etc/k1", SubPath: "k1"}}
	if err := WritePodVolumes(context.Background(), pod, opts); err != nil {
		t.Fatal(err)
	}
	opts.ContainerID = "c1"
	s, err := GenerateSpec(context.Background(), pod, &pod.Spec.Containers[0], opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := opts.Layout.VolumeDir(pod.UID, PluginConfigMap, "cmv")
	if m := mountAt(s, "/etc/cm"); m == nil || m.Source != dir || m.Options[2] != "ro" {
		t.Errorf("/etc/cm mount %+v", m)
	}
	// A subPath into an atomic-writer volume resolves through the links to
	// the current data directory, as in the kubelet.
	data, _ := os.Readlink(filepath.Join(dir, dataDirName))
	if m := mountAt(s, "/etc/k1"); m == nil || m.Source != filepath.Join(dir, data, "k1") {
		t.Errorf("/etc/k1 mount %+v", m)
	}
}
