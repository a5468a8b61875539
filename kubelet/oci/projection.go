package oci

import (
	"context"
	"errors"
	"fmt"

	v1 "k8s.io/api/core/v1"
)

// FileProjection is one file of a configMap, secret, downwardAPI or
// projected volume: its content and mode. It is plain data; WriteAtomic
// only reads it.
type FileProjection struct {
	Data []byte
	Mode int32
}

// defaultFileMode is the API default of defaultMode (0644).
const defaultFileMode int32 = 0o644

// VolumePayload returns the files of a configMap, secret, downwardAPI or
// projected volume of pod, as the kubelet's volume plugins compute them
// (configmap.MakePayload, secret.MakePayload, downwardapi.CollectData):
// every key of the object, or only the listed items at their paths, with
// defaultMode or the item's mode. A missing optional object gives no files;
// a missing required object or key is an error wrapping ErrObjectNotFound.
// opts supplies Objects, the pod and host IPs and the node's allocatable
// resources.
func VolumePayload(ctx context.Context, pod *v1.Pod, vol *v1.Volume, opts Options) (map[string]FileProjection, error) {
	in := NewInput(pod, nil, opts)
	payload := map[string]FileProjection{}
	var err error
	switch {
	case vol.ConfigMap != nil:
		src := vol.ConfigMap
		err = configMapPayload(ctx, in, payload, src.Name, src.Items, modeOr(src.DefaultMode), isTrue(src.Optional))
	case vol.Secret != nil:
		src := vol.Secret
		err = secretPayload(ctx, in, payload, src.SecretName, src.Items, modeOr(src.DefaultMode), isTrue(src.Optional))
	case vol.DownwardAPI != nil:
		err = downwardAPIPayload(in, payload, vol.DownwardAPI.Items, modeOr(vol.DownwardAPI.DefaultMode))
	case vol.Projected != nil:
		mode := modeOr(vol.Projected.DefaultMode)
		for i, src := range vol.Projected.Sources {
			switch {
			case src.ConfigMap != nil:
				err = configMapPayload(ctx, in, payload, src.ConfigMap.Name, src.ConfigMap.Items, mode, isTrue(src.ConfigMap.Optional))
			case src.Secret != nil:
				err = secretPayload(ctx, in, payload, src.Secret.Name, src.Secret.Items, mode, isTrue(src.Secret.Optional))
			case src.DownwardAPI != nil:
				err = downwardAPIPayload(in, payload, src.DownwardAPI.Items, mode)
			default:
				err = invalid(fmt.Sprintf("projected.sources[%d]", i), "only configMap, secret and downwardAPI sources are supported")
			}
			if err != nil {
				break
			}
		}
	default:
		return nil, invalid("volume "+vol.Name, "not a configMap, secret, downwardAPI or projected volume")
	}
	if err != nil {
		return nil, fmt.Errorf("volume %s (%s): %w", vol.Name, volumeKind(vol), err)
	}
	return payload, nil
}

// modeOr returns *m, or the API's default file mode (0644).
func modeOr(m *int32) int32 {
	return modeOr2(m, defaultFileMode)
}

func configMapPayload(ctx context.Context, in *Input, payload map[string]FileProjection, name string, items []v1.KeyToPath, mode int32, optional bool) error {
	if in.Options.Objects == nil {
		return fmt.Errorf("configMap %q: no ObjectSource (Options.Objects): %w", name, ErrMissingOption)
	}
	cm, err := in.Options.Objects.GetConfigMap(ctx, in.Pod.Namespace, name)
	if err != nil {
		if errors.Is(err, ErrObjectNotFound) && optional {
			return nil
		}
		return fmt.Errorf("configMap %s/%s: %w", in.Pod.Namespace, name, err)
	}
	if len(items) == 0 {
		for k, v := range cm.Data {
			payload[k] = FileProjection{Data: []byte(v), Mode: mode}
		}
		for k, v := range cm.BinaryData {
			payload[k] = FileProjection{Data: append([]byte(nil), v...), Mode: mode}
		}
		return nil
	}
	for _, it := range items {
		var data []byte
		if v, ok := cm.Data[it.Key]; ok {
			data = []byte(v)
		} else if v, ok := cm.BinaryData[it.Key]; ok {
			data = append([]byte(nil), v...)
		} else {
			if optional {
				continue
			}
			return fmt.Errorf("configmap references non-existent config key: %s: %w", it.Key, ErrObjectNotFound)
		}
		payload[it.Path] = FileProjection{Data: data, Mode: modeOr2(it.Mode, mode)}
	}
	return nil
}

func secretPayload(ctx context.Context, in *Input, payload map[string]FileProjection, name string, items []v1.KeyToPath, mode int32, optional bool) error {
	if in.Options.Objects == nil {
		return fmt.Errorf("secret %q: no ObjectSource (Options.Objects): %w", name, ErrMissingOption)
	}
	s, err := in.Options.Objects.GetSecret(ctx, in.Pod.Namespace, name)
	if err != nil {
		if errors.Is(err, ErrObjectNotFound) && optional {
			return nil
		}
		return fmt.Errorf("secret %s/%s: %w", in.Pod.Namespace, name, err)
	}
	if len(items) == 0 {
		for k, v := range s.Data {
			payload[k] = FileProjection{Data: append([]byte(nil), v...), Mode: mode}
		}
		return nil
	}
	for _, it := range items {
		v, ok := s.Data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return fmt.Errorf("references non-existent secret key: %s: %w", it.Key, ErrObjectNotFound)
		}
		payload[it.Path] = FileProjection{Data: append([]byte(nil), v...), Mode: modeOr2(it.Mode, mode)}
	}
	return nil
}

func downwardAPIPayload(in *Input, payload map[string]FileProjection, items []v1.DownwardAPIVolumeFile, mode int32) error {
	for i, it := range items {
		var value string
		var err error
		switch {
		case it.FieldRef != nil:
			if err = in.checkPodIPsKnown(it.FieldRef); err == nil {
				value, err = PodFieldValue(in.Pod, it.FieldRef, in.podIPs(), in.hostIPs())
			}
		case it.ResourceFieldRef != nil:
			value, err = ResourceFieldValue(in.Pod, nil, it.ResourceFieldRef, in.Options.Node.Allocatable)
		default:
			err = invalid(fmt.Sprintf("items[%d]", i), "neither fieldRef nor resourceFieldRef is set")
		}
		if err != nil {
			return fmt.Errorf("downwardAPI items[%d] (%s): %w", i, it.Path, err)
		}
		payload[it.Path] = FileProjection{Data: []byte(value), Mode: modeOr2(it.Mode, mode)}
	}
	return nil
}

// modeOr2 returns *m, or def when m is nil.
func modeOr2(m *int32, def int32) int32 {
	if m != nil {
		return *m
	}
	return def
}
