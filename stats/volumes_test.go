package stats

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/types"
)

func TestSetPodVolumesValidation(t *testing.T) {
	f := newLiveFixture(t)
	c := f.collector(Options{})
	good := []PodVolume{{Name: "cache", Path: "/var/lib/kubelet/pods/u/volumes/kubernetes.io~empty-dir/cache"}}
	if err := c.SetPodVolumes("u", good); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		uid     types.UID
		volumes []PodVolume
		want    string
	}{
		{"empty uid", "", good, "field podUID"},
		{"empty name", "u", []PodVolume{{Path: "/v"}}, "field Volumes[0].Name: empty"},
		{"duplicate name", "u", []PodVolume{{Name: "a", Path: "/a"}, {Name: "a", Path: "/b"}}, `field Volumes[1].Name: duplicate "a"`},
		{"relative path", "u", []PodVolume{{Name: "a", Path: "/a"}, {Name: "b", Path: "b"}}, `field Volumes[1].Path: "b" is not absolute`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.SetPodVolumes(tc.uid, tc.volumes)
			if !errors.Is(err, ErrInvalidTarget) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want ErrInvalidTarget mentioning %q", err, tc.want)
			}
			// Nothing was applied.
			if diff := cmp.Diff(good, c.PodVolumes("u")); diff != "" {
				t.Errorf("volumes changed by a rejected call (-want +got):\n%s", diff)
			}
		})
	}
	if err := c.SetPodVolumes("u", nil); err != nil {
		t.Fatal(err)
	}
	if got := c.PodVolumes("u"); len(got) != 0 {
		t.Errorf("volumes after clearing: %v", got)
	}
}

func TestNodeFilesystemOptionsValidation(t *testing.T) {
	f := newLiveFixture(t)
	for _, opts := range []Options{{RootfsDir: "var/lib/kubelet"}, {ImageFsDir: "containerd"}} {
		opts.Clock = f.clock
		if _, err := NewCollector(f.fs, opts); !errors.Is(err, ErrInvalidTarget) || !strings.Contains(err.Error(), "is not absolute") {
			t.Errorf("%+v: error %v", opts, err)
		}
	}
	// Without them, the Summary has no node Fs, Runtime or pod storage.
	c, _ := summaryCollector(t)
	s := c.Summary("n")
	if s.Node.Fs != nil || s.Node.Runtime != nil {
		t.Errorf("node Fs %v Runtime %v without RootfsDir/ImageFsDir", s.Node.Fs, s.Node.Runtime)
	}
	for _, p := range s.Pods {
		if p.EphemeralStorage != nil || p.VolumeStats != nil {
			t.Errorf("pod %s: ephemeral %v volumes %v without any path", p.PodRef.Name, p.EphemeralStorage, p.VolumeStats)
		}
	}
}

func TestMachineIdentity(t *testing.T) {
	f := newLiveFixture(t)
	c := f.collector(Options{})
	if m := c.Machine(); m.MachineID != "5f2a9c1e7b3d4e6f8a0b1c2d3e4f5a6b" || m.SystemUUID != "ec2f4b6e-1d3a-4c5e-9f70-81a2b3c4d5e6" || m.BootID == "" {
		t.Errorf("machine identity %+v", m)
	}
	// Missing files leave the fields empty without failing.
	c = f.collector(Options{MachineIDFile: "/nonexistent/machine-id", SystemUUIDFile: "/nonexistent/uuid"})
	if m := c.Machine(); m.MachineID != "" || m.SystemUUID != "" {
		t.Errorf("machine identity from missing files: %+v", m)
	}
}
