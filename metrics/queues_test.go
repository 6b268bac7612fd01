package metrics_test

import (
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/assistd/assistd/metrics"
)

func TestQueueCollectorReportsTasksByStateAndLatencyPerQueue(t *testing.T) {
	m := miniredis.RunT(t)
	m.ClockTTL(true)
	rc := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	defer rc.Close()
	client := asynq.NewClientFromRedisClient(rc)
	for range 3 {
		if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue("critical")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue("low"), asynq.ProcessIn(time.Hour)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)

	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewQueueCollector(asynq.NewInspectorFromRedisClient(rc)))
	got := gather(t, reg)
	for name, want := range map[string]float64{
		`assistd_queue_up{}`: 1,
		`assistd_queue_tasks{queue="critical",state="pending"}`: 3,
		`assistd_queue_tasks{queue="critical",state="active"}`:  0,
		`assistd_queue_tasks{queue="low",state="scheduled"}`:    1,
		`assistd_queue_tasks{queue="low",state="pending"}`:      0,
		`assistd_queue_paused{queue="critical"}`:                0,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if l := got[`assistd_queue_latency_seconds{queue="critical"}`]; l <= 0 || l > 60 {
		t.Errorf("latency of critical = %v s, want the age of its oldest pending task", l)
	}
	if l := got[`assistd_queue_latency_seconds{queue="low"}`]; l != 0 {
		t.Errorf("latency of low = %v s, want 0 (nothing pending)", l)
	}

	m.Close()
	got = gather(t, reg)
	if got[`assistd_queue_up{}`] != 0 {
		t.Errorf("assistd_queue_up = %v with Redis gone, want 0", got[`assistd_queue_up{}`])
	}
}

// gather flattens a registry into "name{label="value",...}" → value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName() + "{"
			for i, l := range m.GetLabel() {
				if i > 0 {
					key += ","
				}
				key += l.GetName() + `="` + l.GetValue() + `"`
			}
			key += "}"
			switch {
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}
