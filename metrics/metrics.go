// Package metrics holds assistd's Prometheus collectors, registered on one registry that
// /metrics serves. Labels carry kinds and outcomes, never customer data.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Registry is what /metrics serves.
var Registry = prometheus.NewRegistry()

var (
	// TicketsCreated counts tickets accepted by the API.
	TicketsCreated = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "assistd_tickets_created_total", Help: "Tickets accepted by the API.",
	})
	// EmailsSent counts emails by kind (confirmation, department, update, ...) and result
	// (sent, retry, failed).
	EmailsSent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assistd_emails_total", Help: "Outgoing emails by kind and result (sent, retry, failed).",
	}, []string{"kind", "result"})
	// SecretsPurged counts passwords destroyed, by path (task or sweep).
	SecretsPurged = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assistd_secrets_purged_total", Help: "Customer passwords destroyed at expiry, by path (task, sweep).",
	}, []string{"path"})
	// PasswordReveals counts staff reveals by outcome.
	PasswordReveals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assistd_password_reveals_total", Help: "Staff password reveals by outcome (revealed, expired, failed).",
	}, []string{"outcome"})
	// AttachmentsUploaded counts files stored, by kind.
	AttachmentsUploaded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assistd_attachments_uploaded_total", Help: "Attachment files stored, by kind (png, jpeg, gif, webp, pdf, text, zip).",
	}, []string{"kind"})
	// AttachmentScans counts clamd's verdicts and failures.
	AttachmentScans = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assistd_attachment_scans_total", Help: "Attachment scans by result (clean, infected, unavailable).",
	}, []string{"result"})
	// AttachmentsQuarantined counts infected files: quarantined, never served.
	AttachmentsQuarantined = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "assistd_attachments_quarantined_total", Help: "Attachment files clamd found infected: quarantined and never served.",
	})
	// AttachmentsRemoved counts files destroyed, by reason.
	AttachmentsRemoved = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assistd_attachments_removed_total", Help: "Attachment objects deleted from the store, by reason (unattached, confidential, erasure).",
	}, []string{"reason"})
	// OutboxRelayed counts outbox rows re-enqueued by the relay.
	OutboxRelayed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "assistd_outbox_relayed_total", Help: "Outbox rows the relay enqueued again after a crash or a Redis data loss.",
	})
	// TasksProcessed counts asynq tasks by type and result.
	TasksProcessed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assistd_tasks_total", Help: "Background tasks by type and result (ok, error).",
	}, []string{"type", "result"})
	// TaskDuration observes task handling time by type.
	TaskDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "assistd_task_duration_seconds", Help: "Background task handling time by type.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 10),
	}, []string{"type"})
	// HTTPDuration observes request durations by route pattern and status class.
	HTTPDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "assistd_http_request_duration_seconds", Help: "HTTP request durations by route and status code.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
	}, []string{"route", "code"})
	// DBGroupSize observes how many calls each grouped database statement carried, by statement
	// (intake, customer, new_ticket_read, ticket_processed): near 1 at low load, larger as load
	// grows.
	DBGroupSize = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "assistd_db_group_size", Help: "Calls carried by each grouped database statement, by statement.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 7),
	}, []string{"statement"})
)

// own is every collector of assistd's own families on Registry (the queue collector aside,
// registered by RegisterQueues); docs/scaling.md documents each family and its labels.
var own []prometheus.Collector

func register(cs ...prometheus.Collector) {
	own = append(own, cs...)
	Registry.MustRegister(cs...)
}

func init() {
	Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	register(TicketsCreated, EmailsSent, SecretsPurged, PasswordReveals, AttachmentsUploaded, AttachmentScans, AttachmentsQuarantined, AttachmentsRemoved, OutboxRelayed, TasksProcessed, TaskDuration, HTTPDuration, DBGroupSize)
}
