// Package metricstest reads what a Prometheus registry holds, for the tests
// of the packages that record metrics (kubelet, kubelet/prober): every
// sample as one flat map, so that a test states the series it expects by
// name and labels.
package metricstest
