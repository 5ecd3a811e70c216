package main

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// newRegistry is the process's own registry (never the global one) with the
// Go, process and build-info collectors and bootsrv_build_info.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "bootsrv_build_info",
		Help: "Always 1; labels carry the bootsrv version and the Go version it was built with.",
	}, []string{"version", "goversion"})
	info.WithLabelValues(buildVersion(), runtime.Version()).Set(1)
	reg.MustRegister(info)
	return reg
}
