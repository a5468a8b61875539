package kubelet

import (
	"encoding/json"
	"hash/fnv"

	v1 "k8s.io/api/core/v1"
)

// HashContainer returns the definition hash of a container: FNV-32a over the
// container's JSON encoding, as kubelets up to 1.30 computed it. The Syncer
// stores it on each container it creates (annotation
// io.kubernetes.container.hash) and restarts a running container whose
// desired definition no longer hashes the same.
//
// Kubelets since 1.31 hash only name and image, because the API server makes
// every other field immutable. Pods given to a Syncer do not necessarily come
// from an API server, so the whole definition is hashed: for pods that do, the
// two rules agree.
func HashContainer(c *v1.Container) uint64 {
	h := fnv.New32a()
	b, err := json.Marshal(c)
	if err != nil {
		// v1.Container always marshals; keep the hash defined regardless.
		b = []byte(c.Name + "\x00" + c.Image)
	}
	_, _ = h.Write(b)
	return uint64(h.Sum32())
}
