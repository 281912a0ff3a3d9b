// Package metricstest is the test helper of package metrics: it scrapes
// and parses Prometheus text and finds series by name and labels.
package metricstest
