package oci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
)

// The atomic writer's names, as the kubelet's AtomicWriter.
const (
	dataDirName       = "..data"
	newDataDirName    = "..data_tmp"
	maxFileNameLength = 255
	maxPathLength     = 4096
)

// WriteAtomic makes dir hold exactly the files of payload, switching from
// the old set to the new one in a single rename, as the kubelet's
// AtomicWriter does for configMap, secret, downwardAPI and projected
// volumes:
//
//	dir/..2026_01_02_15_04_05.123456789/   the files, written fresh
//	dir/..data -> ..2026_01_02_15_04_05.123456789
//	dir/<name> -> ..data/<name>           one link per top-level name
//
// A reader that opens dir/<name> sees either the old or the new content,
// never a mix. When the content and modes are already those of payload
// nothing is written. Paths must be relative, without "..", not starting
// with "..", at most 4096 bytes with components of at most 255. dir is
// created (mode 0755) if missing. Writers of one dir must be serialized by
// the caller.
func WriteAtomic(dir string, payload map[string]FileProjection) error {
	clean := make(map[string]FileProjection, len(payload))
	for p, f := range payload {
		if err := validateProjectionPath(p); err != nil {
			return err
		}
		clean[filepath.Clean(p)] = f
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dataDir := filepath.Join(dir, dataDirName)
	oldTs, err := os.Readlink(dataDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var oldFiles map[string]bool
	if oldTs != "" {
		oldFiles, err = listFiles(filepath.Join(dir, oldTs))
		if err != nil {
			return err
		}
		if sameContent(filepath.Join(dir, oldTs), oldFiles, clean) {
			return nil
		}
	}
	tsDir, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return err
	}
	if err := os.Chmod(tsDir, 0o755); err != nil {
		_ = os.RemoveAll(tsDir)
		return err
	}
	for p, f := range clean {
		full := filepath.Join(tsDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			_ = os.RemoveAll(tsDir)
			return err
		}
		mode := fs.FileMode(f.Mode) & fs.ModePerm
		if err := os.WriteFile(full, f.Data, mode); err != nil {
			_ = os.RemoveAll(tsDir)
			return err
		}
		if err := os.Chmod(full, mode); err != nil {
			_ = os.RemoveAll(tsDir)
			return err
		}
	}
	newDataDir := filepath.Join(dir, newDataDirName)
	_ = os.Remove(newDataDir)
	if err := os.Symlink(filepath.Base(tsDir), newDataDir); err != nil {
		_ = os.RemoveAll(tsDir)
		return err
	}
	if err := os.Rename(newDataDir, dataDir); err != nil {
		_ = os.Remove(newDataDir)
		_ = os.RemoveAll(tsDir)
		return err
	}
	newTop := map[string]bool{}
	for p := range clean {
		top, _, _ := strings.Cut(p, string(filepath.Separator))
		newTop[top] = true
		visible := filepath.Join(dir, top)
		if _, err := os.Lstat(visible); errors.Is(err, fs.ErrNotExist) {
			if err := os.Symlink(filepath.Join(dataDirName, top), visible); err != nil {
				return err
			}
		}
	}
	for p := range oldFiles {
		top, _, _ := strings.Cut(p, string(filepath.Separator))
		if !newTop[top] {
			if err := os.Remove(filepath.Join(dir, top)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	if oldTs != "" {
		return os.RemoveAll(filepath.Join(dir, oldTs))
	}
	return nil
}

// validateProjectionPath is the kubelet's atomic writer validatePath.
func validateProjectionPath(p string) error {
	if p == "" {
		return fmt.Errorf("invalid path: must not be empty: %w", ErrInvalidSpec)
	}
	if path.IsAbs(p) {
		return fmt.Errorf("invalid path: must be relative path: %s: %w", p, ErrInvalidSpec)
	}
	if len(p) > maxPathLength {
		return fmt.Errorf("invalid path: must be less than or equal to %d characters: %w", maxPathLength, ErrInvalidSpec)
	}
	items := strings.Split(p, "/")
	for _, item := range items {
		if item == ".." {
			return fmt.Errorf("invalid path: must not contain '..': %s: %w", p, ErrInvalidSpec)
		}
		if len(item) > maxFileNameLength {
			return fmt.Errorf("invalid path: filenames must be less than or equal to %d characters: %w", maxFileNameLength, ErrInvalidSpec)
		}
	}
	if strings.HasPrefix(items[0], "..") && len(items[0]) > 2 {
		return fmt.Errorf("invalid path: must not start with '..': %s: %w", p, ErrInvalidSpec)
	}
	if strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("invalid path: must not contain NUL: %q: %w", p, ErrInvalidSpec)
	}
	return nil
}

// listFiles returns the regular files below dir, relative to it.
func listFiles(dir string) (map[string]bool, error) {
	files := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			files[rel] = true
		}
		return nil
	})
	return files, err
}

// sameContent reports whether the files of dir are exactly payload.
func sameContent(dir string, files map[string]bool, payload map[string]FileProjection) bool {
	if len(files) != len(payload) {
		return false
	}
	for p, f := range payload {
		if !files[p] {
			return false
		}
		full := filepath.Join(dir, p)
		fi, err := os.Stat(full)
		if err != nil || fi.Mode().Perm() != fs.FileMode(f.Mode)&fs.ModePerm {
			return false
		}
		data, err := os.ReadFile(full)
		if err != nil || !bytes.Equal(data, f.Data) {
			return false
		}
	}
	return true
}

// WriteVolume writes the files of a configMap, secret, downwardAPI or
// projected volume of pod (VolumePayload) into its directory of
// opts.Layout with WriteAtomic. A runtime calls it for each such volume
// before GenerateSpec, and again when the objects change.
func WriteVolume(ctx context.Context, pod *v1.Pod, vol *v1.Volume, opts Options) error {
	if opts.Layout == nil {
		return fmt.Errorf("volume %s: no Layout (Options.Layout): %w", vol.Name, ErrMissingOption)
	}
	plugin := volumePlugin(vol)
	if plugin == "" || plugin == PluginEmptyDir {
		return invalid("volume "+vol.Name, "not a configMap, secret, downwardAPI or projected volume")
	}
	payload, err := VolumePayload(ctx, pod, vol, opts)
	if err != nil {
		return err
	}
	return WriteAtomic(opts.Layout.VolumeDir(pod.UID, plugin, vol.Name), payload)
}

// WritePodVolumes calls WriteVolume for every configMap, secret,
// downwardAPI and projected volume of pod, in the order of
// pod.Spec.Volumes, and returns the first error.
func WritePodVolumes(ctx context.Context, pod *v1.Pod, opts Options) error {
	for i := range pod.Spec.Volumes {
		vol := &pod.Spec.Volumes[i]
		switch volumePlugin(vol) {
		case PluginConfigMap, PluginSecret, PluginDownwardAPI, PluginProjected:
			if err := WriteVolume(ctx, pod, vol, opts); err != nil {
				return err
			}
		}
	}
	return nil
}
