package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// HealthCheckOptions configures a HealthCheckServer. The zero value listens
// on all addresses with net.ListenConfig.
type HealthCheckOptions struct {
	// Addresses are the addresses to listen on for every health check
	// node port (kube-proxy: the node port addresses). Empty means all.
	Addresses []netip.Addr
	// Listen opens a TCP listener; nil means net.ListenConfig.Listen.
	// Tests pass one that listens inside a network namespace.
	Listen func(ctx context.Context, network, address string) (net.Listener, error)
}

// HealthCheckServer serves the healthCheckNodePort of every Service with
// externalTrafficPolicy Local, as kube-proxy does, so that load balancers
// send traffic only to nodes with local endpoints: any path answers with
// status 200 when the service has local ready endpoints and the proxy is
// healthy, 503 otherwise, with the headers Content-Type:
// application/json, X-Content-Type-Options: nosniff and
// X-Load-Balancing-Endpoint-Weight: <count>, and the body
//
//	{
//		"service": {
//			"namespace": "ns",
//			"name": "svc"
//		},
//		"localEndpoints": 2,
//		"serviceProxyHealthy": true
//	}
//
// The Syncer calls Update after each sync. HealthCheckServer is safe for
// concurrent use.
type HealthCheckServer struct {
	opts HealthCheckOptions

	mu       sync.RWMutex
	services map[types.NamespacedName]*hcService
	healthy  bool
	closed   bool
}

type hcService struct {
	port    uint16
	count   int
	servers []*http.Server
}

// NewHealthCheckServer returns a server with no services.
func NewHealthCheckServer(opts HealthCheckOptions) *HealthCheckServer {
	if opts.Listen == nil {
		var lc net.ListenConfig
		opts.Listen = lc.Listen
	}
	return &HealthCheckServer{opts: opts, services: map[types.NamespacedName]*hcService{}, healthy: true}
}

// Update makes the server serve exactly services: it opens the ports of
// new services (or of services whose port changed), closes those of
// services that are gone, and records the local endpoint counts and
// whether the proxy is healthy (serviceProxyHealthy; 503 when not). A port
// that cannot be opened is reported in the returned error and retried at
// the next Update; the other services are served regardless.
func (h *HealthCheckServer) Update(ctx context.Context, services map[types.NamespacedName]HealthCheckService, proxyHealthy bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("health check server is closed")
	}
	h.healthy = proxyHealthy
	for nn, s := range h.services {
		if want, ok := services[nn]; !ok || want.Port != s.port {
			shutdownAll(s.servers)
			delete(h.services, nn)
		}
	}
	var errs []error
	for nn, want := range services {
		if s, ok := h.services[nn]; ok {
			s.count = want.LocalEndpoints
			continue
		}
		s := &hcService{port: want.Port, count: want.LocalEndpoints}
		addrs := []string{":" + strconv.Itoa(int(want.Port))}
		if len(h.opts.Addresses) > 0 {
			addrs = addrs[:0]
			for _, a := range h.opts.Addresses {
				addrs = append(addrs, net.JoinHostPort(a.String(), strconv.Itoa(int(want.Port))))
			}
		}
		var failed error
		for _, addr := range addrs {
			ln, err := h.opts.Listen(ctx, "tcp", addr)
			if err != nil {
				failed = fmt.Errorf("health check node port %s for service %s: %w", addr, nn, err)
				break
			}
			srv := &http.Server{Handler: hcHandler{h: h, nn: nn}, ReadHeaderTimeout: 10 * time.Second}
			s.servers = append(s.servers, srv)
			go srv.Serve(ln) //nolint:errcheck // returns http.ErrServerClosed on Close.
		}
		if failed != nil {
			shutdownAll(s.servers)
			errs = append(errs, failed)
			continue
		}
		h.services[nn] = s
	}
	return errors.Join(errs...)
}

// Close stops every server.
func (h *HealthCheckServer) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for nn, s := range h.services {
		shutdownAll(s.servers)
		delete(h.services, nn)
	}
	h.closed = true
}

func shutdownAll(servers []*http.Server) {
	for _, s := range servers {
		s.Close()
	}
}

type hcHandler struct {
	h  *HealthCheckServer
	nn types.NamespacedName
}

func (hh hcHandler) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	hh.h.mu.RLock()
	s, ok := hh.h.services[hh.nn]
	count, healthy := 0, hh.h.healthy
	if ok {
		count = s.count
	}
	hh.h.mu.RUnlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Load-Balancing-Endpoint-Weight", strconv.Itoa(count))
	if count != 0 && healthy {
		w.WriteHeader(http.StatusOK)
	} else {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintf(w, "{\n\t\"service\": {\n\t\t\"namespace\": %q,\n\t\t\"name\": %q\n\t},\n\t\"localEndpoints\": %d,\n\t\"serviceProxyHealthy\": %v\n}",
		hh.nn.Namespace, hh.nn.Name, count, healthy)
}
