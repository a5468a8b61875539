package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	v1 "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// objects are the inputs read from files.
type objects struct {
	services []*v1.Service
	slices   []*discovery.EndpointSlice
}

func readFiles(paths []string) (*objects, error) {
	objs := &objects{}
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		err = objs.read(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	return objs, nil
}

// read decodes every YAML document of r.
func (o *objects) read(r io.Reader) error {
	yr := utilyaml.NewYAMLReader(bufio.NewReader(r))
	for doc := 1; ; doc++ {
		data, err := yr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("document %d: %w", doc, err)
		}
		if strings.TrimSpace(string(data)) == "" {
			continue
		}
		js, err := yaml.YAMLToJSON(data)
		if err != nil {
			return fmt.Errorf("document %d: %w", doc, err)
		}
		if err := o.add(js); err != nil {
			return fmt.Errorf("document %d: %w", doc, err)
		}
	}
}

// add decodes one object (or a List of them) from JSON.
func (o *objects) add(js []byte) error {
	if string(js) == "null" {
		return nil
	}
	var head struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Items      []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return err
	}
	switch {
	case strings.HasSuffix(head.Kind, "List"):
		for i, item := range head.Items {
			if err := o.add(item); err != nil {
				return fmt.Errorf("item %d: %w", i, err)
			}
		}
	case head.Kind == "Service" && head.APIVersion == "v1":
		svc := &v1.Service{}
		if err := json.Unmarshal(js, svc); err != nil {
			return err
		}
		o.services = append(o.services, svc)
	case head.Kind == "EndpointSlice" && head.APIVersion == "discovery.k8s.io/v1":
		s := &discovery.EndpointSlice{}
		if err := json.Unmarshal(js, s); err != nil {
			return err
		}
		o.slices = append(o.slices, s)
	}
	return nil
}
