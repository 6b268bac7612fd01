package inbound_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"mime"
	"net/mail"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/assistd/assistd/internal/redisconn"
	"github.com/assistd/assistd/internal/systemtest"
	assistdmail "github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/mail/inbound"
	"github.com/assistd/assistd/mail/memimap"
	"github.com/assistd/assistd/mail/smtpsink"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
)

const support = "suporte@example.pt"

// rig is a poller's world: a database, an IMAP server in memory, Redis, and an SMTP sink that
// receives the answers.
type rig struct {
	t        *testing.T
	st       *storage.Store
	imap     *memimap.Server // nil when the rig talks to another server
	url      string
	deliver  func(raw []byte) error
	status   func(mailbox string) (int, error)
	sink     *smtpsink.Sink
	sender   *assistdmail.Sender
	ids      *assistdmail.IDSigner
	composer *assistdmail.Composer
	redis    redis.UniversalClient
	mini     *miniredis.Miniredis // nil on a real Redis
	log      *slog.Logger
}

func newRig(t *testing.T, st *storage.Store) *rig {
	t.Helper()
	srv, err := memimap.Start("127.0.0.1:0", support, "secret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	r := newRigOn(t, st, srv.URL(), srv.Append, srv.Count)
	r.imap = srv
	return r
}

// newRigOn builds a rig around any IMAP server.
func newRigOn(t *testing.T, st *storage.Store, url string, deliver func([]byte) error, status func(string) (int, error)) *rig {
	t.Helper()
	r := &rig{t: t, st: st, url: url, deliver: deliver, status: status,
		log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	var err error
	if r.sink, err = smtpsink.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.sink.Close() })
	if r.sender, err = assistdmail.NewSender(assistdmail.SenderConfig{URL: r.sink.URL(), PoolSize: 2}); err != nil {
		t.Fatal(err)
	}
	r.ids = assistdmail.NewIDSigner([]byte("poller test key"), "example.pt")
	if r.composer, err = assistdmail.NewComposer(assistdmail.ComposerConfig{From: "Apoio ao Cliente <" + support + ">",
		PublicURL: "https://clientes.example.pt", IDs: r.ids}); err != nil {
		t.Fatal(err)
	}
	r.redis = testRedis(t, &r.mini)
	return r
}

// testRedis is ASSISTD_TEST_REDIS_URL when set, else a miniredis for the test.
func testRedis(t *testing.T, mini **miniredis.Miniredis) redis.UniversalClient {
	if u := os.Getenv("ASSISTD_TEST_REDIS_URL"); u != "" {
		c, err := redisconn.Open(u, redisconn.Tuning{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	m := miniredis.RunT(t)
	*mini = m
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// send delivers outbox rows to the sink as the email:send task does. The worker is another
// process: killing the poller does not interrupt it.
func (r *rig) send(ctx context.Context, ids []int64) error {
	ctx = context.WithoutCancel(ctx)
	for _, id := range ids {
		row, err := r.st.OutboxRowByID(ctx, id)
		if err != nil {
			return err
		}
		if row.State != storage.OutboxPending {
			continue
		}
		from := ""
		if row.EnvelopeFrom != nil {
			from = *row.EnvelopeFrom
		}
		if err := r.sender.Send(ctx, from, *row.Recipient, row.Raw); err != nil {
			return err
		}
		if err := r.st.MarkOutboxDone(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

func (r *rig) poller(cfg inbound.Config, enqueue func(context.Context, []int64) error) *inbound.Poller {
	r.t.Helper()
	cfg.URL = r.url
	if cfg.OwnAddresses == nil {
		cfg.OwnAddresses = []string{support}
	}
	cfg.LeaseTTL = max(cfg.LeaseTTL, 600*time.Millisecond)
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Second
	}
	if enqueue == nil {
		enqueue = r.send
	}
	p, err := inbound.NewPoller(cfg, inbound.Deps{Store: r.st, Composer: r.composer, IDs: r.ids, Redis: r.redis,
		Enqueue: enqueue, Log: r.log})
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

// start runs a poller until the returned stop is called (or the test ends).
func (r *rig) start(p *inbound.Poller) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := p.Run(ctx); err != nil {
			r.t.Errorf("poller: %v", err)
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	r.t.Cleanup(stop)
	return stop
}

// waitAnswers waits up to 30 s for n automatic answers in the sink and returns them.
func (r *rig) waitAnswers(n int) []smtpsink.Mail {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mails, err := r.sink.Wait(ctx, n)
	if err != nil {
		r.t.Fatal(err)
	}
	return mails
}

// eventually waits for cond, checking it often; it fails the test after a generous deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *rig) inbound() []storage.InboundMessage {
	r.t.Helper()
	ms, err := r.st.InboundMessages(context.Background(), 100000, "")
	if err != nil {
		r.t.Fatal(err)
	}
	return ms
}

func (r *rig) waitRecorded(n int) []storage.InboundMessage {
	r.t.Helper()
	var ms []storage.InboundMessage
	eventually(r.t, fmt.Sprintf("%d inbound messages recorded", n), func() bool {
		ms = r.inbound()
		return len(ms) >= n
	})
	return ms
}

func (r *rig) waitCursor(p *inbound.Poller) {
	r.t.Helper()
	eventually(r.t, "the mailbox cursor", func() bool {
		_, err := r.st.MailboxCursor(context.Background(), p.Mailbox())
		return err == nil
	})
}

func (r *rig) count(mailbox string) int {
	r.t.Helper()
	n, err := r.status(mailbox)
	if err != nil {
		return -1
	}
	return n
}

func (r *rig) append(raw []byte) {
	r.t.Helper()
	if err := r.deliver(raw); err != nil {
		r.t.Fatal(err)
	}
}

// ticket creates a ticket of a customer, closed if asked, and returns its number.
func (r *rig) ticket(customer, email string, closed bool) (int64, string) {
	r.t.Helper()
	ctx := context.Background()
	if _, err := r.st.PutCustomer(ctx, storage.Customer{ID: customer, Name: customer, Email: email, Language: "pt-PT"}); err != nil {
		r.t.Fatal(err)
	}
	c, err := r.st.CreateTicket(ctx, storage.NewTicket{CustomerID: customer, SubjectID: "email-delivery", Message: "Não recebo email.",
		CreatedAt: time.Now().UTC()})
	if err != nil {
		r.t.Fatal(err)
	}
	if closed {
		if _, err := r.st.DB().Exec(r.st.DB().Rebind(`UPDATE tickets SET status = 'closed' WHERE id = ?`), c.TicketID); err != nil {
			r.t.Fatal(err)
		}
	}
	return c.TicketID, c.Number
}

// customerMail is a plain reply from a person.
func customerMail(from, subject, msgID string, extra ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Return-Path: <%s>\r\nFrom: <%s>\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: %s\r\nDate: %s\r\n",
		from, from, support, subject, msgID, time.Now().Format(time.RFC1123Z))
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOlá, preciso de ajuda.\r\n")
	return b.Bytes()
}

func TestPollerClassifiesEveryFixtureAndAnswersCustomersOnce(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		r := newRig(t, st)
		ctx := context.Background()
		v := inbound.FixtureValues{}
		ticketID, number := r.ticket("ana", "ana.silva@gmail.com", false)
		v.Ticket = number
		_, v.Ticket2 = r.ticket("rui", "rui.costa@outlook.pt", false)
		_, v.Closed = r.ticket("ana", "ana.silva@gmail.com", true)
		v.ClosedID = r.ids.New(v.Closed, "autoclose")
		// The confirmation Ana's address bounces: our outbox row, already sent.
		confirmation, err := r.composer.Confirmation(assistdmail.TicketMail{Number: number, SubjectName: "Email", DepartmentName: "Email",
			Message: "x", CustomerEmail: "ana.silva@gmail.com", CustomerName: "Ana"})
		if err != nil {
			t.Fatal(err)
		}
		v.OurID = confirmation.MessageID
		outboxIDs, err := st.QueueEmails(ctx, []storage.Email{{Kind: "confirmation", TicketID: &ticketID, EnvelopeFrom: support,
			Recipient: "ana.silva@gmail.com", MessageID: confirmation.MessageID, Raw: confirmation.Raw}})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.MarkOutboxDone(ctx, outboxIDs[0]); err != nil {
			t.Fatal(err)
		}

		p := r.poller(inbound.Config{Instance: "test"}, nil)
		r.start(p)
		r.waitCursor(p)
		want := map[uint32]inbound.Fixture{}
		answers := 0
		for i, f := range inbound.Fixtures {
			r.append(inbound.FillFixture(t, f.File, v))
			want[uint32(i+1)] = f
			if strings.HasPrefix(f.Outcome, "answered_") {
				answers++
			}
		}
		got := r.waitRecorded(len(want))
		for _, m := range got {
			f := want[m.UID]
			if m.Outcome != f.Outcome || m.Reason != f.Reason {
				t.Errorf("%s: recorded %s/%s, want %s/%s", f.File, m.Outcome, m.Reason, f.Outcome, f.Reason)
			}
			if strings.HasPrefix(f.Outcome, "answered_") != (m.OutboxID != nil) && f.Outcome != storage.InboundIgnoredAutomatic {
				t.Errorf("%s: outbox id %v", f.File, m.OutboxID)
			}
		}
		for _, m := range r.waitAnswers(answers) {
			checkAutoAnswer(t, m)
		}
		eventually(t, "every message moved", func() bool {
			return r.count("INBOX") == 0 && r.count("Processed") == len(want)-1 && r.count("Unparseable") == 1
		})
		if n := imapUnseen(t, r.url, "Processed"); n != 0 {
			t.Errorf("%d processed messages not \\Seen", n)
		}

		// The bounce marked our confirmation and flagged Ana's address.
		row, err := st.OutboxRowByID(ctx, outboxIDs[0])
		if err != nil || row.State != storage.OutboxBounced {
			t.Errorf("bounced confirmation is %q (%v)", row.State, err)
		}
		ana, err := st.Customer(ctx, "ana")
		if err != nil || ana.EmailUndeliverableAt == nil {
			t.Errorf("ana's address not flagged undeliverable (%v)", err)
		}
		if r.sink.Total() != answers {
			t.Errorf("%d mails sent, want %d", r.sink.Total(), answers)
		}
	})
}

// checkAutoAnswer holds the RFC 3834 shape of an automatic answer.
func checkAutoAnswer(t *testing.T, m smtpsink.Mail) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	if m.From != "" {
		t.Errorf("answer sent with envelope sender %q, want <>", m.From)
	}
	if len(m.To) != 1 {
		t.Errorf("answer to %q", m.To)
	}
	if got := msg.Header.Get("Auto-Submitted"); got != "auto-replied" {
		t.Errorf("Auto-Submitted %q", got)
	}
	if msg.Header.Get("In-Reply-To") == "" {
		t.Errorf("no In-Reply-To")
	}
	if strings.Contains(string(m.Data), "preciso de ajuda") || strings.Contains(string(m.Data), "telem") {
		t.Errorf("answer quotes the customer's message")
	}
}

func TestPollerRecordsTheMailOfAFirstConnectionWithoutAnswering(t *testing.T) {
	r := newRig(t, storagetest.Open(t, storagetest.Backends(t)[0]))
	for i := range 20 {
		r.append(customerMail(fmt.Sprintf("old%d@exemplo.pt", i), "Pergunta antiga", fmt.Sprintf("<old%d@exemplo.pt>", i)))
	}
	p := r.poller(inbound.Config{Instance: "test", BatchSize: 7}, nil)
	r.start(p)
	for _, m := range r.waitRecorded(20) {
		if m.Outcome != storage.InboundBacklog || m.Reason != inbound.ReasonBacklog {
			t.Errorf("old mail %d recorded as %s/%s", m.UID, m.Outcome, m.Reason)
		}
	}
	r.append(customerMail("new@exemplo.pt", "Pergunta nova", "<new@exemplo.pt>"))
	mails := r.waitAnswers(1)
	if mails[0].To[0] != "new@exemplo.pt" {
		t.Errorf("answered %q", mails[0].To)
	}
	eventually(t, "every message moved", func() bool { return r.count("INBOX") == 0 && r.count("Processed") == 21 })
	if r.sink.Total() != 1 {
		t.Errorf("%d answers, want 1", r.sink.Total())
	}
}

func TestPollerAnswersOneSenderOncePerTicketAndHonoursTheHourlyCap(t *testing.T) {
	r := newRig(t, storagetest.Open(t, storagetest.Backends(t)[0]))
	_, number := r.ticket("ana", "ana@exemplo.pt", false)
	p := r.poller(inbound.Config{Instance: "test", BatchSize: 20, AnswersPerHour: 4}, nil)
	r.start(p)
	r.waitCursor(p)
	for i := range 50 {
		r.append(customerMail("ana@exemplo.pt", "Re: [Pedido #"+number+"] ainda nada", fmt.Sprintf("<loop%d@exemplo.pt>", i)))
	}
	for i := range 5 {
		r.append(customerMail(fmt.Sprintf("p%d@exemplo.pt", i), "Olá", fmt.Sprintf("<p%d@exemplo.pt>", i)))
	}
	ms := r.waitRecorded(55)
	counts := map[string]int{}
	for _, m := range ms {
		counts[m.Outcome+"/"+m.Reason]++
	}
	want := map[string]int{
		storage.InboundAnsweredTicket + "/" + inbound.ReasonBySubjectTag:  1,
		storage.InboundRateLimited + "/" + storage.ReasonSenderLimit:      49,
		storage.InboundAnsweredNoTicket + "/" + inbound.ReasonNoReference: 4,
		storage.InboundRateLimited + "/" + storage.ReasonGlobalCap:        1,
	}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%s: %d, want %d (all: %v)", k, counts[k], n, counts)
		}
	}
	eventually(t, "every message moved", func() bool { return r.count("INBOX") == 0 })
	// The customer's answer counts against the customers' allowance: the strangers' cap of 4
	// answers four strangers.
	if r.sink.Total() != 5 {
		t.Errorf("%d answers, want 5", r.sink.Total())
	}
}

func TestPollerAfterAUIDValidityChangeAnswersNoOldMail(t *testing.T) {
	r := newRig(t, storagetest.Open(t, storagetest.Backends(t)[0]))
	p := r.poller(inbound.Config{Instance: "test"}, nil)
	stop := r.start(p)
	r.waitCursor(p)
	first := customerMail("ana@exemplo.pt", "Olá", "<first@exemplo.pt>")
	r.append(first)
	r.waitRecorded(1)
	stop()

	// The mailbox is rebuilt: new UIDVALIDITY, the old message back in it, and one that never
	// was recorded.
	if err := r.imap.Recreate(); err != nil {
		t.Fatal(err)
	}
	r.append(first)
	r.append(customerMail("rui@exemplo.pt", "Olá", "<restored@exemplo.pt>"))
	r.start(r.poller(inbound.Config{Instance: "test"}, nil))
	ms := r.waitRecorded(2)
	if ms[0].Outcome != storage.InboundBacklog || ms[0].Reason != inbound.ReasonOldMail {
		t.Errorf("mail of the rebuilt mailbox recorded as %s/%s", ms[0].Outcome, ms[0].Reason)
	}
	r.append(customerMail("new@exemplo.pt", "Olá", "<after@exemplo.pt>"))
	r.waitRecorded(3)
	eventually(t, "every message moved", func() bool { return r.count("INBOX") == 0 })
	if r.sink.Total() != 2 {
		t.Errorf("%d answers, want 2 (the first mail and the one after the change)", r.sink.Total())
	}
}

func TestTwoPollersRacingOnOneMailboxAnswerEachMessageOnce(t *testing.T) {
	st := storagetest.Open(t, storagetest.Backends(t)[0])
	r := newRig(t, st)
	// Each poller has its own Redis, so the lease does not keep them apart: only the unique
	// record of each message does.
	other := *r
	other.redis = redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	a := r.poller(inbound.Config{Instance: "a", BatchSize: 5}, nil)
	b := other.poller(inbound.Config{Instance: "b", BatchSize: 5}, nil)
	r.start(a)
	r.waitCursor(a)
	r.start(b)
	for i := range 40 {
		r.append(customerMail(fmt.Sprintf("c%d@exemplo.pt", i), "Olá", fmt.Sprintf("<race%d@exemplo.pt>", i)))
	}
	r.waitRecorded(40)
	eventually(t, "every message moved", func() bool { return r.count("INBOX") == 0 })
	r.waitAnswers(40)
	if len(r.inbound()) != 40 || r.sink.Total() != 40 {
		t.Errorf("%d recorded, %d answers; want 40 and 40", len(r.inbound()), r.sink.Total())
	}
}

func TestASecondPollerTakesOverWhenTheHolderDies(t *testing.T) {
	r := newRig(t, storagetest.Open(t, storagetest.Backends(t)[0]))
	if r.mini == nil {
		t.Skip("needs miniredis to move its clock")
	}
	a := r.poller(inbound.Config{Instance: "a"}, nil)
	b := r.poller(inbound.Config{Instance: "b"}, nil)
	// A holder that died without releasing the lease.
	key := "assistd:imap:lease:" + a.Mailbox()
	if err := r.redis.Set(context.Background(), key, "dead/1", 600*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	r.start(a)
	r.start(b)
	r.append(customerMail("ana@exemplo.pt", "Olá", "<takeover@exemplo.pt>"))
	if _, err := r.st.MailboxCursor(context.Background(), a.Mailbox()); err == nil {
		t.Fatal("a poller read the mailbox while another held it")
	}
	r.mini.FastForward(time.Second)
	ms := r.waitRecorded(1)
	if ms[0].Outcome != storage.InboundBacklog {
		t.Errorf("recorded %s", ms[0].Outcome)
	}
	holder, _ := r.redis.Get(context.Background(), key).Result()
	if !strings.HasPrefix(holder, "a/") && !strings.HasPrefix(holder, "b/") {
		t.Errorf("lease held by %q", holder)
	}
}

// TestPollerKilledMidBatchRecordsAndAnswersEveryMailOnce is issue 9's crash test: a backlog of
// a few hundred mails, the poller killed after committing a batch and before moving it, then
// again at a random point, then run to the end.
func TestPollerKilledMidBatchRecordsAndAnswersEveryMailOnce(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		const n = 300
		r := newRig(t, st)
		cfg := inbound.Config{Instance: "test", BatchSize: 40, AnswersPerHour: 1000}
		p := r.poller(cfg, nil)
		stop := r.start(p)
		r.waitCursor(p)
		stop()
		for i := range n {
			r.append(customerMail(fmt.Sprintf("c%03d@exemplo.pt", i), "Olá", fmt.Sprintf("<kill%d@exemplo.pt>", i)))
		}

		// First crash: right after the second batch commits, before its answers are enqueued
		// and before it is moved.
		ctx, kill := context.WithCancel(context.Background())
		var batches atomic.Int32
		crashing := r.poller(cfg, func(ctx context.Context, ids []int64) error {
			if batches.Add(1) == 2 {
				kill()
				return ctx.Err()
			}
			return r.send(ctx, ids)
		})
		done := make(chan struct{})
		go func() { defer close(done); crashing.Run(ctx) }()
		<-done

		// Second crash: whenever the sink has seen some more answers.
		ctx, kill = context.WithCancel(context.Background())
		done = make(chan struct{})
		go func() { defer close(done); r.poller(cfg, nil).Run(ctx) }()
		wctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := r.sink.Wait(wctx, 130); err != nil {
			t.Fatal(err)
		}
		kill()
		<-done

		r.start(r.poller(cfg, nil))
		ms := r.waitRecorded(n)
		eventually(t, "every message moved", func() bool { return r.count("INBOX") == 0 })
		// The outbox relay's part: rows committed but never enqueued.
		pending, err := st.PendingOutbox(context.Background(), time.Now().Add(time.Hour), 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]int64, len(pending))
		for i, row := range pending {
			ids[i] = row.ID
		}
		if err := r.send(context.Background(), ids); err != nil {
			t.Fatal(err)
		}
		mails, err := r.sink.Wait(wctx, n)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != n {
			t.Errorf("%d recorded, want %d", len(ms), n)
		}
		seen := map[string]int{}
		for _, m := range mails {
			seen[m.To[0]]++
		}
		for to, k := range seen {
			if k != 1 {
				t.Errorf("%s answered %d times", to, k)
			}
		}
		var rows int
		if err := st.DB().Get(&rows, `SELECT COUNT(*) FROM outbox WHERE kind = 'auto_answer'`); err != nil || rows != n {
			t.Errorf("%d automatic answers in the outbox (%v), want %d", rows, err, n)
		}
		if r.sink.Total() != n || len(seen) != n {
			t.Errorf("%d answers to %d people, want %d", r.sink.Total(), len(seen), n)
		}
		if got := r.count("Processed"); got != n {
			t.Errorf("%d messages in Processed, want %d", got, n)
		}
	})
}

// Told not to use IDLE (for a server whose IDLE is broken), the poller polls at its interval.
// (go-imap's server always offers IDLE, so a server without it cannot be had here; the poller's
// "mailbox open" line tells which way it waits.)
func TestPollerPollsWithoutIDLE(t *testing.T) {
	r := newRig(t, storagetest.Open(t, storagetest.Backends(t)[0]))
	var logs systemtest.LogBuffer
	r.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	const interval = 300 * time.Millisecond
	p := r.poller(inbound.Config{Instance: "poll", PollInterval: interval, NoIDLE: true}, nil)
	r.start(p)
	r.waitCursor(p)
	// Delivered one at a time while the poller waits between polls: each is found by a poll,
	// never sooner than the poll that follows it could have run.
	var slowest time.Duration
	for i := range 3 {
		at := time.Now()
		r.append(customerMail(fmt.Sprintf("p%d@exemplo.pt", i), "Olá", fmt.Sprintf("<poll%d@exemplo.pt>", i)))
		r.waitRecorded(i + 1)
		slowest = max(slowest, time.Since(at))
	}
	if slowest > 20*interval { // far below the 30 s default: the configured interval is the one used
		t.Errorf("a delivery waited %v to be recorded with polls every %v", slowest, interval)
	}
	r.waitAnswers(3)
	eventually(t, "every message moved", func() bool { return r.count("INBOX") == 0 && r.count("Processed") == 3 })
	if n := imapUnseen(t, r.url, "Processed"); n != 0 {
		t.Errorf("%d processed messages not \\Seen", n)
	}
	if got := strings.Count(logs.String(), "holding the mailbox"); got != 1 || strings.Contains(logs.String(), "session ended") {
		t.Errorf("sessions: %d, want 1 and none ended; log:\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), "wait=poll every=300ms") || strings.Contains(logs.String(), "wait=idle") {
		t.Errorf("the session did not poll; log:\n%s", logs.String())
	}
}

// A reply whose subject is long and accented is recorded and answered, and the mail after it
// too: the subject is kept cut between characters, not in the middle of one, which Postgres would
// refuse along with the whole batch, leaving the mailbox stuck on it.
func TestPollerRecordsALongAccentedSubjectAndGoesOn(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		r := newRig(t, st)
		_, number := r.ticket("ana", "ana@exemplo.pt", false)
		p := r.poller(inbound.Config{Instance: "test", BatchSize: 20, AnswersPerHour: 10}, nil)
		r.start(p)
		r.waitCursor(p)
		// 28 bytes, then "não " (5 bytes): byte 200 is the second of an "ã".
		long := mime.QEncoding.Encode("utf-8", "Re: [Pedido #"+number+"] abcde"+strings.Repeat("não ", 60))
		r.append(customerMail("ana@exemplo.pt", long, "<long@exemplo.pt>"))
		r.append(customerMail("rui@exemplo.pt", "Olá", "<next@exemplo.pt>"))
		ms := r.waitRecorded(2)
		for _, m := range ms {
			if !utf8.ValidString(m.Subject) || len(m.Subject) > 200 {
				t.Errorf("subject kept as %q (%d bytes)", m.Subject, len(m.Subject))
			}
		}
		r.waitAnswers(2)
		eventually(t, "every message moved", func() bool { return r.count("INBOX") == 0 })
	})
}

// A message whose record the database refuses (here a trigger stands for whatever it may refuse)
// does not stop the mailbox: the batch is recorded one message at a time, the others are recorded
// and answered, and that one is recorded bare and set aside with the unparseable mail.
func TestPollerSetsAsideAMessageTheDatabaseRefusesAndRecordsTheOthers(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		if b.Name != "postgres" {
			continue // SQLite stores whatever it is given
		}
		t.Run(b.Name, func(t *testing.T) {
			st := storagetest.Open(t, b)
			if _, err := st.DB().Exec(`CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
				BEGIN RAISE EXCEPTION 'refused: %', NEW.subject USING ERRCODE = '22023'; END $$;
				CREATE TRIGGER refuse_poison BEFORE INSERT ON inbound_messages FOR EACH ROW
				WHEN (NEW.subject LIKE '%poison%') EXECUTE FUNCTION refuse_poison()`); err != nil {
				t.Fatal(err)
			}
			r := newRig(t, st)
			p := r.poller(inbound.Config{Instance: "test", BatchSize: 20, AnswersPerHour: 10}, nil)
			r.start(p)
			r.waitCursor(p)
			r.append(customerMail("ana@exemplo.pt", "Olá", "<first@exemplo.pt>"))
			r.append(customerMail("rui@exemplo.pt", "poison", "<poison@exemplo.pt>"))
			r.append(customerMail("eva@exemplo.pt", "Bom dia", "<third@exemplo.pt>"))
			ms := r.waitRecorded(3)
			got := map[string]string{}
			for _, m := range ms {
				got[m.DedupeKey] = m.Outcome + "/" + m.Reason
			}
			want := map[string]string{
				"mid:first@exemplo.pt":  storage.InboundAnsweredNoTicket + "/" + inbound.ReasonNoReference,
				"mid:poison@exemplo.pt": storage.InboundUnparseable + "/" + inbound.ReasonRefused,
				"mid:third@exemplo.pt":  storage.InboundAnsweredNoTicket + "/" + inbound.ReasonNoReference,
			}
			if len(got) != 3 || got["mid:first@exemplo.pt"] != want["mid:first@exemplo.pt"] ||
				got["mid:poison@exemplo.pt"] != want["mid:poison@exemplo.pt"] || got["mid:third@exemplo.pt"] != want["mid:third@exemplo.pt"] {
				t.Fatalf("recorded %v, want %v", got, want)
			}
			answers := r.waitAnswers(2)
			for _, a := range answers {
				if strings.Contains(strings.Join(a.To, ","), "rui@") {
					t.Errorf("the refused message was answered")
				}
			}
			eventually(t, "every message moved", func() bool {
				return r.count("INBOX") == 0 && r.count("Processed") == 2 && r.count("Unparseable") == 1
			})
			if c, err := st.MailboxCursor(context.Background(), p.Mailbox()); err != nil || c.LastUID < 3 {
				t.Errorf("cursor %+v, %v; want past the three messages", c, err)
			}
		})
	}
}

// A stranger's subject is not repeated in the answer (it would carry a line of their choosing
// from our address to whomever they name as sender); a customer's reply to her ticket keeps it.
func TestPollerRepeatsOnlyACustomersSubject(t *testing.T) {
	r := newRig(t, storagetest.Open(t, storagetest.Backends(t)[0]))
	_, number := r.ticket("ana", "ana@exemplo.pt", false)
	p := r.poller(inbound.Config{Instance: "test", BatchSize: 20}, nil)
	r.start(p)
	r.waitCursor(p)
	r.append(customerMail("vitima@exemplo.pt", "Ganhe 1000 EUR em https://fraude.example", "<s1@exemplo.pt>"))
	r.append(customerMail("ana@exemplo.pt", "Re: [Pedido #"+number+"] ainda nada", "<a1@exemplo.pt>"))
	answers := r.waitAnswers(2)
	for _, a := range answers {
		head, _, _ := bytes.Cut(a.Data, []byte("\r\n\r\n"))
		switch a.To[0] {
		case "vitima@exemplo.pt":
			if bytes.Contains(head, []byte("fraude")) || bytes.Contains(head, []byte("1000")) {
				t.Errorf("the stranger's subject is repeated:\n%s", head)
			}
		case "ana@exemplo.pt":
			if !bytes.Contains(head, []byte("ainda nada")) {
				t.Errorf("the customer's subject is not repeated:\n%s", head)
			}
		}
	}
}

// A thousand forged strangers use up the strangers' allowance, never the customers': a customer
// replying to her ticket afterwards is still answered.
func TestAThousandStrangersDoNotUseUpTheCustomersAllowance(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		const strangers, strangerCap = 1000, 20
		r := newRig(t, st)
		_, number := r.ticket("ana", "ana@exemplo.pt", false)
		p := r.poller(inbound.Config{Instance: "test", AnswersPerHour: strangerCap, CustomerAnswersPerHour: 50,
			AuthServID: "mx.example.pt"}, nil)
		stop := r.start(p)
		r.waitCursor(p)
		stop()
		for i := range strangers {
			r.append(customerMail(fmt.Sprintf("forged%04d@estranho.example", i), "Olá", fmt.Sprintf("<s%d@estranho.example>", i)))
		}
		r.append(customerMail("ana@exemplo.pt", "Re: o meu pedido", "<ana-reply@exemplo.pt>",
			"In-Reply-To: "+r.ids.New(number, "confirmation"),
			"Authentication-Results: mx.example.pt; spf=pass smtp.mailfrom=exemplo.pt; dmarc=pass header.from=exemplo.pt"))
		began := time.Now()
		r.start(r.poller(inbound.Config{Instance: "test", AnswersPerHour: strangerCap, CustomerAnswersPerHour: 50,
			AuthServID: "mx.example.pt"}, nil))
		ms := r.waitRecorded(strangers + 1)
		took := time.Since(began)
		answered, capped, customer := 0, 0, ""
		for _, m := range ms {
			switch {
			case m.From == "ana@exemplo.pt":
				customer = m.Outcome
			case m.Outcome == storage.InboundAnsweredNoTicket:
				answered++
			case m.Outcome == storage.InboundRateLimited && m.Reason == storage.ReasonGlobalCap:
				capped++
			}
		}
		mails := r.waitAnswers(strangerCap + 1)
		toAna := 0
		for _, m := range mails {
			if len(m.To) == 1 && m.To[0] == "ana@exemplo.pt" {
				toAna++
			}
		}
		t.Logf("%s: %d mails from distinct strangers, then a customer's reply, recorded in %s: strangers answered %d, capped %d; customer %s, answers sent to her %d",
			t.Name(), strangers, took.Round(time.Millisecond), answered, capped, customer, toAna)
		if answered != strangerCap || capped != strangers-strangerCap {
			t.Errorf("strangers answered %d and capped %d, want %d and %d", answered, capped, strangerCap, strangers-strangerCap)
		}
		if customer != storage.InboundAnsweredTicket || toAna != 1 {
			t.Errorf("the customer's reply came to %q with %d answers, want %s and 1", customer, toAna, storage.InboundAnsweredTicket)
		}
		eventually(t, "every message moved", func() bool { return r.count("INBOX") == 0 })
		if r.sink.Total() != strangerCap+1 {
			t.Errorf("%d answers sent, want %d", r.sink.Total(), strangerCap+1)
		}
	})
}
