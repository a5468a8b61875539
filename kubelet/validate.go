package kubelet

import (
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidatePod checks what the engine relies on and what the API server
// would reject: identity (uid, name, namespace), at least one container,
// container names that are DNS-1123 labels and unique across init and regular
// containers, an image per container, a known restart policy (empty means
// Always, the API default), restartPolicy only on init containers and only
// Always, non-negative grace period, positive activeDeadlineSeconds,
// lifecycle handlers with exactly one action, and probes as the API server
// checks them (one action, non-negative timings, successThreshold 1 for
// liveness and startup, resolvable ports; hooks and probes only on regular
// containers and sidecars). It returns nil or an
// *InvalidPodError wrapping ErrInvalidPod.
func ValidatePod(pod *v1.Pod) error {
	if pod == nil {
		return &InvalidPodError{Errs: field.ErrorList{field.Required(field.NewPath("pod"), "nil pod")}}
	}
	var errs field.ErrorList
	meta := field.NewPath("metadata")
	if pod.UID == "" {
		errs = append(errs, field.Required(meta.Child("uid"), ""))
	}
	if pod.Name == "" {
		errs = append(errs, field.Required(meta.Child("name"), ""))
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(pod.Name) {
			errs = append(errs, field.Invalid(meta.Child("name"), pod.Name, msg))
		}
	}
	if pod.Namespace == "" {
		errs = append(errs, field.Required(meta.Child("namespace"), ""))
	} else {
		for _, msg := range validation.IsDNS1123Label(pod.Namespace) {
			errs = append(errs, field.Invalid(meta.Child("namespace"), pod.Namespace, msg))
		}
	}
	spec := field.NewPath("spec")
	switch pod.Spec.RestartPolicy {
	case "", v1.RestartPolicyAlways, v1.RestartPolicyOnFailure, v1.RestartPolicyNever:
	default:
		errs = append(errs, field.NotSupported(spec.Child("restartPolicy"), pod.Spec.RestartPolicy,
			[]string{string(v1.RestartPolicyAlways), string(v1.RestartPolicyOnFailure), string(v1.RestartPolicyNever)}))
	}
	if len(pod.Spec.Containers) == 0 {
		errs = append(errs, field.Required(spec.Child("containers"), "at least one container"))
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil && *g < 0 {
		errs = append(errs, field.Invalid(spec.Child("terminationGracePeriodSeconds"), *g, "must be non-negative"))
	}
	if d := pod.Spec.ActiveDeadlineSeconds; d != nil && *d < 1 {
		errs = append(errs, field.Invalid(spec.Child("activeDeadlineSeconds"), *d, "must be positive"))
	}
	if g := pod.DeletionGracePeriodSeconds; g != nil && *g < 0 {
		errs = append(errs, field.Invalid(meta.Child("deletionGracePeriodSeconds"), *g, "must be non-negative"))
	}
	seen := map[string]bool{}
	check := func(p *field.Path, c *v1.Container, init bool) {
		if c.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		} else {
			for _, msg := range validation.IsDNS1123Label(c.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), c.Name, msg))
			}
			if seen[c.Name] {
				errs = append(errs, field.Duplicate(p.Child("name"), c.Name))
			}
			seen[c.Name] = true
		}
		if c.Image == "" {
			errs = append(errs, field.Required(p.Child("image"), ""))
		}
		if c.RestartPolicy != nil {
			if !init {
				errs = append(errs, field.Forbidden(p.Child("restartPolicy"), "only allowed for init containers"))
			} else if *c.RestartPolicy != v1.ContainerRestartPolicyAlways {
				errs = append(errs, field.NotSupported(p.Child("restartPolicy"), *c.RestartPolicy, []string{string(v1.ContainerRestartPolicyAlways)}))
			}
		}
		if c.Lifecycle != nil {
			checkHandler(&errs, p.Child("lifecycle", "postStart"), c.Lifecycle.PostStart)
			checkHandler(&errs, p.Child("lifecycle", "preStop"), c.Lifecycle.PreStop)
		}
		if init && !isRestartableInit(c) {
			// As the API: only sidecars have lifecycle hooks and probes.
			const msg = "may not be set for init containers without restartPolicy=Always"
			for _, f := range []struct {
				name string
				set  bool
			}{
				{"lifecycle", c.Lifecycle != nil}, {"livenessProbe", c.LivenessProbe != nil},
				{"readinessProbe", c.ReadinessProbe != nil}, {"startupProbe", c.StartupProbe != nil},
			} {
				if f.set {
					errs = append(errs, field.Forbidden(p.Child(f.name), msg))
				}
			}
			return
		}
		checkProbe(&errs, p.Child("livenessProbe"), c.LivenessProbe, c, false, true)
		checkProbe(&errs, p.Child("readinessProbe"), c.ReadinessProbe, c, true, false)
		checkProbe(&errs, p.Child("startupProbe"), c.StartupProbe, c, false, true)
	}
	for i := range pod.Spec.InitContainers {
		check(spec.Child("initContainers").Index(i), &pod.Spec.InitContainers[i], true)
	}
	for i := range pod.Spec.Containers {
		check(spec.Child("containers").Index(i), &pod.Spec.Containers[i], false)
	}
	for i := range pod.Spec.EphemeralContainers {
		p := spec.Child("ephemeralContainers").Index(i)
		name := pod.Spec.EphemeralContainers[i].Name
		if seen[name] {
			errs = append(errs, field.Duplicate(p.Child("name"), name))
		}
		seen[name] = true
	}
	if len(errs) == 0 {
		return nil
	}
	return &InvalidPodError{UID: pod.UID, Namespace: pod.Namespace, Name: pod.Name, Errs: errs}
}

// checkProbe is the API server's validateProbe plus the per-type rules:
// exactly one action, non-negative timing fields, a positive probe-level
// terminationGracePeriodSeconds (not on readiness probes), successThreshold
// 1 for liveness and startup probes, and ports a kubelet can resolve.
func checkProbe(errs *field.ErrorList, p *field.Path, pr *v1.Probe, c *v1.Container, readiness, mustSucceedOnce bool) {
	if pr == nil {
		return
	}
	n := 0
	port := func(p *field.Path, v intstr.IntOrString) {
		if v.Type == intstr.Int {
			for _, msg := range validation.IsValidPortNum(int(v.IntVal)) {
				*errs = append(*errs, field.Invalid(p, v.IntVal, msg))
			}
			return
		}
		if _, err := ResolvePort(v, c); err != nil {
			*errs = append(*errs, field.Invalid(p, v.StrVal, "must be a port number or the name of one of the container's ports"))
		}
	}
	if h := pr.Exec; h != nil {
		n++
		if len(h.Command) == 0 {
			*errs = append(*errs, field.Required(p.Child("exec", "command"), ""))
		}
	}
	if h := pr.HTTPGet; h != nil {
		n++
		port(p.Child("httpGet", "port"), h.Port)
		switch h.Scheme {
		case "", v1.URISchemeHTTP, v1.URISchemeHTTPS:
		default:
			*errs = append(*errs, field.NotSupported(p.Child("httpGet", "scheme"), h.Scheme, []string{string(v1.URISchemeHTTP), string(v1.URISchemeHTTPS)}))
		}
	}
	if h := pr.TCPSocket; h != nil {
		n++
		port(p.Child("tcpSocket", "port"), h.Port)
	}
	if h := pr.GRPC; h != nil {
		n++
		for _, msg := range validation.IsValidPortNum(int(h.Port)) {
			*errs = append(*errs, field.Invalid(p.Child("grpc", "port"), h.Port, msg))
		}
	}
	if n != 1 {
		*errs = append(*errs, field.Invalid(p, n, "must specify exactly one handler type"))
	}
	for _, f := range []struct {
		name string
		v    int32
	}{
		{"initialDelaySeconds", pr.InitialDelaySeconds}, {"timeoutSeconds", pr.TimeoutSeconds},
		{"periodSeconds", pr.PeriodSeconds}, {"successThreshold", pr.SuccessThreshold},
		{"failureThreshold", pr.FailureThreshold},
	} {
		if f.v < 0 {
			*errs = append(*errs, field.Invalid(p.Child(f.name), f.v, "must be non-negative"))
		}
	}
	if mustSucceedOnce && pr.SuccessThreshold > 1 {
		*errs = append(*errs, field.Invalid(p.Child("successThreshold"), pr.SuccessThreshold, "must be 1"))
	}
	if g := pr.TerminationGracePeriodSeconds; g != nil {
		if readiness {
			*errs = append(*errs, field.Forbidden(p.Child("terminationGracePeriodSeconds"), "must not be set for readinessProbes"))
		} else if *g <= 0 {
			*errs = append(*errs, field.Invalid(p.Child("terminationGracePeriodSeconds"), *g, "must be greater than 0"))
		}
	}
}

func checkHandler(errs *field.ErrorList, p *field.Path, h *v1.LifecycleHandler) {
	if h == nil {
		return
	}
	n := 0
	if h.Exec != nil {
		n++
		if len(h.Exec.Command) == 0 {
			*errs = append(*errs, field.Required(p.Child("exec", "command"), ""))
		}
	}
	if h.HTTPGet != nil {
		n++
		if h.HTTPGet.Port.IntVal == 0 && h.HTTPGet.Port.StrVal == "" {
			*errs = append(*errs, field.Required(p.Child("httpGet", "port"), ""))
		}
	}
	if h.TCPSocket != nil {
		n++
	}
	if h.Sleep != nil {
		n++
		if h.Sleep.Seconds < 0 {
			*errs = append(*errs, field.Invalid(p.Child("sleep", "seconds"), h.Sleep.Seconds, "must be non-negative"))
		}
	}
	if n != 1 {
		*errs = append(*errs, field.Invalid(p, n, "must specify exactly one handler type"))
	}
}
