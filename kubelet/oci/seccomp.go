package oci

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	mobyseccomp "github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	v1 "k8s.io/api/core/v1"
)

// SeccompProfileLoader loads Localhost seccomp profiles: the JSON of the
// profile at localhostProfile, a path relative to the kubelet's seccomp
// profile root. Implementations must be safe for concurrent use.
type SeccompProfileLoader interface {
	LoadSeccompProfile(ctx context.Context, localhostProfile string) ([]byte, error)
}

// SeccompProfileDir loads Localhost profiles from files below a directory,
// as the kubelet's <root-dir>/seccomp. A profile path cannot leave the
// directory ("../x" is read as "x"). It is safe for concurrent use.
type SeccompProfileDir string

// LoadSeccompProfile implements SeccompProfileLoader.
func (d SeccompProfileDir) LoadSeccompProfile(_ context.Context, localhostProfile string) ([]byte, error) {
	p := filepath.Join(string(d), filepath.Clean("/"+localhostProfile))
	return os.ReadFile(p)
}

// WithSeccomp sets the seccomp filter from the effective seccompProfile
// (container over pod):
//
//   - RuntimeDefault: the default profile of github.com/moby/profiles
//     (Docker's and, nearly identically, containerd's), filtered for the
//     container's capabilities and architecture;
//   - Localhost: the profile Options.SeccompProfiles loads;
//   - Unconfined: no filter;
//   - unset: Unconfined, or RuntimeDefault with Options.SeccompDefault,
//     as the kubelet's --seccomp-default.
//
// Privileged containers are never filtered, as in containerd. It must run
// after WithSecurityContext, since the default profile depends on the
// capabilities.
func WithSeccomp(ctx context.Context, in *Input, s *specs.Spec) error {
	if in.Container.SecurityContext != nil && isTrue(in.Container.SecurityContext.Privileged) {
		s.Linux.Seccomp = nil
		return nil
	}
	eff := effectiveSecurityContext(in.Pod, in.Container)
	profile := eff.SeccompProfile
	field := "securityContext.seccompProfile"
	if profile == nil {
		if !in.Options.SeccompDefault {
			s.Linux.Seccomp = nil
			return nil
		}
		profile = &v1.SeccompProfile{Type: v1.SeccompProfileTypeRuntimeDefault}
	}
	switch profile.Type {
	case v1.SeccompProfileTypeUnconfined:
		s.Linux.Seccomp = nil
	case v1.SeccompProfileTypeRuntimeDefault:
		sp, err := mobyseccomp.GetDefaultProfile(s)
		if err != nil {
			return fmt.Errorf("%s: RuntimeDefault: %w", field, err)
		}
		s.Linux.Seccomp = sp
	case v1.SeccompProfileTypeLocalhost:
		if profile.LocalhostProfile == nil || strings.TrimSpace(*profile.LocalhostProfile) == "" {
			return invalid(field+".localhostProfile", "must be set for type Localhost")
		}
		if in.Options.SeccompProfiles == nil {
			return fmt.Errorf("%s: Localhost profile %q: no loader (Options.SeccompProfiles): %w", field, *profile.LocalhostProfile, ErrMissingOption)
		}
		body, err := in.Options.SeccompProfiles.LoadSeccompProfile(ctx, *profile.LocalhostProfile)
		if err != nil {
			return fmt.Errorf("%s: Localhost profile %q: %w", field, *profile.LocalhostProfile, err)
		}
		sp, err := mobyseccomp.LoadProfile(string(body), s)
		if err != nil {
			return invalid(field, "Localhost profile %q: %v", *profile.LocalhostProfile, err)
		}
		s.Linux.Seccomp = sp
	default:
		return invalid(field+".type", "unknown type %q", profile.Type)
	}
	return nil
}
