package inbound

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/assistd/assistd/metrics"
)

// lease is the right to poll a mailbox, held in Redis by one instance at a time.
type lease struct {
	rdb   redis.UniversalClient
	key   string
	token string
	ttl   time.Duration
	log   *slog.Logger
}

var (
	renewScript   = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("PEXPIRE", KEYS[1], ARGV[2]) else return 0 end`)
	releaseScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end`)
)

// acquire waits for the mailbox's lease; it returns nil, nil when ctx is done first.
func (p *Poller) acquire(ctx context.Context) (*lease, error) {
	random := make([]byte, 8)
	_, _ = crand.Read(random)
	l := &lease{rdb: p.deps.Redis, key: "assistd:imap:lease:" + p.key, token: p.cfg.Instance + "/" + hex.EncodeToString(random),
		ttl: p.cfg.LeaseTTL, log: p.log}
	waiting := false
	for {
		ok, err := l.rdb.SetNX(ctx, l.key, l.token, l.ttl).Result()
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil
			}
			metrics.IMAPErrors.WithLabelValues("lease").Inc()
			return nil, fmt.Errorf("take the mailbox lease: %w", err)
		}
		if ok {
			p.log.Info("holding the mailbox", "mailbox", p.key, "instance", p.cfg.Instance)
			return l, nil
		}
		if !waiting {
			holder, _ := l.rdb.Get(ctx, l.key).Result()
			p.log.Info("mailbox held by another instance; waiting", "mailbox", p.key, "holder", holder)
			waiting = true
		}
		if !sleep(ctx, l.ttl/3) {
			return nil, nil
		}
	}
}

// keep renews the lease until ctx is done, and cancels the session as soon as it cannot: the
// mailbox may then belong to someone else.
func (l *lease) keep(ctx context.Context, lost context.CancelCauseFunc) {
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := renewScript.Run(ctx, l.rdb, []string{l.key}, l.token, l.ttl.Milliseconds()).Int()
		if ctx.Err() != nil {
			return
		}
		if err != nil || n == 0 {
			metrics.IMAPErrors.WithLabelValues("lease").Inc()
			if err == nil {
				err = errors.New("taken over")
			}
			lost(fmt.Errorf("mailbox lease lost: %w", err))
			return
		}
	}
}

func (l *lease) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := releaseScript.Run(ctx, l.rdb, []string{l.key}, l.token).Err(); err != nil {
		l.log.Warn("cannot release the mailbox lease; it expires by itself", "err", err)
	}
}

// sleep waits d or until ctx is done; it reports whether the whole d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
