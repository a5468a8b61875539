package agent

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Handler serves the agent's state:
//
//	/pods           the pods with their statuses (a v1 PodList, JSON)
//	/stats/summary  the kubelet Summary API (404 without a stats collector)
//	/metrics        stats, proxy and engine metrics (Prometheus text format)
//	/healthz        200 "ok" when the engine runs and the proxy's last sync
//	                succeeded, 503 with the reason otherwise
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pods", func(w http.ResponseWriter, r *http.Request) {
		list := v1.PodList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodList"}}
		for _, p := range a.Pods() {
			list.Items = append(list.Items, *p)
		}
		writeJSON(w, list)
	})
	mux.HandleFunc("GET /stats/summary", func(w http.ResponseWriter, r *http.Request) {
		if a.opts.Stats == nil {
			http.Error(w, "no stats collector", http.StatusNotFound)
			return
		}
		writeJSON(w, a.opts.Stats.Summary(a.opts.NodeName))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		ok, why := a.Healthy()
		if !ok {
			http.Error(w, why, http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
