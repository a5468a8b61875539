package manifest

import (
	"errors"
	"testing"
)

// FuzzDecodeFile: whatever a manifest file holds, decoding and preparing it
// never panics, and a refusal is a *DocumentError naming the file.
func FuzzDecodeFile(f *testing.F) {
	for _, seed := range []string{
		webYAML,
		"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a}\n  spec: {ports: [{port: 80}]}\n",
		"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i, ports: [{containerPort: 99999}]}]}\n",
		"---\n---\n# nothing\n",
		`{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},"spec":{"clusterIP":"None"}}`,
		"apiVersion: v1\nkind: Pod\nmetadata: [\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := decodeFile("f.yaml", data)
		if err != nil {
			var de *DocumentError
			if !errors.As(err, &de) || de.File != "f.yaml" {
				t.Fatalf("error %v is not a *DocumentError naming the file", err)
			}
			return
		}
		src := NewSource(t.TempDir(), Options{NodeName: "n"})
		for _, o := range objs {
			if o.pod != nil {
				_ = preparePod(o.pod, "n")
			} else {
				_ = prepareService(o.service, src.opts.ServiceCIDR)
			}
		}
	})
}
