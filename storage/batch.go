package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/assistd/assistd/metrics"
)

// coalescer runs one statement for many concurrent calls of the same kind (group commit). A call
// that finds fewer than inFlight statements running starts one at once, so at low load every call
// runs alone and waits for nothing. Calls that arrive while inFlight statements run wait, and the
// next statement takes all of them (up to max): under load statements grow instead of calls
// queueing for connections, and Postgres runs one statement and one commit for many rows.
//
// Each call gets its own result. A statement is its own transaction, so one that fails wrote
// nothing; when it carried several calls and the database is reachable, each call is run again
// alone, so that a call whose data the database refuses (a constraint, say) fails by itself and
// the others go through. When the database cannot be reached, every call of the statement gets
// that error at once.
//
// Under load, a statement that follows another of its kind (calls arrived while the previous one
// ran) first waits linger for more calls, unless it is full already: statements carry more calls
// each, and Postgres does less per call. The first statement of a burst never waits, so an idle
// system answers as fast as before.
type coalescer[Req, Res any] struct {
	sizes    prometheus.Observer
	max      int // calls per statement
	inFlight int // statements running at once
	linger   time.Duration
	sleep    func(time.Duration) // time.Sleep; tests watch it
	// run executes one statement for reqs and returns one result per request, in order.
	run func(ctx context.Context, reqs []Req) ([]Res, error)

	mu      sync.Mutex
	queue   []*coalescedCall[Req, Res]
	running int
}

type coalescedCall[Req, Res any] struct {
	req  Req
	res  Res
	err  error
	done chan struct{}
}

// planEach, passed first among a statement's arguments, has Postgres plan the statement for the
// values it is given each time (pgx then uses the unnamed prepared statement). It is for the
// statements built for a batch (lists and VALUES of varying length): a cached generic plan is
// fixed once, possibly while the tables were nearly empty, and one that scans them whole gets
// slower with every row (seen: a 10,000-mail backlog drained at 930 mails/s instead of 1,800).
const planEach = pgx.QueryExecModeCacheDescribe

// planned prepends planEach to a statement's arguments on Postgres.
func (s *Store) planned(args []any) []any {
	if !s.postgres {
		return args
	}
	return append([]any{planEach}, args...)
}

// coalescedTimeout bounds one statement. It applies whatever the callers' deadlines, since a
// statement serves several of them; a caller whose context ends stops waiting.
const coalescedTimeout = 30 * time.Second

// newCoalescer groups calls to run; name labels its statements in metrics.DBGroupSize.
func newCoalescer[Req, Res any](name string, max, inFlight int, run func(context.Context, []Req) ([]Res, error)) *coalescer[Req, Res] {
	return &coalescer[Req, Res]{sizes: metrics.DBGroupSize.WithLabelValues(name), max: max, inFlight: inFlight,
		linger: groupLinger, sleep: time.Sleep, run: run}
}

// do runs req in the next statement and returns its result. When ctx ends first, do returns
// ctx.Err(); the statement may still complete, as a statement whose answer is lost does.
func (c *coalescer[Req, Res]) do(ctx context.Context, req Req) (Res, error) {
	if err := ctx.Err(); err != nil {
		var zero Res
		return zero, err
	}
	call := &coalescedCall[Req, Res]{req: req, done: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, call)
	start := c.running < c.inFlight
	if start {
		c.running++
	}
	c.mu.Unlock()
	if start {
		go c.drain(context.WithoutCancel(ctx))
	}
	select {
	case <-call.done:
		return call.res, call.err
	case <-ctx.Done():
		var zero Res
		return zero, ctx.Err()
	}
}

// drain runs statements until no call waits.
func (c *coalescer[Req, Res]) drain(ctx context.Context) {
	for first := true; ; first = false {
		c.mu.Lock()
		if !first && c.linger > 0 && len(c.queue) > 0 && len(c.queue) < c.max {
			c.mu.Unlock()
			c.sleep(c.linger)
			c.mu.Lock()
		}
		n := min(len(c.queue), c.max)
		if n == 0 {
			c.running--
			c.mu.Unlock()
			return
		}
		batch := c.queue[:n:n]
		if n == len(c.queue) {
			c.queue = nil
		} else {
			c.queue = append([]*coalescedCall[Req, Res](nil), c.queue[n:]...)
		}
		c.mu.Unlock()

		c.sizes.Observe(float64(n))
		reqs := make([]Req, n)
		for i, call := range batch {
			reqs[i] = call.req
		}
		res, err := c.runOnce(ctx, reqs)
		if err != nil && n > 1 && !errors.Is(err, ErrUnavailable) {
			for _, call := range batch {
				var one []Res
				if one, call.err = c.runOnce(ctx, []Req{call.req}); call.err == nil {
					call.res = one[0]
				}
				close(call.done)
			}
			continue
		}
		for i, call := range batch {
			if err != nil {
				call.err = err
			} else {
				call.res = res[i]
			}
			close(call.done)
		}
	}
}

// runOnce runs one statement within coalescedTimeout and checks it answered every request.
func (c *coalescer[Req, Res]) runOnce(ctx context.Context, reqs []Req) ([]Res, error) {
	ctx, cancel := context.WithTimeout(ctx, coalescedTimeout)
	defer cancel()
	res, err := c.run(ctx, reqs)
	if err == nil && len(res) != len(reqs) {
		err = fmt.Errorf("storage: a grouped statement gave %d results for %d requests", len(res), len(reqs))
	}
	return res, err
}

// groupLinger is how long a statement that follows another of its kind waits for more calls
// (SQLite's statements carry one call, are always full, and never wait).
// Measured with `assistd bench -n 6000 -c 32`, 3 runs each, alternated: none 1,189–1,221
// tickets/s, 2 ms 1,259–1,512, 5 ms 1,250–1,313; at 500 tickets/s the end-to-end p99 stayed
// 38–44 ms either way.
const groupLinger = 2 * time.Millisecond
