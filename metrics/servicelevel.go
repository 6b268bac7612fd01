package metrics

import "github.com/prometheus/client_golang/prometheus"

var (
	// FirstResponseSeconds observes the business time each ticket's first staff answer took,
	// by department.
	FirstResponseSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "assistd_first_response_seconds", Help: "Business time to the first staff answer, by department.",
		Buckets: []float64{60, 300, 900, 1800, 3600, 7200, 14400, 28800, 57600, 86400, 172800},
	}, []string{"department"})
	// SLABreaches counts the service-level targets missed (the breach alert sent), by department
	// and target (first_response, next_response, resolution).
	SLABreaches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assistd_sla_breaches_total", Help: "Service-level targets missed, by department and target.",
	}, []string{"department", "target"})
)

func init() { register(FirstResponseSeconds, SLABreaches) }
