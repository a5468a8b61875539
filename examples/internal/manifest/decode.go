package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// object is one decoded Pod or Service with where it came from.
type object struct {
	doc     int
	pod     *v1.Pod
	service *v1.Service
}

// decodeFile splits data into YAML (or JSON) documents and decodes each as a
// Pod, a Service or a List of them. Unknown fields are refused, as
// "kubectl apply --validate=strict" refuses them, so that a misspelt field
// is an error rather than silently ignored.
func decodeFile(file string, data []byte) ([]object, error) {
	var out []object
	yr := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for doc := 1; ; doc++ {
		raw, err := yr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, &DocumentError{File: file, Document: doc, Err: err}
		}
		if len(bytes.TrimSpace(stripComments(raw))) == 0 {
			continue
		}
		js, err := yaml.YAMLToJSON(raw)
		if err != nil {
			return nil, &DocumentError{File: file, Document: doc, Err: err}
		}
		objs, err := decodeObject(js, 0)
		if err != nil {
			var de *DocumentError
			if errors.As(err, &de) {
				de.File, de.Document = file, doc
				return nil, de
			}
			return nil, &DocumentError{File: file, Document: doc, Err: err}
		}
		for i := range objs {
			objs[i].doc = doc
		}
		out = append(out, objs...)
	}
}

// stripComments drops YAML comment lines, so that a document holding only
// comments counts as empty.
func stripComments(raw []byte) []byte {
	var b []byte
	for line := range bytes.Lines(raw) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			b = append(b, line...)
		}
	}
	return b
}

func decodeObject(js []byte, depth int) ([]object, error) {
	var tm metav1.TypeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return nil, err
	}
	switch {
	case tm.Kind == "Pod" && tm.APIVersion == "v1":
		pod := &v1.Pod{}
		if err := strictUnmarshal(js, pod); err != nil {
			return nil, &DocumentError{Kind: "Pod", Err: err}
		}
		return []object{{pod: pod}}, nil
	case tm.Kind == "Service" && tm.APIVersion == "v1":
		svc := &v1.Service{}
		if err := strictUnmarshal(js, svc); err != nil {
			return nil, &DocumentError{Kind: "Service", Err: err}
		}
		return []object{{service: svc}}, nil
	case tm.Kind == "List" && tm.APIVersion == "v1" && depth == 0:
		var list struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(js, &list); err != nil {
			return nil, &DocumentError{Kind: "List", Err: err}
		}
		var out []object
		for i, item := range list.Items {
			objs, err := decodeObject(item, depth+1)
			if err != nil {
				var de *DocumentError
				if errors.As(err, &de) {
					de.Field = fmt.Sprintf("items[%d]", i) + dotted(de.Field)
					return nil, de
				}
				return nil, &DocumentError{Kind: "List", Field: fmt.Sprintf("items[%d]", i), Err: err}
			}
			out = append(out, objs...)
		}
		return out, nil
	case tm.Kind == "" || tm.APIVersion == "":
		return nil, errors.New("apiVersion and kind are required")
	default:
		return nil, &DocumentError{Kind: tm.Kind, Field: "kind", Err: fmt.Errorf("%s %q is not supported (only v1 Pod, Service and List)", tm.APIVersion, tm.Kind)}
	}
}

func dotted(field string) string {
	if field == "" {
		return ""
	}
	return "." + field
}

func strictUnmarshal(js []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return err
	}
	return nil
}
