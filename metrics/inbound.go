package metrics

import "github.com/prometheus/client_golang/prometheus"

var (
	// InboundMessages counts messages the IMAP poller recorded, by outcome and the rule or
	// reason behind it (e.g. ignored_automatic/auto_submitted, rate_limited/sender_limit).
	InboundMessages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assistd_inbound_messages_total", Help: "Inbound emails recorded by the poller, by outcome and reason.",
	}, []string{"outcome", "reason"})
	// AutoAnswers counts automatic answers queued, by variant (ticket, closed, no_ticket).
	AutoAnswers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assistd_auto_answers_total", Help: "Automatic answers to inbound email queued, by variant.",
	}, []string{"variant"})
	// InboundBounces counts delivery reports by whether they named one of our emails.
	InboundBounces = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assistd_inbound_bounces_total", Help: "Delivery reports received, by whether they were linked to an outbox row (linked, unlinked).",
	}, []string{"result"})
	// IMAPLastPoll is when the poller last finished reading the mailbox.
	IMAPLastPoll = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "assistd_imap_last_poll_timestamp_seconds", Help: "Unix time at which the poller last finished reading the mailbox.",
	})
	// IMAPLag observes the time from a message's arrival (its INTERNALDATE) to its recording.
	IMAPLag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "assistd_imap_lag_seconds", Help: "Time from an inbound email's arrival in the mailbox to its recording.",
		Buckets: prometheus.ExponentialBuckets(0.05, 2.5, 12),
	})
	// IMAPBatch observes how many messages each recorded batch held.
	IMAPBatch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "assistd_imap_batch_messages", Help: "Messages per batch recorded by the poller.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10),
	})
	// IMAPErrors counts poller sessions that ended on an error, by stage (connect, fetch,
	// record, dispose, lease).
	IMAPErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assistd_imap_errors_total", Help: "Poller errors by stage (connect, fetch, record, dispose, lease).",
	}, []string{"stage"})
	// IMAPLeaseHeld is 1 while this instance holds the mailbox.
	IMAPLeaseHeld = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "assistd_imap_lease_held", Help: "1 while this instance holds the mailbox lease, else 0.",
	})
)

func init() {
	register(InboundMessages, AutoAnswers, InboundBounces, IMAPLastPoll, IMAPLag, IMAPBatch, IMAPErrors, IMAPLeaseHeld)
}
