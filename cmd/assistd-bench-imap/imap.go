package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/redis/go-redis/v9"

	"github.com/assistd/assistd/bench"
	"github.com/assistd/assistd/internal/assembly"
	"github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/mail/dovecottest"
	"github.com/assistd/assistd/mail/inbound"
	"github.com/assistd/assistd/mail/smtpsink"
	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/storage"
)

// IMAPConfig sets the IMAP bench up.
type IMAPConfig struct {
	Mails       int           // mails delivered at once; 0 means 2000
	AtRest      int           // single deliveries timed to their answer; 0 means 5
	IdleFor     time.Duration // how long idle CPU is measured; 0 means 30s
	DatabaseURL string        // "" means a SQLite file in a temporary folder
	RedisURL    string        // "" means an in-process miniredis
	Log         *slog.Logger  // nil means silent
	CPUProfile  io.Writer     // when set, a CPU profile of the drain
}

// IMAPReport is what the IMAP bench measured.
type IMAPReport struct {
	Mails        int
	Database     string
	Delivery     time.Duration // renaming the N files into the maildir's new/
	Drain        time.Duration // from the start of the delivery into the idle mailbox until the poller had moved every mail
	Backlog      time.Duration // from the poller's start until it had moved N mails waiting above its cursor
	Answered     int           // automatic answers to the backlog that reached the SMTP sink
	BareDrain    time.Duration // one UID FETCH and one UID STORE by a bare client
	AtRest       []time.Duration
	PeakRSS      int64   // bytes, of the bench process from the poller's start to the backlog (poller, SMTP sink, database driver)
	BacklogRSS   int64   // bytes, the same over the backlog phase
	IdleCPU      float64 // fraction of one core used by the bench process while idle
	IdleFor      time.Duration
	AnswersSent  int
	AnswerSender string
}

// DrainRate is mails per second through the poller, for a burst into its idle mailbox.
func (r IMAPReport) DrainRate() float64 { return float64(r.Mails) / r.Drain.Seconds() }

// BacklogRate is mails per second through the poller, for mails waiting when it connects.
func (r IMAPReport) BacklogRate() float64 { return float64(r.Mails) / r.Backlog.Seconds() }

// BareRate is mails per second through the bare client.
func (r IMAPReport) BareRate() float64 { return float64(r.Mails) / r.BareDrain.Seconds() }

// Median is the median delay from a delivery at rest to its answer at the SMTP sink.
func (r IMAPReport) Median() time.Duration {
	if len(r.AtRest) == 0 {
		return 0
	}
	s := slices.Clone(r.AtRest)
	slices.Sort(s)
	return s[len(s)/2]
}

func (r IMAPReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "IMAP bench: %d mails, Dovecot on loopback, database %s\n", r.Mails, r.Database)
	fmt.Fprintf(&b, "  drain (bare client): %8.0f ms  %7.0f mails/s\n", float64(r.BareDrain.Microseconds())/1000, r.BareRate())
	fmt.Fprintf(&b, "  backlog (poller):    %8.0f ms  %7.0f mails/s  ratio %.2f  (%d mails waiting above the cursor when the poller starts; %d answers sent)\n",
		float64(r.Backlog.Microseconds())/1000, r.BacklogRate(), r.BacklogRate()/r.BareRate(), r.Mails, r.Answered)
	fmt.Fprintf(&b, "  burst (poller):      %8.0f ms  %7.0f mails/s  ratio %.2f  (delivered into the idle mailbox: includes delivery, %.0f ms,\n",
		float64(r.Drain.Microseconds())/1000, r.DrainRate(), r.DrainRate()/r.BareRate(), float64(r.Delivery.Microseconds())/1000)
	b.WriteString("                                                       and Dovecot's 500 ms delay before it reports new mail under IDLE)\n")
	fmt.Fprintf(&b, "  at rest, delivery to answer: median %v (", r.Median().Round(time.Millisecond))
	for i, d := range r.AtRest {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.Round(time.Millisecond).String())
	}
	b.WriteString(")\n")
	fmt.Fprintf(&b, "  peak RSS:            %8.1f MB burst and at rest, %.1f MB backlog (bench process: poller, senders, SMTP sink)\n",
		float64(r.PeakRSS)/(1<<20), float64(r.BacklogRSS)/(1<<20))
	fmt.Fprintf(&b, "  idle CPU:            %8.2f %% of a core over %v\n", 100*r.IdleCPU, r.IdleFor)
	fmt.Fprintf(&b, "  answers sent:        %8d (%s)\n", r.AnswersSent, r.AnswerSender)
	return b.String()
}

const benchSupport = "suporte@example.pt"

// RunIMAP starts a Dovecot, measures a bare go-imap client draining N mails, then the poller
// draining N mails delivered at once into its idle mailbox, single deliveries at rest to their
// automatic answer at an in-process SMTP sink, the process's idle CPU, and last the poller
// restarted onto N mails waiting above its cursor (a mailbox reconnected after a weekend), with
// the peak RSS of each phase.
//
// The answers are sent by four in-process senders reading the outbox rows the poller queued,
// as the email:send task does; Redis only holds the poller's lease.
func RunIMAP(ctx context.Context, cfg IMAPConfig) (IMAPReport, error) {
	if cfg.Mails <= 0 {
		cfg.Mails = 2000
	}
	if cfg.AtRest <= 0 {
		cfg.AtRest = 5
	}
	if cfg.IdleFor <= 0 {
		cfg.IdleFor = 30 * time.Second
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	rep := IMAPReport{Mails: cfg.Mails, IdleFor: cfg.IdleFor, AnswerSender: "outbox rows sent directly by 4 in-process senders"}

	d, err := dovecottest.Launch()
	if err != nil {
		return rep, err
	}
	defer d.Close()

	tmp, err := os.MkdirTemp("", "assistd-bench-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(tmp)
	dbURL := cfg.DatabaseURL
	if dbURL == "" {
		dbURL = "sqlite:" + filepath.Join(tmp, "bench.db")
	}
	rep.Database = strings.SplitN(dbURL, ":", 2)[0]
	var opts []assembly.Option
	if cfg.RedisURL == "" {
		m, err := miniredis.Run()
		if err != nil {
			return rep, err
		}
		defer m.Close()
		rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
		defer rdb.Close()
		opts = append(opts, assembly.WithRedis(rdb))
	}

	sink, err := smtpsink.Start("127.0.0.1:0")
	if err != nil {
		return rep, err
	}
	defer sink.Close()
	sink.Keep(16)

	// The answers the poller queues go to the bench's own senders below.
	queue := make(chan int64, 2*cfg.Mails+cfg.AtRest+16)
	opts = append(opts, assembly.WithLog(log), assembly.WithPollerQueue(func(_ context.Context, ids []int64) error {
		for _, id := range ids {
			queue <- id
		}
		return nil
	}))
	sys, err := assembly.New(ctx, assembly.Settings{DatabaseURL: dbURL, Migrate: true, RedisURL: cfg.RedisURL,
		SecretKeys: secret.GenerateKey(), MailFrom: "Apoio ao Cliente <" + benchSupport + ">", PublicURL: "https://clientes.example.pt",
		SMTP: mail.SenderConfig{URL: sink.URL(), PoolSize: 4},
		Poller: inbound.Config{URL: d.URL(), Instance: "bench", AnswersPerHour: 2*cfg.Mails + cfg.AtRest + 100,
			CustomerAnswersPerHour: 2*cfg.Mails + cfg.AtRest + 100},
	}, opts...)
	if err != nil {
		return rep, err
	}
	defer sys.Close()
	st, sender := sys.Store, sys.Sender

	// The ceiling: a bare client, same fetch items, one UID FETCH and one UID STORE.
	if err := d.DeliverMany(cfg.Mails, benchMail("bare")); err != nil {
		return rep, err
	}
	if rep.BareDrain, err = bareDrain(d.URL(), cfg.Mails); err != nil {
		return rep, fmt.Errorf("bench: bare client: %w", err)
	}
	// From here on the peak is the poller's (with the SMTP sink and the database driver): give
	// back what the bare client held before measuring.
	debug.FreeOSMemory()
	bench.ResetPeakRSS()

	// The poller, idle on its mailbox before the burst arrives.
	var senders sync.WaitGroup
	for range 4 {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for id := range queue {
				row, err := st.OutboxRowByID(ctx, id)
				if err != nil || row.State != storage.OutboxPending {
					continue
				}
				from := ""
				if row.EnvelopeFrom != nil {
					from = *row.EnvelopeFrom
				}
				if err := sender.Send(ctx, from, *row.Recipient, row.Raw); err != nil {
					log.Warn("bench: send", "err", err)
					continue
				}
				_ = st.MarkOutboxDone(ctx, id)
			}
		}()
	}
	defer func() { close(queue); senders.Wait() }()
	poller, err := sys.NewPoller()
	if err != nil {
		return rep, err
	}
	start := func() (stop func()) {
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- poller.Run(pctx) }()
		return func() { cancel(); <-done }
	}
	stop := start()
	defer func() { stop() }()

	watch, err := dialBench(d.URL())
	if err != nil {
		return rep, err
	}
	defer watch.Close()
	// The bare client's mails are the backlog of the poller's first connection: recorded, moved,
	// not answered. Wait for that before the burst.
	if err := waitMoved(ctx, watch, cfg.Mails, 5*time.Minute); err != nil {
		return rep, err
	}
	// The clock starts with the delivery: the poller starts draining while the files land.
	staged, err := d.Stage(cfg.Mails, benchMail("burst"))
	if err != nil {
		return rep, err
	}
	debug.FreeOSMemory() // what staging the files held is the harness's, not the poller's
	bench.ResetPeakRSS()
	if cfg.CPUProfile != nil {
		if err := pprof.StartCPUProfile(cfg.CPUProfile); err != nil {
			return rep, err
		}
	}
	began := time.Now()
	if err := staged.Arrive(); err != nil {
		return rep, err
	}
	rep.Delivery = time.Since(began)
	if err := waitMoved(ctx, watch, 2*cfg.Mails, 10*time.Minute); err != nil {
		return rep, err
	}
	rep.Drain = time.Since(began)
	if cfg.CPUProfile != nil {
		pprof.StopCPUProfile()
	}

	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if _, err := sink.Wait(wctx, cfg.Mails); err != nil {
		return rep, err
	}
	for i := range cfg.AtRest {
		time.Sleep(time.Second) // at rest: idle, nothing in flight
		before := sink.Total()
		at := time.Now()
		if err := d.DeliverMany(1, benchMail(fmt.Sprintf("rest%d", i))); err != nil {
			return rep, err
		}
		mails, err := sink.Wait(wctx, before+1)
		if err != nil {
			return rep, err
		}
		rep.AtRest = append(rep.AtRest, mails[len(mails)-1].Received.Sub(at))
	}
	rep.AnswersSent = sink.Total()

	time.Sleep(time.Second)
	cpu0, wall0 := bench.ProcessCPU(), time.Now()
	select {
	case <-ctx.Done():
		return rep, ctx.Err()
	case <-time.After(cfg.IdleFor):
	}
	rep.IdleCPU = (bench.ProcessCPU() - cpu0).Seconds() / time.Since(wall0).Seconds()
	rep.PeakRSS = bench.PeakRSS()

	// A mailbox reconnected after a weekend: N mails wait above the cursor when the poller
	// starts, and every one is new, so every one is answered.
	stop()
	stop = func() {}
	if err := d.DeliverMany(cfg.Mails, benchMail("backlog")); err != nil {
		return rep, err
	}
	sent := sink.Total()
	debug.FreeOSMemory()
	bench.ResetPeakRSS()
	began = time.Now()
	stop = start()
	if err := waitMoved(ctx, watch, 3*cfg.Mails+cfg.AtRest, 10*time.Minute); err != nil {
		return rep, err
	}
	rep.Backlog = time.Since(began)
	if _, err := sink.Wait(wctx, sent+cfg.Mails); err != nil {
		return rep, err
	}
	rep.Answered = sink.Total() - sent
	rep.AnswersSent = sink.Total()
	rep.BacklogRSS = bench.PeakRSS()
	return rep, nil
}

// benchMails are customer replies from distinct senders, each about 2 KB.
// benchMail makes the i-th mail of a backlog: a customer's short plain-text reply, and every
// 500th one a reply carrying a 3 MB attachment, as real backlogs do.
func benchMail(tag string) func(i int) []byte {
	body := strings.Repeat("O meu site está em baixo desde ontem à noite. Podem verificar, por favor?\r\n", 25)
	var attachment string // built once: the harness's own allocations stay out of the poller's figures
	return func(i int) []byte {
		from := fmt.Sprintf("%s%05d@clientes.example", tag, i)
		head := fmt.Sprintf("Return-Path: <%s>\r\nFrom: Cliente %d <%s>\r\nTo: %s\r\nSubject: Site em baixo %d\r\n"+
			"Message-ID: <%s.%d.%d@clientes.example>\r\nDate: %s\r\nMIME-Version: 1.0\r\n",
			from, i, from, benchSupport, i, tag, i, time.Now().UnixNano(), time.Now().Format(time.RFC1123Z))
		if i%500 != 499 {
			return []byte(head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body)
		}
		if attachment == "" {
			line := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 3)[:76] + "\r\n"
			attachment = strings.Repeat(line, (3<<20)/len(line)+1)
		}
		return []byte(head + "Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body +
			"\r\n--b1\r\nContent-Type: application/octet-stream; name=\"registo.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
			attachment + "--b1--\r\n")
	}
}

func dialBench(url string) (*imapclient.Client, error) {
	ep, err := inbound.ParseIMAPURL(url)
	if err != nil {
		return nil, err
	}
	c, err := imapclient.DialInsecure(ep.Addr, nil)
	if err != nil {
		return nil, err
	}
	if err := c.Login(ep.User, ep.Password).Wait(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// bareDrain is the ceiling: what go-imap alone does with n waiting mails.
func bareDrain(url string, n int) (time.Duration, error) {
	c, err := dialBench(url)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		return 0, err
	}
	all := imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}
	msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{
		{Specifier: imap.PartSpecifierHeader, Peek: true, Partial: &imap.SectionPartial{Size: 64 << 10}},
		{Specifier: imap.PartSpecifierText, Peek: true, Partial: &imap.SectionPartial{Size: 24 << 10}},
	}}).Collect()
	if err != nil {
		return 0, err
	}
	if len(msgs) != n {
		return 0, fmt.Errorf("fetched %d of %d mails", len(msgs), n)
	}
	if err := c.Store(all, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// benchDone is the poller's done folder in the bench (its default).
const benchDone = "Processed"

// waitMoved waits until the done folder holds n messages and the INBOX none.
func waitMoved(ctx context.Context, c *imapclient.Client, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		done, err := c.Status(benchDone, &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil && !strings.Contains(err.Error(), "exist") {
			return err
		}
		if err == nil && int(*done.NumMessages) >= n {
			inbox, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
			if err != nil {
				return err
			}
			if *inbox.NumMessages == 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New("bench: the poller did not move every mail in time")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
