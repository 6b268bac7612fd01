package inbound

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/metrics"
	"github.com/assistd/assistd/notify"
	"github.com/assistd/assistd/storage"
)

// fetched is one message on its way through a batch.
type fetched struct {
	msg     *mail.Inbound
	verdict verdict
	arrived time.Time
	// ticketID is the ticket its record names: the one its answer is about, nil for none.
	ticketID *int64
	// customer says the mail is known to be from a customer (see Config.CustomerAnswersPerHour).
	customer bool
}

// record classifies a fetched batch and records it with its answers in one transaction, then
// hands the answers to the queue. It returns the UIDs to move to the done folder and those to
// move aside.
func (s *session) record(ctx context.Context, batch []pending, msgs []*imapclient.FetchMessageBuffer) (done, rejected []imap.UID, err error) {
	items := s.classify(batch, msgs)
	found, err := s.p.resolveTickets(ctx, items)
	if err != nil {
		return nil, nil, err
	}
	recs := s.p.composeRecords(items, found)
	res, err := s.store(ctx, batch, recs)
	if err != nil {
		return nil, nil, err
	}
	s.p.enqueue(ctx, res.OutboxIDs)
	done, rejected = s.p.count(items, recs, res)
	return done, rejected, nil
}

// classify parses and classifies each fetched message. Mail that may not be answered (the
// backlog below the cursor) is recorded for the reason the session gives it.
func (s *session) classify(batch []pending, msgs []*imapclient.FetchMessageBuffer) []fetched {
	p := s.p
	answer := make(map[imap.UID]bool, len(batch))
	for _, m := range batch {
		answer[m.uid] = m.answer
	}
	items := make([]fetched, 0, len(msgs))
	for _, buf := range msgs {
		if buf.UID == 0 {
			continue
		}
		header, body := buf.FindBodySection(headerSection), buf.FindBodySection(textSection)
		if len(buf.BodySection) == 0 || (header == nil && answer[buf.UID]) {
			// Gone while we fetched it (expunged or moved by another session): no section at all,
			// or NIL for it, as Dovecot answers. Nothing to record. Were it still there, it sits
			// below the cursor and the next connection sweeps it, recording it as unparseable
			// if it still cannot be read.
			p.log.Debug("fetched message had no content; skipped", "uid", buf.UID)
			continue
		}
		m, perr := mail.ParseInbound(header, body)
		var v verdict
		switch {
		case perr != nil:
			m = &mail.Inbound{DedupeKey: mail.UnreadableKey(header, body)}
			v = verdict{Outcome: storage.InboundUnparseable, Reason: ReasonMalformed}
		case !answer[buf.UID]:
			v = p.cls.classify(m)
			if v.Variant != "" {
				v = verdict{Outcome: storage.InboundBacklog, Reason: s.oldReason}
			}
		default:
			v = p.cls.classify(m)
		}
		m.UID, m.InternalDate = uint32(buf.UID), buf.InternalDate
		items = append(items, fetched{msg: m, verdict: v, arrived: buf.InternalDate})
	}
	return items
}

// resolveTickets settles the verdicts that name a ticket against the tickets the database
// knows, tells the mail known to be from a customer, and returns those tickets by number.
func (p *Poller) resolveTickets(ctx context.Context, items []fetched) (map[string]storage.InboundTicket, error) {
	var numbers, senders []string
	for _, it := range items {
		if it.verdict.Number != "" {
			numbers = append(numbers, it.verdict.Number)
		}
		if it.verdict.Variant != "" {
			senders = append(senders, it.msg.From, it.msg.ReturnPath)
		}
	}
	known, err := p.deps.Store.KnownCustomerEmails(ctx, senders)
	if err != nil {
		return nil, fmt.Errorf("look up customers: %w", err)
	}
	var found map[string]storage.InboundTicket
	if len(numbers) > 0 {
		if found, err = p.deps.Store.InboundTickets(ctx, numbers); err != nil {
			return nil, fmt.Errorf("look up tickets: %w", err)
		}
	}
	for i := range items {
		it := &items[i]
		t, ok := found[it.verdict.Number]
		it.customer = isCustomer(it.verdict, it.msg, known)
		it.verdict = resolve(it.verdict, t, ok, it.msg.ReturnPath)
		if ok && it.verdict.Variant != mail.AutoAnswerNoTicket {
			it.ticketID = &t.ID
		}
	}
	return found, nil
}

// composeRecords turns each message into its record, with its automatic answer when one is
// due. An answer that cannot be composed sets its message aside as unparseable.
func (p *Poller) composeRecords(items []fetched, found map[string]storage.InboundTicket) []storage.InboundRecord {
	recs := make([]storage.InboundRecord, len(items))
	answers := make([]mail.AutoAnswer, len(items))
	for i, it := range items {
		m, v := it.msg, it.verdict
		recs[i] = storage.InboundRecord{DedupeKey: m.DedupeKey, UID: m.UID, From: mail.HeaderText(m.From),
			Subject: mail.HeaderText(m.Subject), Outcome: v.Outcome, Reason: v.Reason, TicketID: it.ticketID}
		if len(v.bounce) > 0 {
			recs[i].Bounce = &storage.InboundBounce{MessageIDs: v.bounce, Status: v.bounceStatus,
				Permanent: strings.HasPrefix(v.bounceStatus, "5.")}
		}
		if v.Variant == "" {
			continue
		}
		number := ""
		if v.Variant != mail.AutoAnswerNoTicket {
			number = v.Number
		}
		answers[i] = mail.AutoAnswer{Variant: v.Variant, Number: number, Language: found[v.Number].Language,
			To: m.ReturnPath, InReplyTo: m.MessageID, References: m.References, HasFiles: m.HasAttachments()}
		// Only mail known to be about a ticket of ours (our signed Message-ID, or the subject tag
		// from the ticket's customer) has its subject repeated: a stranger's would let anyone
		// have our address send a line of their choosing to an address of their choosing.
		if v.Variant != mail.AutoAnswerNoTicket {
			answers[i].OriginalSubject = m.Subject
		}
	}
	outs, errs := p.composeAll(answers, recs)
	for i := range items {
		it, rec := &items[i], &recs[i]
		if answers[i].Variant == "" {
			continue
		}
		switch cerr := errs[i]; {
		case errors.Is(cerr, mail.ErrInvalidAddress):
			rec.Outcome, rec.Reason = storage.InboundUnparseable, ReasonBadReturnPath
			it.verdict.Outcome = rec.Outcome
		case cerr != nil:
			p.log.Error("cannot compose an automatic answer", "uid", it.msg.UID, "err", cerr)
			rec.Outcome, rec.Reason = storage.InboundUnparseable, "compose_failed"
			it.verdict.Outcome = rec.Outcome
		default:
			rec.Answer = &outs[i]
			rec.LimitKey = it.msg.ReturnPath + "|" + answers[i].Number
			rec.Customer = it.customer
		}
	}
	return recs
}

// composeAll renders automatic answers in parallel, each for its record's ticket; an entry with
// no Variant is skipped.
func (p *Poller) composeAll(answers []mail.AutoAnswer, recs []storage.InboundRecord) ([]storage.Email, []error) {
	outs, errs := make([]storage.Email, len(answers)), make([]error, len(answers))
	emails := notify.Emails{Composer: p.deps.Composer}
	var (
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(answers); i = int(next.Add(1) - 1) {
				if answers[i].Variant != "" {
					outs[i], errs[i] = emails.AutoAnswer(answers[i], recs[i].TicketID)
				}
			}
		}()
	}
	wg.Wait()
	return outs, errs
}

// store records a batch's messages, their answers and the cursor past the batch in one
// transaction. A batch the database refuses is recorded one message at a time.
func (s *session) store(ctx context.Context, batch []pending, recs []storage.InboundRecord) (storage.InboundResult, error) {
	p := s.p
	var last uint32
	for _, b := range batch {
		last = max(last, uint32(b.uid))
	}
	record := storage.InboundBatch{Mailbox: p.key, UIDValidity: s.uidValidity, LastUID: last, Records: recs,
		Limits: storage.AnswerLimits{PerKey: p.cfg.AnswerWindow, PerHour: p.cfg.AnswersPerHour,
			CustomerPerHour: p.cfg.CustomerAnswersPerHour}}
	res, err := s.recordWithRetry(ctx, record)
	if storage.Refused(err) {
		res, err = s.recordOneByOne(ctx, record, err)
	}
	if err != nil {
		return res, fmt.Errorf("record batch: %w", err)
	}
	s.last = max(s.last, last)
	return res, nil
}

// recordOneByOne records a batch the database refused one message at a time, so that a message
// it refuses does not hold back the others, nor the mailbox after them: that one is recorded
// bare, as unparseable for ReasonRefused, and set aside. Its record in b.Records (the caller's)
// is replaced by the bare one.
func (s *session) recordOneByOne(ctx context.Context, b storage.InboundBatch, cause error) (storage.InboundResult, error) {
	s.p.log.Warn("inbound batch refused by the database; recording its messages one by one", "messages", len(b.Records), "err", cause)
	n := len(b.Records)
	res := storage.InboundResult{Outcomes: make([]string, n), Reasons: make([]string, n), Linked: make([]bool, n)}
	for i := range b.Records {
		one := b
		one.Records, one.LastUID = b.Records[i:i+1], min(b.Records[i].UID, b.LastUID)
		r, err := s.recordWithRetry(ctx, one)
		if storage.Refused(err) {
			s.p.log.Error("inbound message refused by the database: recorded bare and set aside", "uid", b.Records[i].UID, "err", err)
			b.Records[i] = storage.InboundRecord{DedupeKey: b.Records[i].DedupeKey, UID: b.Records[i].UID,
				Outcome: storage.InboundUnparseable, Reason: ReasonRefused}
			r, err = s.recordWithRetry(ctx, one)
		}
		if err != nil {
			return res, err
		}
		res.Outcomes[i], res.Reasons[i], res.Linked[i] = r.Outcomes[0], r.Reasons[0], r.Linked[0]
		res.OutboxIDs = append(res.OutboxIDs, r.OutboxIDs...)
	}
	// The batch's cursor: it may lie past its last record (a message gone while it was fetched).
	if _, err := s.recordWithRetry(ctx, storage.InboundBatch{Mailbox: b.Mailbox, UIDValidity: b.UIDValidity, LastUID: b.LastUID,
		Limits: b.Limits}); err != nil {
		return res, err
	}
	return res, nil
}

// recordWithRetry records a batch again when another poller raced it: the second time the
// messages it recorded are known and skipped.
func (s *session) recordWithRetry(ctx context.Context, b storage.InboundBatch) (storage.InboundResult, error) {
	for attempt := 0; ; attempt++ {
		res, err := s.p.deps.Store.RecordInbound(ctx, b)
		if !errors.Is(err, storage.ErrInboundRace) || attempt == 3 {
			return res, err
		}
	}
}

// enqueue hands the answers' outbox rows to the queue; the outbox relay sends those it cannot.
func (p *Poller) enqueue(ctx context.Context, outboxIDs []int64) {
	if len(outboxIDs) == 0 {
		return
	}
	if err := p.deps.Enqueue(ctx, outboxIDs); err != nil {
		p.log.Warn("automatic answers queued in the outbox but not enqueued: the relay will send them", "count", len(outboxIDs), "err", err)
	}
}

// count counts what a recorded batch came to in the metrics, and returns the UIDs to move to
// the done folder and those to move aside.
func (p *Poller) count(items []fetched, recs []storage.InboundRecord, res storage.InboundResult) (done, rejected []imap.UID) {
	recorded := time.Now()
	metrics.IMAPBatch.Observe(float64(len(recs)))
	for i, rec := range recs {
		outcome := res.Outcomes[i]
		m := items[i].msg
		if outcome == storage.InboundUnparseable || (outcome == "" && items[i].verdict.Outcome == storage.InboundUnparseable) {
			rejected = append(rejected, imap.UID(m.UID))
		} else {
			done = append(done, imap.UID(m.UID))
		}
		if outcome == "" {
			continue // recorded before, by us or by another poller
		}
		reason := rec.Reason
		if outcome == storage.InboundRateLimited {
			reason = res.Reasons[i]
		}
		metrics.InboundMessages.WithLabelValues(outcome, reason).Inc()
		switch outcome {
		case storage.InboundAnsweredTicket, storage.InboundAnsweredClosed, storage.InboundAnsweredNoTicket:
			metrics.AutoAnswers.WithLabelValues(items[i].verdict.Variant).Inc()
		}
		if rec.Bounce != nil || items[i].verdict.Reason == ReasonDeliveryReport || items[i].verdict.Reason == ReasonBounce {
			linked := "unlinked"
			if res.Linked[i] {
				linked = "linked"
			}
			metrics.InboundBounces.WithLabelValues(linked).Inc()
		}
		if !items[i].arrived.IsZero() && items[i].verdict.Outcome != storage.InboundBacklog {
			metrics.IMAPLag.Observe(recorded.Sub(items[i].arrived).Seconds())
		}
		p.log.Debug("inbound message recorded", "uid", m.UID, "outcome", outcome, "reason", reason)
	}
	return done, rejected
}
