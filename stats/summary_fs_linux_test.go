//go:build linux

package stats

import (
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
	statsapi "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

func TestSummaryRootfsAndLogs(t *testing.T) {
	f := newLiveFixture(t)
	c := f.collector(Options{})
	rootfs, logs := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(rootfs, "etc", "config"), strings.Repeat("c", 20_000))
	writeFile(t, filepath.Join(logs, "0.log"), strings.Repeat("l", 70_000))
	tg := testTarget()
	tg.RootfsPath, tg.LogsPath = rootfs, logs
	if err := c.Add(tg); err != nil {
		t.Fatal(err)
	}
	f.refresh(c)
	ctr := c.Summary("n").Pods[0].Containers[0]
	if ctr.Rootfs == nil || ctr.Logs == nil {
		t.Fatalf("Rootfs %v Logs %v", ctr.Rootfs, ctr.Logs)
	}
	for name, got := range map[string]struct {
		dir    string
		used   uint64
		inodes uint64
	}{
		"rootfs": {rootfs, *ctr.Rootfs.UsedBytes, *ctr.Rootfs.InodesUsed},
		"logs":   {logs, *ctr.Logs.UsedBytes, *ctr.Logs.InodesUsed},
	} {
		wantBytes, wantInodes := duBytes(t, got.dir)
		if got.used != wantBytes || got.inodes != wantInodes {
			t.Errorf("%s: used %d bytes %d inodes, du says %d and %d", name, got.used, got.inodes, wantBytes, wantInodes)
		}
	}
	fsys, err := StatFilesystem(rootfs)
	if err != nil {
		t.Fatal(err)
	}
	if *ctr.Rootfs.CapacityBytes != fsys.CapacityBytes || *ctr.Rootfs.Inodes != fsys.Inodes {
		t.Errorf("rootfs capacity %d inodes %d, statfs %d %d", *ctr.Rootfs.CapacityBytes, *ctr.Rootfs.Inodes, fsys.CapacityBytes, fsys.Inodes)
	}
	// Removing the target forgets its cached walks.
	cache := c.opts.DirUsage.(*DirUsageCache)
	if len(cache.memo) != 2 {
		t.Errorf("cache holds %d walks, want 2", len(cache.memo))
	}
	c.Remove(tg.ID)
	if len(cache.memo) != 0 {
		t.Errorf("cache holds %d walks after Remove, want 0", len(cache.memo))
	}

	// Without paths, the figures are unknown: nil, not zero.
	c2 := f.collector(Options{})
	if err := c2.Add(testTarget()); err != nil {
		t.Fatal(err)
	}
	f.refresh(c2)
	if ctr := c2.Summary("n").Pods[0].Containers[0]; ctr.Rootfs != nil || ctr.Logs != nil {
		t.Error("Rootfs/Logs reported without paths")
	}
	bad := testTarget()
	bad.LogsPath = "relative/logs"
	if err := c2.Add(bad); err == nil || !strings.Contains(err.Error(), "field LogsPath") {
		t.Errorf("relative LogsPath: %v", err)
	}
}

func TestSummaryNodeFsVolumesAndEphemeralStorage(t *testing.T) {
	f := newLiveFixture(t)
	rootDir, imageDir := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(imageDir, "blobs", "sha256", "layer"), strings.Repeat("i", 50_000))
	c := f.collector(Options{RootfsDir: rootDir, ImageFsDir: imageDir})
	rootfs, logs, cache, data := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(rootfs, "tmp", "scratch"), strings.Repeat("r", 30_000))
	writeFile(t, filepath.Join(logs, "0.log"), strings.Repeat("l", 9_000))
	writeFile(t, filepath.Join(cache, "a", "b"), strings.Repeat("e", 40_000))
	writeFile(t, filepath.Join(data, "db"), strings.Repeat("p", 80_000))
	tg := testTarget()
	tg.RootfsPath, tg.LogsPath = rootfs, logs
	if err := c.Add(tg); err != nil {
		t.Fatal(err)
	}
	if err := c.SetPodVolumes(fixturePodUID, []PodVolume{
		{Name: "data", Path: data, PVC: types.NamespacedName{Namespace: "default", Name: "data-web-0"}},
		{Name: "cache", Path: cache},
	}); err != nil {
		t.Fatal(err)
	}
	f.refresh(c)
	s := c.Summary("n")

	rootSt, err := StatFilesystem(rootDir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Node.Fs == nil || *s.Node.Fs.CapacityBytes != rootSt.CapacityBytes || *s.Node.Fs.Inodes != rootSt.Inodes || s.Node.Fs.UsedBytes == nil {
		t.Fatalf("node Fs %+v, statfs %+v", s.Node.Fs, rootSt)
	}
	if s.Node.Runtime == nil || s.Node.Runtime.ImageFs == nil || s.Node.Runtime.ContainerFs == nil {
		t.Fatalf("node Runtime %+v", s.Node.Runtime)
	}
	imageBytes, imageInodes := duBytes(t, imageDir)
	if im := s.Node.Runtime.ImageFs; *im.UsedBytes != imageBytes || *im.InodesUsed != imageInodes || *im.CapacityBytes != rootSt.CapacityBytes {
		t.Errorf("ImageFs used %d bytes %d inodes capacity %d; du %d %d, statfs capacity %d",
			*im.UsedBytes, *im.InodesUsed, *im.CapacityBytes, imageBytes, imageInodes, rootSt.CapacityBytes)
	}

	var pod *statsapi.PodStats
	for i := range s.Pods {
		if s.Pods[i].PodRef.UID == fixturePodUID {
			pod = &s.Pods[i]
		}
	}
	if pod == nil || len(pod.VolumeStats) != 2 {
		t.Fatalf("pod %+v", pod)
	}
	vc, vd := pod.VolumeStats[0], pod.VolumeStats[1]
	cacheBytes, cacheInodes := duBytes(t, cache)
	dataBytes, _ := duBytes(t, data)
	if vc.Name != "cache" || vc.PVCRef != nil || *vc.UsedBytes != cacheBytes || *vc.InodesUsed != cacheInodes {
		t.Errorf("cache volume %s pvc %v used %d inodes %d; du %d %d", vc.Name, vc.PVCRef, *vc.UsedBytes, *vc.InodesUsed, cacheBytes, cacheInodes)
	}
	if vd.Name != "data" || vd.PVCRef == nil || vd.PVCRef.Name != "data-web-0" || *vd.UsedBytes != dataBytes {
		t.Errorf("data volume %s pvc %v used %d; du %d", vd.Name, vd.PVCRef, *vd.UsedBytes, dataBytes)
	}
	// Ephemeral storage: root filesystem + logs + ephemeral volumes, on the
	// node root filesystem's capacity; the PVC is not counted.
	rb, ri := duBytes(t, rootfs)
	lb, li := duBytes(t, logs)
	es := pod.EphemeralStorage
	if es == nil {
		t.Fatal("no EphemeralStorage")
	}
	if *es.UsedBytes != rb+lb+cacheBytes || *es.InodesUsed != ri+li+cacheInodes {
		t.Errorf("ephemeral used %d bytes %d inodes, want %d and %d", *es.UsedBytes, *es.InodesUsed, rb+lb+cacheBytes, ri+li+cacheInodes)
	}
	if *es.CapacityBytes != rootSt.CapacityBytes || *es.Inodes != rootSt.Inodes {
		t.Errorf("ephemeral capacity %d inodes %d, statfs %d %d", *es.CapacityBytes, *es.Inodes, rootSt.CapacityBytes, rootSt.Inodes)
	}

	// Prometheus: the container's writable layer, labelled with its device.
	p, err := NewPrometheusCollector(c, PrometheusOptions{Families: []string{"container_fs_usage_bytes", "container_fs_limit_bytes", "container_fs_inodes_total", "container_fs_inodes_free"}})
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := p.Gather()
	if err != nil {
		t.Fatal(err)
	}
	major, minor, err := deviceOf(rootfs)
	if err != nil {
		t.Fatal(err)
	}
	names, _ := c.fs.DeviceNames()
	rootfsSt, _ := StatFilesystem(rootfs)
	want := map[string]float64{
		"container_fs_usage_bytes": float64(rb), "container_fs_limit_bytes": float64(rootfsSt.CapacityBytes),
		"container_fs_inodes_total": float64(rootfsSt.Inodes),
	}
	if len(mfs) != 4 {
		t.Fatalf("%d families, want 4", len(mfs))
	}
	for _, mf := range mfs {
		if len(mf.Metric) != 1 {
			t.Fatalf("%s: %d series, want 1 (the target with a RootfsPath)", mf.GetName(), len(mf.Metric))
		}
		m := mf.Metric[0]
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["device"] != names.Name(major, minor) || labels["container"] != "nginx" {
			t.Errorf("%s labels %v, want device %s", mf.GetName(), labels, names.Name(major, minor))
		}
		if w, ok := want[mf.GetName()]; ok && m.GetGauge().GetValue() != w {
			t.Errorf("%s = %v, want %v", mf.GetName(), m.GetGauge().GetValue(), w)
		}
	}

	// The JSON snapshot carries the same figures.
	snap := c.Snapshot()
	if snap.RootFilesystem == nil || snap.RootFilesystem.CapacityBytes != rootSt.CapacityBytes || snap.ImageFs == nil || snap.ImageFs.Dir.Bytes != imageBytes {
		t.Errorf("snapshot root filesystem %+v image fs %+v", snap.RootFilesystem, snap.ImageFs)
	}
	if len(snap.Volumes) != 2 || snap.Volumes[0].Name != "cache" || snap.Volumes[0].PodUID != fixturePodUID ||
		snap.Volumes[0].Usage == nil || snap.Volumes[0].Usage.Dir.Bytes != cacheBytes || snap.Volumes[1].PVC.Name != "data-web-0" {
		t.Errorf("snapshot volumes %+v", snap.Volumes)
	}
	for _, ts := range snap.Targets {
		if ts.Target.ID == tg.ID && (ts.Rootfs == nil || ts.Rootfs.Dir.Bytes != rb || ts.Logs == nil || ts.Logs.Dir.Bytes != lb) {
			t.Errorf("snapshot target rootfs %+v logs %+v", ts.Rootfs, ts.Logs)
		}
	}
	var buf strings.Builder
	if err := c.WriteJSON(&buf); err != nil || !strings.Contains(buf.String(), `"pvc": {`) {
		t.Errorf("WriteJSON: %v\n%s", err, buf.String())
	}

	// Unregistering the volumes drops them and their cached walks.
	if err := c.SetPodVolumes(fixturePodUID, nil); err != nil {
		t.Fatal(err)
	}
	memo := c.opts.DirUsage.(*DirUsageCache).memo
	if _, ok := memo[data]; ok {
		t.Error("walk of an unregistered volume still cached")
	}
	if _, ok := memo[cache]; ok {
		t.Error("walk of an unregistered volume still cached")
	}
	for _, p := range c.Summary("n").Pods {
		if p.PodRef.UID == fixturePodUID && len(p.VolumeStats) != 0 {
			t.Errorf("volumes still reported: %+v", p.VolumeStats)
		}
	}
}
