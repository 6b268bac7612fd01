// Package redisconn builds the process's Redis client from ASSISTD_REDIS_URL: one Redis
// (redis://, rediss:// for TLS) or the master a set of Sentinels names (redis-sentinel://, the
// form asynq's ParseRedisURI reads). Every part of assistd that speaks to Redis (asynq's client,
// server and inspector, the periodic enqueuer, the mailbox lease, the queue dashboard, readiness)
// gets its client here, so a deployment moves to Sentinel by changing the URL alone. Its errors
// never repeat the URL: it may hold a password.
package redisconn

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelPort is the port of a Sentinel address given without one.
const SentinelPort = "26379"

// Tuning is what the process sets on every connection, whatever the URL says.
type Tuning struct {
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	PoolSize                               int
}

// Service is the tuning of a serving process: when Redis is away the API must keep accepting
// tickets from Postgres alone rather than wait on dials.
var Service = Tuning{DialTimeout: time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second, PoolSize: 64}

// Options is a parsed URL: exactly one of Single and Failover is set.
type Options struct {
	Single   *redis.Options
	Failover *redis.FailoverOptions
}

// Parse reads redis://, rediss:// (go-redis's own forms) and
// redis-sentinel://[[user]:password@]host[:port][,host[:port]…][/db]?master=NAME. A Sentinel
// URL's user and password are the master's and its replicas'; the Sentinels get the same
// password unless sentinel_password=… says otherwise (empty: none).
func Parse(raw string) (Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Options{}, fmt.Errorf("does not parse as a URL (%v)", unwrapURLError(err))
	}
	switch u.Scheme {
	case "redis", "rediss":
		o, err := redis.ParseURL(raw)
		if err != nil {
			return Options{}, fmt.Errorf("must be redis://[user:pass@]host:port/db or rediss://… (%v)", unwrapURLError(err))
		}
		return Options{Single: o}, nil
	case "redis-sentinel":
		o, err := parseSentinel(u)
		if err != nil {
			return Options{}, fmt.Errorf("must be redis-sentinel://[:password@]host:port[,host:port]?master=NAME (%v)", err)
		}
		return Options{Failover: o}, nil
	}
	return Options{}, errors.New("must be redis://[user:pass@]host:port/db, rediss://… (TLS) or redis-sentinel://[:password@]host:port[,host:port]?master=NAME")
}

func parseSentinel(u *url.URL) (*redis.FailoverOptions, error) {
	q := u.Query()
	for name := range q {
		if !slices.Contains([]string{"master", "sentinel_password"}, name) {
			return nil, fmt.Errorf("unknown parameter %q", name)
		}
	}
	o := &redis.FailoverOptions{MasterName: q.Get("master")}
	if o.MasterName == "" {
		return nil, errors.New("no master name: add ?master=NAME, the name the Sentinels monitor")
	}
	for _, addr := range strings.Split(u.Host, ",") {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			host, port = addr, SentinelPort
		}
		if host == "" {
			return nil, errors.New("a Sentinel address has no host")
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("a Sentinel port is not a number from 1 to 65535: %q", port)
		}
		o.SentinelAddrs = append(o.SentinelAddrs, net.JoinHostPort(host, port))
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("the path must be a database number, not %q", db)
		}
		o.DB = n
	}
	o.Username = u.User.Username()
	o.Password, _ = u.User.Password()
	o.SentinelPassword = o.Password
	if q.Has("sentinel_password") {
		o.SentinelPassword = q.Get("sentinel_password")
	}
	return o, nil
}

// Client builds the client the options describe, tuned. A Sentinel client asks the Sentinels
// for the master at every new connection and drops its connections when they announce another.
func (o Options) Client(t Tuning) *redis.Client {
	if o.Failover != nil {
		f := *o.Failover
		t.apply(&f.DialTimeout, &f.ReadTimeout, &f.WriteTimeout, &f.PoolSize)
		return redis.NewFailoverClient(&f)
	}
	s := *o.Single
	t.apply(&s.DialTimeout, &s.ReadTimeout, &s.WriteTimeout, &s.PoolSize)
	return redis.NewClient(&s)
}

// apply sets the tuning's non-zero values over a client's options.
func (t Tuning) apply(dial, read, write *time.Duration, pool *int) {
	for _, d := range []struct {
		to *time.Duration
		v  time.Duration
	}{{dial, t.DialTimeout}, {read, t.ReadTimeout}, {write, t.WriteTimeout}} {
		if d.v > 0 {
			*d.to = d.v
		}
	}
	if t.PoolSize > 0 {
		*pool = t.PoolSize
	}
}

// Open parses a URL and builds its client: the one way assistd connects to Redis.
func Open(raw string, t Tuning) (*redis.Client, error) {
	o, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	return o.Client(t), nil
}

// unwrapURLError drops the quoted URL that url.Parse puts in its errors.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
