package prober

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"

	"github.com/nodekit/nodekit/kubelet"
)

// maxExecOutput caps the output kept from an exec probe (the kubelet's
// maxReadLength, 10 KiB).
const maxExecOutput = 10 << 10

// execProbe runs cmd in the container through the runtime with the
// probe's timeout (the kubelet's exec prober): exit code 0 is success,
// another exit code or a timeout is failure, and a runtime error is an
// error (the result is thrown away).
func execProbe(ctx context.Context, rt kubelet.Runtime, containerID string, cmd []string, timeout time.Duration) (outcome, string, error) {
	if rt == nil {
		return outcomeUnknown, "", fmt.Errorf("exec probe %q: no runtime", cmd)
	}
	// The runtime enforces timeout; the context is a backstop for a
	// runtime that does not.
	cctx, cancel := context.WithTimeout(ctx, timeout+time.Second)
	defer cancel()
	start := time.Now()
	res, err := rt.ExecSync(cctx, containerID, cmd, timeout)
	out := capOutput(res.Stdout, res.Stderr)
	if err != nil {
		// A runtime that does not wrap ErrExecTimeout still returned only
		// once the timeout had passed.
		timedOut := errors.Is(err, kubelet.ErrExecTimeout) || errors.Is(err, context.DeadlineExceeded) || time.Since(start) >= timeout
		if timedOut && ctx.Err() == nil {
			msg := fmt.Sprintf("command %q timed out", strings.Join(cmd, " "))
			return outcomeFailure, msg, nil
		}
		return outcomeUnknown, "", fmt.Errorf("exec probe %q in container %s: %w", cmd, containerID, err)
	}
	if res.ExitCode != 0 {
		return outcomeFailure, out, nil
	}
	return outcomeSuccess, out, nil
}

// capOutput joins stdout and stderr, keeping at most maxExecOutput bytes.
func capOutput(stdout, stderr []byte) string {
	n := min(len(stdout), maxExecOutput)
	m := min(len(stderr), maxExecOutput-n)
	var b strings.Builder
	b.Grow(n + m)
	b.Write(stdout[:n])
	b.Write(stderr[:m])
	return b.String()
}

// expandStatic expands $(VAR) references in cmd with the literal values of
// the container's env entries (the kubelet's
// ExpandContainerCommandOnlyStatic: probes do not see the downward API,
// config maps or secrets, so a variable set with valueFrom expands to the
// empty string). $$ escapes a dollar; unknown references stay as written.
func expandStatic(cmd []string, env []v1.EnvVar) []string {
	if !slices.ContainsFunc(cmd, func(arg string) bool { return strings.Contains(arg, "$") }) {
		return cmd
	}
	vars := make(map[string]string, len(env))
	for _, e := range env {
		vars[e.Name] = e.Value
	}
	out := make([]string, len(cmd))
	for i, arg := range cmd {
		out[i] = expand(arg, vars)
	}
	return out
}

// expand is the API's $(VAR) expansion (third_party/forked/golang/expansion).
func expand(in string, vars map[string]string) string {
	if !strings.Contains(in, "$") {
		return in
	}
	var b strings.Builder
	checkpoint := 0
	for cur := 0; cur < len(in); cur++ {
		if in[cur] != '$' || cur+1 >= len(in) {
			continue
		}
		b.WriteString(in[checkpoint:cur])
		read, isVar, advance := readVariable(in[cur+1:])
		if isVar {
			if v, ok := vars[read]; ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + read + ")")
			}
		} else {
			b.WriteString(read)
		}
		cur += advance
		checkpoint = cur + 1
	}
	b.WriteString(in[checkpoint:])
	return b.String()
}

// readVariable reads what follows a '$': a $(name) reference, an escaped
// '$', or anything else kept as it is.
func readVariable(in string) (string, bool, int) {
	switch in[0] {
	case '$':
		return "$", false, 1
	case '(':
		for i := 1; i < len(in); i++ {
			if in[i] == ')' {
				return in[1:i], true, i + 1
			}
		}
		return "$(", false, 1
	default:
		return "$" + in[:1], false, 1
	}
}
