package oci

import (
	"encoding/json"
	"fmt"
)

// ImageConfig is the part of an OCI image configuration
// (github.com/opencontainers/image-spec, config.config) that a container's
// process is built from. Its JSON field names are the image-spec's, so the
// "config" object of an image config file unmarshals into it. It is plain
// data, read-only to this package.
type ImageConfig struct {
	// User is the image's user: "uid", "uid:gid", "name", "name:group" or
	// empty (root).
	User string `json:"User,omitempty"`
	// Env is the image's environment, "NAME=value" entries.
	Env []string `json:"Env,omitempty"`
	// Entrypoint and Cmd are the image's ENTRYPOINT and CMD.
	Entrypoint []string `json:"Entrypoint,omitempty"`
	Cmd        []string `json:"Cmd,omitempty"`
	// WorkingDir is the image's WORKDIR.
	WorkingDir string `json:"WorkingDir,omitempty"`
	// StopSignal is the image's STOPSIGNAL, recorded for the runtime's use.
	StopSignal string `json:"StopSignal,omitempty"`
}

// ParseImageConfig reads an OCI image configuration file (the JSON object
// of application/vnd.oci.image.config.v1+json, or Docker's equivalent) and
// returns its "config" part. A file without one gives the zero
// ImageConfig.
func ParseImageConfig(data []byte) (ImageConfig, error) {
	var file struct {
		Config *ImageConfig `json:"config"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return ImageConfig{}, fmt.Errorf("image config: %v: %w", err, ErrInvalidSpec)
	}
	if file.Config == nil {
		return ImageConfig{}, nil
	}
	return *file.Config, nil
}
