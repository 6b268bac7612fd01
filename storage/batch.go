package storage

import (
	"context"
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
// queueing for connections, and Postgres does one parse, one plan and one commit for many rows.
//
// Each call gets its own result. A statement that fails fails every call it carried, which the
// callers handle as they would their own failure: nothing was written.
type coalescer[Req, Res any] struct {
	sizes    prometheus.Observer
	max      int // calls per statement
	inFlight int // statements running at once
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

// planEach, passed first among a grouped statement's arguments, has Postgres plan the statement
// for the arrays it is given each time (pgx then uses the unnamed prepared statement). A cached
// generic plan would be fixed once, possibly while the tables were nearly empty: a plan that scans
// them whole, which got slower with every row (seen: one run in four fell from 1,100 to 270
// tickets/s, its processing statement taking 150 ms). Planning is paid once per group.
const planEach = pgx.QueryExecModeCacheDescribe

// coalescedTimeout bounds one statement. It applies whatever the callers' deadlines, since a
// statement serves several of them; a caller whose context ends stops waiting.
const coalescedTimeout = 30 * time.Second

// newCoalescer groups calls to run; name labels its statements in metrics.DBGroupSize.
func newCoalescer[Req, Res any](name string, max, inFlight int, run func(context.Context, []Req) ([]Res, error)) *coalescer[Req, Res] {
	return &coalescer[Req, Res]{sizes: metrics.DBGroupSize.WithLabelValues(name), max: max, inFlight: inFlight, run: run}
}

// do runs req in the next statement and returns its result. When ctx ends first, do returns
// ctx.Err(); the statement may still complete, as a statement whose answer is lost does.
func (c *coalescer[Req, Res]) do(ctx context.Context, req Req) (Res, error) {
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
	for {
		c.mu.Lock()
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
		sctx, cancel := context.WithTimeout(ctx, coalescedTimeout)
		res, err := c.run(sctx, reqs)
		cancel()
		if err == nil && len(res) != n {
			err = fmt.Errorf("storage: a grouped statement gave %d results for %d requests", len(res), n)
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
