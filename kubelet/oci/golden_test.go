package oci

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/xeipuuv/gojsonschema"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// specSchema returns the runtime-spec JSON schema of the runtime-spec
// module in go.mod (its schema/ directory), loaded once per test binary.
// gojsonschema is the validator the runtime-spec project itself uses
// (schema/validate.go); stricter draft validators reject its
// "defs.json#definitions/x" references.
func specSchema(t testing.TB) *gojsonschema.Schema {
	t.Helper()
	sch, err := loadSpecSchema()
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

var loadSpecSchema = sync.OnceValues(func() (*gojsonschema.Schema, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/opencontainers/runtime-spec").Output()
	if err != nil {
		return nil, fmt.Errorf("locating the runtime-spec module: %w", err)
	}
	dir := strings.TrimSpace(string(out))
	sch, err := gojsonschema.NewSchema(gojsonschema.NewReferenceLoader("file://" + filepath.Join(dir, "schema", "config-schema.json")))
	if err != nil {
		return nil, fmt.Errorf("loading the runtime-spec schema: %w", err)
	}
	return sch, nil
})

// validateSpec validates data (a config.json) against the schema.
func validateSpec(t testing.TB, sch *gojsonschema.Schema, data []byte) {
	t.Helper()
	res, err := sch.Validate(gojsonschema.NewBytesLoader(data))
	if err != nil {
		t.Fatalf("validating config.json: %v", err)
	}
	if !res.Valid() {
		var msgs []string
		for _, e := range res.Errors() {
			msgs = append(msgs, e.String())
		}
		t.Fatalf("config.json does not validate against the runtime-spec schema:\n%s", strings.Join(msgs, "\n"))
	}
}

// TestGoldenSpecs compares the config.json of representative pods with
// testdata/<name>.json (go test -update rewrites them) and validates each
// against the runtime-spec schema. The RuntimeDefault seccomp profile in
// resources-security.json is moby/profiles' for linux/amd64: the goldens
// are for that platform, the one nodekit's CI runs on.
func TestGoldenSpecs(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the golden seccomp profile is linux/amd64's")
	}
	sch := specSchema(t)
	for _, tc := range goldenPods() {
		t.Run(tc.name, func(t *testing.T) {
			f := newTestFS(t)
			opts := testOptions(f, "ctr-"+tc.name)
			if tc.opts != nil {
				tc.opts(&opts)
			}
			c := findContainer(tc.pod, tc.container)
			s, err := GenerateSpec(context.Background(), tc.pod, c, opts)
			if err != nil {
				t.Fatalf("GenerateSpec: %v", err)
			}
			got, err := json.MarshalIndent(s, "", "\t")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			validateSpec(t, sch, got)
			golden := filepath.Join("testdata", tc.name+".json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if d := cmp.Diff(string(want), string(got)); d != "" {
				t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", golden, d)
			}
		})
	}
}
