// Package bench measures assistd on real services: how many tickets per second go from the
// HTTP API to a confirmation accepted by SMTP, and how that compares with what asynq alone can
// do on the same Redis.
package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/assembly"
	"github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/metrics"
	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/worker"
)

// TicketsConfig says what to run the ticket benchmark against and how hard to push.
type TicketsConfig struct {
	DatabaseURL string // a scratch database: the benchmark adds customers bench-NN and their tickets
	RedisURL    string // a Redis database of its own: it must be empty, or Flush set

	N           int     // tickets to create
	Concurrency int     // clients posting at once (closed loop) when Rate is 0; the cap on requests in flight otherwise
	Rate        float64 // tickets per second to post (open loop); 0 posts as fast as Concurrency allows

	WorkerConcurrency int // tasks the in-process worker runs at once; 0 means 50
	// WorkerPollInterval is how long the in-process worker waits when its queues are empty;
	// 0 means the worker's default.
	WorkerPollInterval time.Duration
	SMTPPool           int // SMTP connections of the worker; 0 means 8
	DatabasePool       int // Postgres connections per pool; 0 means storage.DefaultPoolSize
	// NoWorker runs no worker in this process: start `assistd serve --roles worker` elsewhere
	// with ASSISTD_SMTP_URL=smtp://SMTPAddr, to measure a worker on its own.
	NoWorker bool
	SMTPAddr string // where the SMTP sink listens; "" picks a free loopback port
	// NoopTasks is how many no-op tasks measure asynq's own rate; 0 means 20,000.
	NoopTasks int
	// Flush empties the Redis database first (FLUSHDB).
	Flush bool
	// CPUProfile and HeapProfile, when set, receive pprof profiles of the ticket phase.
	CPUProfile, HeapProfile io.Writer
	Log                     *slog.Logger
}

// TicketsReport is what a run measured. Latencies run from sending the POST to the SMTP sink
// accepting the ticket's confirmation.
type TicketsReport struct {
	N, Accepted, Failed int
	Concurrency         int
	Rate                float64
	Elapsed             time.Duration // first POST to last confirmation
	TicketsPerSecond    float64
	P50, P95, P99, Max  time.Duration
	PostP50, PostP99    time.Duration // the API's answer alone
	PeakRSS             int64         // bytes, this process, during the ticket phase
	CPU                 CPUUse        // this process's and the machine's CPU during the ticket phase
	Worker              bool          // whether the worker ran in this process (and so in PeakRSS)
	// Grouped is the mean number of calls per grouped database statement, by statement, in the
	// ticket phase (metrics.DBGroupSize; only statements of this process).
	Grouped       map[string]float64
	NoopTasks     int
	NoopBefore    float64 // asynq alone: no-op tasks processed per second on the same Redis, before the tickets
	NoopAfter     float64 // the same, after the tickets
	NoopPerSecond float64 // the higher of the two: the ceiling the ratio is taken against
	NoopCPU       CPUUse  // CPU per no-op task while the higher of the two ran
	Ratio         float64 // TicketsPerSecond / NoopPerSecond
}

func (r TicketsReport) String() string {
	var b strings.Builder
	load := fmt.Sprintf("%d clients, as fast as they go", r.Concurrency)
	if r.Rate > 0 {
		load = fmt.Sprintf("%.0f tickets/s offered, at most %d in flight", r.Rate, r.Concurrency)
	}
	where := "api + worker + SMTP sink in this process"
	if !r.Worker {
		where = "api + SMTP sink in this process, workers elsewhere"
	}
	fmt.Fprintf(&b, "tickets            %d posted, %d accepted, %d failed (%s)\n", r.N, r.Accepted, r.Failed, load)
	fmt.Fprintf(&b, "end to end         %.0f tickets/s over %s (POST to confirmation accepted by SMTP)\n", r.TicketsPerSecond, r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(&b, "latency            p50 %s  p95 %s  p99 %s  max %s\n", ms(r.P50), ms(r.P95), ms(r.P99), ms(r.Max))
	fmt.Fprintf(&b, "POST alone         p50 %s  p99 %s\n", ms(r.PostP50), ms(r.PostP99))
	fmt.Fprintf(&b, "peak RSS           %.1f MB (%s)\n", float64(r.PeakRSS)/(1<<20), where)
	r.CPU.writeLine(&b, "CPU per ticket    ", true)
	if len(r.Grouped) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.Grouped)) {
			parts = append(parts, fmt.Sprintf("%s %.1f", k, r.Grouped[k]))
		}
		fmt.Fprintf(&b, "calls per statement %s\n", strings.Join(parts, "  "))
	}
	fmt.Fprintf(&b, "asynq no-op tasks  %.0f tasks/s (%d tasks, same Redis, the higher of %.0f before the tickets and %.0f after)\n",
		r.NoopPerSecond, r.NoopTasks, r.NoopBefore, r.NoopAfter)
	r.NoopCPU.writeLine(&b, "CPU per no-op task", false)
	fmt.Fprintf(&b, "ratio              %.3f tickets per no-op task\n", r.Ratio)
	return b.String()
}

// writeLine writes the CPU line of a phase, if it was measured.
func (c CPUUse) writeLine(b *strings.Builder, label string, cores bool) {
	if c.User+c.Kernel <= 0 {
		return
	}
	fmt.Fprintf(b, "%s %s in this process (user %s, kernel %s)", label, us(c.User+c.Kernel), us(c.User), us(c.Kernel))
	if c.MachineBusy > 0 {
		fmt.Fprintf(b, "; the machine %.0f %% busy", 100*c.MachineBusy)
		if cores {
			fmt.Fprintf(b, " over its %d cores", c.Cores)
		}
	}
	b.WriteString("\n")
}

func us(d time.Duration) string {
	return strconv.FormatInt(d.Microseconds(), 10) + "µs"
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
}

// benchCustomers spreads tickets over several customers, as real traffic is.
const benchCustomers = 64

// RunTickets creates cfg.N tickets through the HTTP API and waits for every confirmation.
func RunTickets(ctx context.Context, cfg TicketsConfig) (TicketsReport, error) {
	if cfg.N <= 0 {
		return TicketsReport{}, errors.New("bench: the number of tickets must be positive")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 32
	}
	if cfg.WorkerConcurrency <= 0 {
		cfg.WorkerConcurrency = 50
	}
	if cfg.SMTPPool <= 0 {
		cfg.SMTPPool = 8
	}
	if cfg.NoopTasks <= 0 {
		cfg.NoopTasks = 20000
	}
	if cfg.SMTPAddr == "" {
		cfg.SMTPAddr = "127.0.0.1:0"
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}

	rc, err := openRedis(ctx, cfg.RedisURL, cfg.Flush)
	if err != nil {
		return TicketsReport{}, err
	}
	defer rc.Close()
	// asynq's ceiling is measured before the tickets, on a quiet machine, and again after them,
	// while Postgres may still be writing them out; the ratio is taken against the higher, the
	// one a slow moment did not lower.
	noopBefore, noopCPUBefore, err := noopRate(ctx, rc, cfg.NoopTasks, cfg.WorkerConcurrency)
	if err != nil {
		return TicketsReport{}, err
	}

	sink, err := startSink(cfg.SMTPAddr)
	if err != nil {
		return TicketsReport{}, err
	}
	defer sink.close()

	const token = "bench-token"
	set := assembly.Settings{DatabaseURL: cfg.DatabaseURL, DatabasePool: cfg.DatabasePool, Migrate: true,
		SecretKeys: secret.GenerateKey(), MailFrom: "Apoio ao Cliente <suporte@suporte.example.pt>", PublicURL: "https://clientes.example.pt",
		API:    api.Config{APIToken: token, StaffToken: token + "-staff"},
		Worker: worker.Config{Concurrency: cfg.WorkerConcurrency, TaskCheckInterval: cfg.WorkerPollInterval}}
	if !cfg.NoWorker {
		// As `assistd serve` does: deliveries are recorded without waiting for the disk.
		set.RelaxedDeliveries = true
		set.SMTP = mail.SenderConfig{URL: "smtp://" + sink.addr(), PoolSize: cfg.SMTPPool, Timeout: 30 * time.Second}
	}
	sys, err := assembly.New(ctx, set, assembly.WithRedis(rc), assembly.WithLog(log))
	if err != nil {
		return TicketsReport{}, err
	}
	defer sys.Close()
	for i := range benchCustomers {
		id := fmt.Sprintf("bench-%02d", i)
		if _, err := sys.Store.PutCustomer(ctx, storage.Customer{ID: id, Name: "Cliente " + id, Email: id + "@bench.example.pt", Language: "pt-PT",
			Domains: []string{"bench.example.pt"}}); err != nil {
			return TicketsReport{}, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return TicketsReport{}, err
	}
	hs := &http.Server{Handler: sys.NewAPI(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()

	stopWorker := func() {}
	if !cfg.NoWorker {
		wctx, cancel := context.WithCancel(context.Background())
		w := sys.NewWorker()
		done := make(chan struct{})
		go func() { _ = w.Run(wctx); close(done) }()
		stopWorker = func() { cancel(); <-done }
	} else {
		log.Warn("no worker in this process: start `assistd serve --roles worker` on the same database and Redis", "ASSISTD_SMTP_URL", "smtp://"+sink.addr())
	}
	defer func() { stopWorker() }()

	runtime.GC()
	ResetPeakRSS()
	if cfg.CPUProfile != nil {
		if err := pprof.StartCPUProfile(cfg.CPUProfile); err != nil {
			return TicketsReport{}, err
		}
	}
	groupedBefore := groupSums()
	cpuBefore := sampleCPU()
	rep, err := postTickets(ctx, cfg, "http://"+ln.Addr().String(), token, sink)
	rep.CPU = cpuUse(cpuBefore, sampleCPU(), rep.Accepted)
	rep.NoopTasks, rep.NoopBefore = cfg.NoopTasks, noopBefore
	if cfg.CPUProfile != nil {
		pprof.StopCPUProfile()
	}
	rep.Grouped = map[string]float64{}
	for name, after := range groupSums() {
		before := groupedBefore[name]
		if n := after[1] - before[1]; n > 0 {
			rep.Grouped[name] = (after[0] - before[0]) / n
		}
	}
	rep.PeakRSS = PeakRSS()
	rep.Worker = !cfg.NoWorker
	if err != nil {
		return rep, err
	}
	if cfg.HeapProfile != nil {
		if err := pprof.Lookup("heap").WriteTo(cfg.HeapProfile, 0); err != nil {
			return rep, err
		}
	}
	stopWorker()
	stopWorker = func() {}

	var noopCPUAfter CPUUse
	if rep.NoopAfter, noopCPUAfter, err = noopRate(ctx, rc, cfg.NoopTasks, cfg.WorkerConcurrency); err != nil {
		return rep, err
	}
	rep.NoopPerSecond, rep.NoopCPU = rep.NoopBefore, noopCPUBefore
	if rep.NoopAfter > rep.NoopBefore {
		rep.NoopPerSecond, rep.NoopCPU = rep.NoopAfter, noopCPUAfter
	}
	if rep.NoopPerSecond > 0 {
		rep.Ratio = rep.TicketsPerSecond / rep.NoopPerSecond
	}
	return rep, nil
}

func openRedis(ctx context.Context, url string, flush bool) (*redis.Client, error) {
	rc, err := assembly.NewRedis(url)
	if err != nil {
		return nil, fmt.Errorf("bench: redis URL: %w", err)
	}
	n, err := rc.DBSize(ctx).Result()
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("bench: redis: %w", err)
	}
	if n > 0 && !flush {
		rc.Close()
		return nil, fmt.Errorf("bench: the Redis database holds %d keys; point the benchmark at an empty database of its own, or let it empty this one (-flush)", n)
	}
	if flush {
		if err := rc.FlushDB(ctx).Err(); err != nil {
			rc.Close()
			return nil, fmt.Errorf("bench: redis: %w", err)
		}
	}
	return rc, nil
}

// postTickets sends the load and waits for the confirmations.
func postTickets(ctx context.Context, cfg TicketsConfig, base, token string, sink *countingSink) (TicketsReport, error) {
	rep := TicketsReport{N: cfg.N, Concurrency: cfg.Concurrency, Rate: cfg.Rate}
	httpc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency, MaxIdleConns: cfg.Concurrency}}
	type result struct {
		number string
		start  time.Time
		post   time.Duration
	}
	results := make([]result, cfg.N)
	var failed atomic.Int64
	var firstErr atomic.Value
	post := func(i int) {
		body, _ := json.Marshal(map[string]any{"subject_id": subjects[i%len(subjects)], "domain": "bench.example.pt",
			"message":  "Pedido de teste de carga número " + strconv.Itoa(i) + ": o site devolve erro 500 desde esta manhã.",
			"password": passwordFor(i)})
		req, _ := http.NewRequestWithContext(ctx, "POST", fmt.Sprintf("%s/api/v1/customers/bench-%02d/tickets", base, i%benchCustomers), bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := httpc.Do(req)
		if err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
			return
		}
		var out struct {
			Number string `json:"number"`
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted || json.Unmarshal(data, &out) != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %s", resp.StatusCode, data))
			return
		}
		results[i] = result{number: out.Number, start: start, post: time.Since(start)}
	}

	// cfg.Concurrency clients, each posting one ticket after another: a goroutine per ticket
	// would grow a new stack for every request, charged to the tickets.
	began := time.Now()
	next := make(chan int)
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Go(func() {
			for i := range next {
				post(i)
			}
		})
	}
	var stopped error
feed:
	for i := range cfg.N {
		if cfg.Rate > 0 {
			time.Sleep(time.Until(began.Add(time.Duration(float64(i) / cfg.Rate * float64(time.Second)))))
		}
		select {
		case next <- i:
		case <-ctx.Done():
			stopped = ctx.Err()
			break feed
		}
	}
	close(next)
	wg.Wait()
	if stopped != nil {
		return rep, stopped
	}
	rep.Failed = int(failed.Load())
	rep.Accepted = cfg.N - rep.Failed
	if rep.Failed > 0 {
		return rep, fmt.Errorf("bench: %d of %d tickets refused; first: %v", rep.Failed, cfg.N, firstErr.Load())
	}

	// Every accepted ticket's confirmation; a stall of a minute without progress is a failure.
	arrived := sink.waitConfirmations(ctx, rep.Accepted, time.Minute)
	var lat, posts []time.Duration
	var last time.Time
	for _, r := range results {
		posts = append(posts, r.post)
		at, ok := arrived[r.number]
		if !ok {
			continue
		}
		lat = append(lat, at.Sub(r.start))
		if at.After(last) {
			last = at
		}
	}
	if len(lat) < rep.Accepted {
		return rep, fmt.Errorf("bench: %d of %d confirmations arrived", len(lat), rep.Accepted)
	}
	rep.Elapsed = last.Sub(began)
	rep.TicketsPerSecond = float64(rep.Accepted) / rep.Elapsed.Seconds()
	rep.P50, rep.P95, rep.P99, rep.Max = quantile(lat, 0.50), quantile(lat, 0.95), quantile(lat, 0.99), quantile(lat, 1)
	rep.PostP50, rep.PostP99 = quantile(posts, 0.50), quantile(posts, 0.99)
	return rep, nil
}

var subjects = []string{"hosting-site-down", "email-account-setup", "domain-dns", "billing-invoice", "server-vps"}

// passwordFor gives every other ticket a password, as customers do when one is needed.
func passwordFor(i int) any {
	if i%2 == 0 {
		return "s3gredo-" + strconv.Itoa(i)
	}
	return nil
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// noopRate measures asynq alone: n no-op tasks queued, then processed by a server of the given
// concurrency; it returns tasks per second of processing.
func noopRate(ctx context.Context, rc *redis.Client, n, concurrency int) (float64, CPUUse, error) {
	const queue = "bench-noop"
	client := asynq.NewClientFromRedisClient(rc)
	defer client.Close()
	var wg sync.WaitGroup
	var enqErr atomic.Value
	const enqueuers = 8
	for g := range enqueuers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += enqueuers {
				if _, err := client.EnqueueContext(ctx, asynq.NewTask("bench:noop", nil), asynq.Queue(queue)); err != nil {
					enqErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := enqErr.Load().(error); err != nil {
		return 0, CPUUse{}, fmt.Errorf("bench: enqueue no-op tasks: %w", err)
	}
	var done atomic.Int64
	finished := make(chan struct{})
	srv := asynq.NewServerFromRedisClient(rc, asynq.Config{Concurrency: concurrency, Queues: map[string]int{queue: 1},
		TaskCheckInterval: 100 * time.Millisecond, LogLevel: asynq.ErrorLevel})
	start, cpuStart := time.Now(), sampleCPU()
	var (
		end    time.Time
		cpuEnd cpuSample
	)
	if err := srv.Start(asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		if done.Add(1) == int64(n) {
			end, cpuEnd = time.Now(), sampleCPU()
			close(finished)
		}
		return nil
	})); err != nil {
		return 0, CPUUse{}, fmt.Errorf("bench: asynq server: %w", err)
	}
	defer srv.Shutdown()
	select {
	case <-finished:
	case <-ctx.Done():
		return 0, CPUUse{}, ctx.Err()
	}
	return float64(n) / end.Sub(start).Seconds(), cpuUse(cpuStart, cpuEnd, n), nil
}

// countingSink is an SMTP server that keeps nothing but when each ticket's confirmation was
// accepted, so that it weighs nothing on the memory being measured.
type countingSink struct {
	server *smtp.Server
	ln     net.Listener

	mu      sync.Mutex
	arrived map[string]time.Time
	notify  chan struct{}
}

func startSink(addr string) (*countingSink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bench: SMTP sink: %w", err)
	}
	s := &countingSink{ln: ln, arrived: map[string]time.Time{}, notify: make(chan struct{}, 1)}
	s.server = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: s}, nil }))
	s.server.Domain = "localhost"
	s.server.MaxRecipients = 10
	s.server.ReadTimeout, s.server.WriteTimeout = time.Minute, time.Minute
	// No line-length check: it guards a server that strangers talk to, and it costs a pass over
	// every byte received, charged to the tickets. The sink hears only the worker, whose
	// messages are checked when composed (mail.checkLines).
	s.server.MaxLineLength = 0
	go func() { _ = s.server.Serve(ln) }()
	return s, nil
}

func (s *countingSink) addr() string { return s.ln.Addr().String() }

func (s *countingSink) close() { _ = s.server.Close() }

func (s *countingSink) confirmed(number string, at time.Time) {
	s.mu.Lock()
	if _, seen := s.arrived[number]; !seen {
		s.arrived[number] = at
	}
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// waitConfirmations returns the arrival times once n tickets are confirmed, or when nothing has
// arrived for stall.
func (s *countingSink) waitConfirmations(ctx context.Context, n int, stall time.Duration) map[string]time.Time {
	for {
		s.mu.Lock()
		got := len(s.arrived)
		s.mu.Unlock()
		if got >= n {
			break
		}
		select {
		case <-s.notify:
		case <-time.After(stall):
			n = 0
		case <-ctx.Done():
			n = 0
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.arrived)
}

type sinkSession struct{ sink *countingSink }

func (*sinkSession) Reset()                               {}
func (*sinkSession) Logout() error                        { return nil }
func (*sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (*sinkSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss *sinkSession) Data(r io.Reader) error {
	buf := sinkBuffers.Get().(*bytes.Buffer)
	defer sinkBuffers.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		return err
	}
	// The sink is part of the measuring instrument: it looks for the one field it needs rather
	// than parsing the header, whose cost would be charged to the tickets.
	// <pedido.NUMBER.KIND.RANDOM.MAC@domain>
	number, kind, ok := messageIDParts(buf.Bytes())
	if ok && kind == "confirmation" {
		ss.sink.confirmed(number, time.Now())
	}
	return nil
}

var sinkBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// messageIDParts finds the Message-Id field in a message's header and returns the ticket number
// and the kind of mail it names.
func messageIDParts(msg []byte) (number, kind string, ok bool) {
	head := msg
	if end := bytes.Index(msg, []byte("\r\n\r\n")); end >= 0 {
		head = msg[:end+2]
	}
	for line := range bytes.Lines(head) {
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found || !bytes.EqualFold(name, []byte("Message-Id")) {
			continue
		}
		parts := strings.Split(strings.Trim(string(bytes.TrimSpace(value)), "<>"), ".")
		if len(parts) > 2 {
			return parts[1], parts[2], true
		}
		return "", "", false
	}
	return "", "", false
}

// groupSums reads metrics.DBGroupSize: the sum and count of calls per statement, by statement.
func groupSums() map[string][2]float64 {
	out := map[string][2]float64{}
	families, err := metrics.Registry.Gather()
	if err != nil {
		return out
	}
	for _, f := range families {
		if f.GetName() != "assistd_db_group_size" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "statement" {
					out[l.GetValue()] = [2]float64{m.GetHistogram().GetSampleSum(), float64(m.GetHistogram().GetSampleCount())}
				}
			}
		}
	}
	return out
}
