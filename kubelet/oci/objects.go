package oci

import (
	"context"

	v1 "k8s.io/api/core/v1"
)

// ObjectSource supplies the ConfigMaps and Secrets a pod refers to, as the
// kubelet's configmap and secret managers do. A missing object must be
// reported with an error wrapping ErrObjectNotFound, so that optional
// references are skipped as the kubelet skips them.
//
// Implementations must be safe for concurrent use. MapObjectSource is a
// ready-made in-memory one.
type ObjectSource interface {
	// GetConfigMap returns the ConfigMap namespace/name.
	GetConfigMap(ctx context.Context, namespace, name string) (*v1.ConfigMap, error)
	// GetSecret returns the Secret namespace/name.
	GetSecret(ctx context.Context, namespace, name string) (*v1.Secret, error)
}

// MapObjectSource is an ObjectSource holding its objects in memory, keyed
// "namespace/name". It must not be modified while in use; reading it is safe
// for concurrent use.
type MapObjectSource struct {
	ConfigMaps map[string]*v1.ConfigMap
	Secrets    map[string]*v1.Secret
}

var _ ObjectSource = MapObjectSource{}

// GetConfigMap implements ObjectSource.
func (s MapObjectSource) GetConfigMap(_ context.Context, namespace, name string) (*v1.ConfigMap, error) {
	if cm, ok := s.ConfigMaps[namespace+"/"+name]; ok {
		return cm, nil
	}
	return nil, &objectNotFoundError{kind: "configmap", namespace: namespace, name: name}
}

// GetSecret implements ObjectSource.
func (s MapObjectSource) GetSecret(_ context.Context, namespace, name string) (*v1.Secret, error) {
	if sec, ok := s.Secrets[namespace+"/"+name]; ok {
		return sec, nil
	}
	return nil, &objectNotFoundError{kind: "secret", namespace: namespace, name: name}
}

type objectNotFoundError struct{ kind, namespace, name string }

func (e *objectNotFoundError) Error() string {
	return e.kind + " " + e.namespace + "/" + e.name + " not found"
}

func (e *objectNotFoundError) Unwrap() error { return ErrObjectNotFound }
