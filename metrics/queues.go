package metrics

import (
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

// QueueCollector reports asynq's queues at every scrape, read through an Inspector: how many
// tasks each queue holds by state, how long its oldest pending task has waited, whether it is
// paused, and its processed and failed totals. A scrape while Redis is away reports
// assistd_queue_up 0 instead of failing.
type QueueCollector struct {
	inspector *asynq.Inspector
	// mu keeps concurrent scrapes from running the inspection twice at once.
	mu sync.Mutex

	up, size, latency, paused, processed, failed, scrape *prometheus.Desc
}

// NewQueueCollector builds the collector; register it on Registry (RegisterQueues does).
func NewQueueCollector(inspector *asynq.Inspector) *QueueCollector {
	return &QueueCollector{
		inspector: inspector,
		up:        prometheus.NewDesc("assistd_queue_up", "1 when asynq's queues could be read from Redis at this scrape, else 0.", nil, nil),
		size: prometheus.NewDesc("assistd_queue_tasks", "Tasks in an asynq queue by state (pending, active, scheduled, retry, archived, completed, aggregating).",
			[]string{"queue", "state"}, nil),
		latency: prometheus.NewDesc("assistd_queue_latency_seconds", "How long the oldest pending task of an asynq queue has waited.",
			[]string{"queue"}, nil),
		paused:    prometheus.NewDesc("assistd_queue_paused", "1 when an asynq queue is paused.", []string{"queue"}, nil),
		processed: prometheus.NewDesc("assistd_queue_processed_total", "Tasks an asynq queue has processed, succeeded or failed.", []string{"queue"}, nil),
		failed:    prometheus.NewDesc("assistd_queue_failed_total", "Tasks of an asynq queue whose processing failed.", []string{"queue"}, nil),
		scrape:    prometheus.NewDesc("assistd_queue_scrape_duration_seconds", "Time the inspection of asynq's queues took.", nil, nil),
	}
}

// RegisterQueues adds a QueueCollector over inspector to Registry; the function it returns
// takes it away again, for a system that closes its Redis client.
func RegisterQueues(inspector *asynq.Inspector) (unregister func(), err error) {
	c := NewQueueCollector(inspector)
	if err := Registry.Register(c); err != nil {
		return func() {}, err
	}
	return func() { Registry.Unregister(c) }, nil
}

// Describe implements prometheus.Collector.
func (c *QueueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.size, c.latency, c.paused, c.processed, c.failed, c.scrape} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *QueueCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := time.Now()
	up := 1.0
	queues, err := c.inspector.Queues()
	if err != nil {
		up = 0
	}
	for _, q := range queues {
		info, err := c.inspector.GetQueueInfo(q)
		if err != nil {
			// A queue deleted meanwhile, or Redis gone mid-scrape: report what was read.
			up = 0
			continue
		}
		for state, n := range map[string]int{"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled,
			"retry": info.Retry, "archived": info.Archived, "completed": info.Completed, "aggregating": info.Aggregating} {
			ch <- prometheus.MustNewConstMetric(c.size, prometheus.GaugeValue, float64(n), q, state)
		}
		ch <- prometheus.MustNewConstMetric(c.latency, prometheus.GaugeValue, info.Latency.Seconds(), q)
		paused := 0.0
		if info.Paused {
			paused = 1
		}
		ch <- prometheus.MustNewConstMetric(c.paused, prometheus.GaugeValue, paused, q)
		ch <- prometheus.MustNewConstMetric(c.processed, prometheus.CounterValue, float64(info.ProcessedTotal), q)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(info.FailedTotal), q)
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(c.scrape, prometheus.GaugeValue, time.Since(start).Seconds())
}
