package oci

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
)

// EnvVar is one environment variable of a container; a plain value.
type EnvVar struct {
	Name  string
	Value string
}

// ContainerEnv returns the container's environment as the kubelet's
// makeEnvironmentVariables computes it: envFrom (ConfigMaps then Secrets, in
// order, each source's keys sorted, with the prefix), then env in order,
// each value with $(VAR) references expanded against the variables defined
// before it, or taken from its valueFrom source (fieldRef, resourceFieldRef,
// configMapKeyRef, secretKeyRef). A later definition of a name replaces the
// value of an earlier one in place. Optional references to a missing object
// or key are skipped. The image's environment is not included.
//
// The result is cached in in; callers must not modify it.
func (in *Input) ContainerEnv(ctx context.Context) ([]EnvVar, error) {
	if !in.envDone {
		in.env, in.envErr = containerEnv(ctx, in)
		in.envDone = true
	}
	return in.env, in.envErr
}

type envBuilder struct {
	vars  []EnvVar
	index map[string]int
}

func (b *envBuilder) set(name, value string) {
	if i, ok := b.index[name]; ok {
		b.vars[i].Value = value
		return
	}
	b.index[name] = len(b.vars)
	b.vars = append(b.vars, EnvVar{Name: name, Value: value})
}

func (b *envBuilder) lookup(name string) string {
	if i, ok := b.index[name]; ok {
		return b.vars[i].Value
	}
	return string(expansionOperator) + string(referenceOpener) + name + string(referenceCloser)
}

func containerEnv(ctx context.Context, in *Input) ([]EnvVar, error) {
	pod, c := in.Pod, in.Container
	b := &envBuilder{index: make(map[string]int, len(c.Env))}
	configMaps := map[string]*v1.ConfigMap{}
	secrets := map[string]*v1.Secret{}
	getConfigMap := func(field, name string) (*v1.ConfigMap, error) {
		if cm, ok := configMaps[name]; ok {
			return cm, nil
		}
		if in.Options.Objects == nil {
			return nil, fmt.Errorf("%s: configMap %q: no ObjectSource (Options.Objects): %w", field, name, ErrMissingOption)
		}
		cm, err := in.Options.Objects.GetConfigMap(ctx, pod.Namespace, name)
		if err != nil {
			return nil, fmt.Errorf("%s: configMap %s/%s: %w", field, pod.Namespace, name, err)
		}
		configMaps[name] = cm
		return cm, nil
	}
	getSecret := func(field, name string) (*v1.Secret, error) {
		if s, ok := secrets[name]; ok {
			return s, nil
		}
		if in.Options.Objects == nil {
			return nil, fmt.Errorf("%s: secret %q: no ObjectSource (Options.Objects): %w", field, name, ErrMissingOption)
		}
		s, err := in.Options.Objects.GetSecret(ctx, pod.Namespace, name)
		if err != nil {
			return nil, fmt.Errorf("%s: secret %s/%s: %w", field, pod.Namespace, name, err)
		}
		secrets[name] = s
		return s, nil
	}

	for i, from := range c.EnvFrom {
		field := fmt.Sprintf("envFrom[%d]", i)
		switch {
		case from.ConfigMapRef != nil:
			cm, err := getConfigMap(field, from.ConfigMapRef.Name)
			if err != nil {
				if errors.Is(err, ErrObjectNotFound) && isTrue(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, err
			}
			for _, k := range sortedKeys(cm.Data) {
				b.set(from.Prefix+k, cm.Data[k])
			}
		case from.SecretRef != nil:
			s, err := getSecret(field, from.SecretRef.Name)
			if err != nil {
				if errors.Is(err, ErrObjectNotFound) && isTrue(from.SecretRef.Optional) {
					continue
				}
				return nil, err
			}
			keys := make([]string, 0, len(s.Data))
			for k := range s.Data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				b.set(from.Prefix+k, string(s.Data[k]))
			}
		default:
			return nil, invalid(field, "neither configMapRef nor secretRef is set")
		}
	}

	podIPs, hostIPs := in.podIPs(), in.hostIPs()
	for i := range c.Env {
		e := &c.Env[i]
		field := fmt.Sprintf("env[%d] (%s)", i, e.Name)
		if e.Name == "" {
			return nil, invalid(fmt.Sprintf("env[%d].name", i), "must not be empty")
		}
		value := e.Value
		switch {
		case value != "":
			value = Expand(value, b.lookup)
		case e.ValueFrom == nil:
		case e.ValueFrom.FieldRef != nil:
			if err := in.checkPodIPsKnown(e.ValueFrom.FieldRef); err != nil {
				return nil, fmt.Errorf("%s: %w", field, err)
			}
			v, err := PodFieldValue(pod, e.ValueFrom.FieldRef, podIPs, hostIPs)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", field, err)
			}
			value = v
		case e.ValueFrom.ResourceFieldRef != nil:
			v, err := ResourceFieldValue(pod, c, e.ValueFrom.ResourceFieldRef, in.Options.Node.Allocatable)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", field, err)
			}
			value = v
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm, err := getConfigMap(field, ref.Name)
			if err != nil {
				if errors.Is(err, ErrObjectNotFound) && isTrue(ref.Optional) {
					continue
				}
				return nil, err
			}
			v, ok := cm.Data[ref.Key]
			if !ok {
				if isTrue(ref.Optional) {
					continue
				}
				return nil, fmt.Errorf("%s: couldn't find key %s in ConfigMap %s/%s: %w", field, ref.Key, pod.Namespace, ref.Name, ErrObjectNotFound)
			}
			value = v
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s, err := getSecret(field, ref.Name)
			if err != nil {
				if errors.Is(err, ErrObjectNotFound) && isTrue(ref.Optional) {
					continue
				}
				return nil, err
			}
			v, ok := s.Data[ref.Key]
			if !ok {
				if isTrue(ref.Optional) {
					continue
				}
				return nil, fmt.Errorf("%s: couldn't find key %s in Secret %s/%s: %w", field, ref.Key, pod.Namespace, ref.Name, ErrObjectNotFound)
			}
			value = string(v)
		default:
			return nil, invalid(field+".valueFrom", "no supported source is set")
		}
		b.set(e.Name, value)
	}
	return b.vars, nil
}

func isTrue(b *bool) bool { return b != nil && *b }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// podIPs returns the sandbox's IPs: Options.PodIPs, else the pod status.
// needsPodIPs reports whether a field reference reads the pod's IPs.
func needsPodIPs(ref *v1.ObjectFieldSelector) bool {
	return ref != nil && (ref.FieldPath == "status.podIP" || ref.FieldPath == "status.podIPs")
}

// checkPodIPsKnown refuses a field reference to the pod's IPs while
// Options.PodNetworkPending is set.
func (in *Input) checkPodIPsKnown(ref *v1.ObjectFieldSelector) error {
	if in.Options.PodNetworkPending && needsPodIPs(ref) {
		return fmt.Errorf("%s: the pod's IPs are not known yet (Options.PodNetworkPending): %w", ref.FieldPath, ErrMissingOption)
	}
	return nil
}

// NeedsPodIPs reports whether generating container c's spec and the pod's
// volume files needs the pod's IPs: an environment variable of c, or a
// downward API file of a volume of the pod (plain or projected), refers
// to status.podIP or status.podIPs. A runtime that sets up the pod
// network while it creates containers (Options.PodNetworkPending) waits
// for the IPs first when it does.
func NeedsPodIPs(pod *v1.Pod, c *v1.Container) bool {
	for i := range c.Env {
		if vf := c.Env[i].ValueFrom; vf != nil && needsPodIPs(vf.FieldRef) {
			return true
		}
	}
	for i := range pod.Spec.Volumes {
		vs := &pod.Spec.Volumes[i].VolumeSource
		if vs.DownwardAPI != nil {
			for _, it := range vs.DownwardAPI.Items {
				if needsPodIPs(it.FieldRef) {
					return true
				}
			}
		}
		if vs.Projected != nil {
			for _, src := range vs.Projected.Sources {
				if src.DownwardAPI == nil {
					continue
				}
				for _, it := range src.DownwardAPI.Items {
					if needsPodIPs(it.FieldRef) {
						return true
					}
				}
			}
		}
	}
	return false
}

func (in *Input) podIPs() []string {
	if in.Options.PodIPs != nil {
		return in.Options.PodIPs
	}
	st := in.Pod.Status
	if len(st.PodIPs) > 0 {
		ips := make([]string, len(st.PodIPs))
		for i, ip := range st.PodIPs {
			ips[i] = ip.IP
		}
		return ips
	}
	if st.PodIP != "" {
		return []string{st.PodIP}
	}
	return nil
}

// hostIPs returns the node's IPs: Options.Node.HostIPs, else the pod status.
func (in *Input) hostIPs() []string {
	if in.Options.Node.HostIPs != nil {
		return in.Options.Node.HostIPs
	}
	st := in.Pod.Status
	if len(st.HostIPs) > 0 {
		ips := make([]string, len(st.HostIPs))
		for i, ip := range st.HostIPs {
			ips[i] = ip.IP
		}
		return ips
	}
	if st.HostIP != "" {
		return []string{st.HostIP}
	}
	return nil
}

// envMap returns the container's environment as a map, for expansion.
func envMap(vars []EnvVar) map[string]string {
	m := make(map[string]string, len(vars))
	for _, v := range vars {
		m[v.Name] = v.Value
	}
	return m
}

// WithEnv sets the process environment as containerd's CRI plugin builds it
// from the kubelet's: the default PATH, HOSTNAME, then the image's
// environment, then the container's (Input.ContainerEnv); a later entry of
// a name replaces an earlier one in place.
func WithEnv(ctx context.Context, in *Input, s *specs.Spec) error {
	vars, err := in.ContainerEnv(ctx)
	if err != nil {
		return err
	}
	hostname, err := in.hostname()
	if err != nil {
		return err
	}
	env := s.Process.Env
	env = replaceOrAppendEnv(env, "HOSTNAME="+hostname)
	for i, kv := range in.Options.Image.Env {
		if !strings.Contains(kv, "=") {
			return invalid(fmt.Sprintf("image env[%d]", i), "%q is not NAME=value", kv)
		}
		env = replaceOrAppendEnv(env, kv)
	}
	for _, v := range vars {
		env = replaceOrAppendEnv(env, v.Name+"="+v.Value)
	}
	s.Process.Env = env
	return nil
}

// replaceOrAppendEnv replaces the entry of kv's name in env, or appends kv.
func replaceOrAppendEnv(env []string, kv string) []string {
	name, _, _ := strings.Cut(kv, "=")
	for i, e := range env {
		if n, _, _ := strings.Cut(e, "="); n == name {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}
