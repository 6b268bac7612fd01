package redisconn_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/assistd/assistd/internal/redisconn"
)

func TestASentinelURLNamesTheSentinelsTheMasterAndItsPasswords(t *testing.T) {
	for _, tc := range []struct {
		name, url              string
		addrs                  []string
		master                 string
		db                     int
		user, password, senPwd string
	}{
		{"asynq's form names two Sentinels and the master", "redis-sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26380?master=assistd",
			[]string{"10.0.0.1:26379", "10.0.0.2:26380"}, "assistd", 0, "", "s3cret", "s3cret"},
		{"a Sentinel given without a port is on 26379", "redis-sentinel://sentinel-1,sentinel-2:5000?master=mymaster",
			[]string{"sentinel-1:26379", "sentinel-2:5000"}, "mymaster", 0, "", "", ""},
		{"a database number in the path is the master's", "redis-sentinel://127.0.0.1:26379/3?master=assistd",
			[]string{"127.0.0.1:26379"}, "assistd", 3, "", "", ""},
		{"an ACL user name is kept", "redis-sentinel://assistd:p%40ss@127.0.0.1:26379?master=assistd",
			[]string{"127.0.0.1:26379"}, "assistd", 0, "assistd", "p@ss", "p@ss"},
		{"sentinel_password gives the Sentinels a password of their own", "redis-sentinel://:data@127.0.0.1:26379?master=assistd&sentinel_password=watch",
			[]string{"127.0.0.1:26379"}, "assistd", 0, "", "data", "watch"},
		{"an empty sentinel_password leaves the Sentinels without one", "redis-sentinel://:data@127.0.0.1:26379?master=assistd&sentinel_password=",
			[]string{"127.0.0.1:26379"}, "assistd", 0, "", "data", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := redisconn.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			f := o.Failover
			if o.Single != nil || f == nil {
				t.Fatalf("parsed as %+v, want a failover client", o)
			}
			if !reflect.DeepEqual(f.SentinelAddrs, tc.addrs) || f.MasterName != tc.master || f.DB != tc.db ||
				f.Username != tc.user || f.Password != tc.password || f.SentinelPassword != tc.senPwd {
				t.Fatalf("Sentinels %v, master %q, db %d, user %q, password %q, Sentinels' password %q", f.SentinelAddrs, f.MasterName, f.DB,
					f.Username, f.Password, f.SentinelPassword)
			}
		})
	}
}

func TestOneRedisURLIsGoRedisOwn(t *testing.T) {
	for _, tc := range []struct {
		name, url, addr string
		db              int
		tls             bool
	}{
		{"redis:// is plain", "redis://:pw@127.0.0.1:6379/5", "127.0.0.1:6379", 5, false},
		{"rediss:// is TLS, checked against the host name", "rediss://assistd:pw@redis.internal:6380/2", "redis.internal:6380", 2, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := redisconn.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			s := o.Single
			if o.Failover != nil || s == nil || s.Addr != tc.addr || s.DB != tc.db || (s.TLSConfig != nil) != tc.tls {
				t.Fatalf("parsed as %+v", o)
			}
			if tc.tls && (s.TLSConfig.InsecureSkipVerify || s.TLSConfig.ServerName != "redis.internal") {
				t.Fatalf("TLS without checking the server's name: %+v", s.TLSConfig)
			}
		})
	}
}

func TestTuningOverridesTheTimeoutsAndThePool(t *testing.T) {
	for _, url := range []string{"redis://127.0.0.1:6379/0", "redis-sentinel://127.0.0.1:26379?master=assistd"} {
		c, err := redisconn.Open(url, redisconn.Service)
		if err != nil {
			t.Fatal(err)
		}
		o := c.Options()
		c.Close()
		if o.DialTimeout != redisconn.Service.DialTimeout || o.ReadTimeout != redisconn.Service.ReadTimeout ||
			o.WriteTimeout != redisconn.Service.WriteTimeout || o.PoolSize != redisconn.Service.PoolSize {
			t.Errorf("%s: dial %s, read %s, write %s, pool %d; want the service's tuning %+v", url, o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolSize, redisconn.Service)
		}
	}
}

func TestABadURLIsRefusedWithoutRepeatingItsPassword(t *testing.T) {
	const password = "hunter2-not-for-logs"
	for _, tc := range []struct{ name, url, says string }{
		{"a Sentinel URL without a master name", "redis-sentinel://:" + password + "@127.0.0.1:26379", "?master=NAME"},
		{"a Sentinel URL with an unknown parameter", "redis-sentinel://:" + password + "@127.0.0.1:26379?master=a&mastr=b", `unknown parameter "mastr"`},
		{"a Sentinel port that is not a number", "redis-sentinel://:" + password + "@127.0.0.1:26379,127.0.0.1:x?master=a", "port"},
		{"a Sentinel URL whose path is not a database", "redis-sentinel://:" + password + "@127.0.0.1:26379/zero?master=a", "database number"},
		{"an unknown scheme", "http://:" + password + "@redis:6379", "redis-sentinel://"},
		{"a redis URL with a bad database", "redis://:" + password + "@127.0.0.1:6379/x", "redis://"},
		{"a URL that does not parse", "redis://:" + password + "@127.0.0.1:6379/0%zz", "does not parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := redisconn.Parse(tc.url)
			if err == nil || !strings.Contains(err.Error(), tc.says) || strings.Contains(err.Error(), password) {
				t.Fatalf("%v, want a refusal saying %q without the password", err, tc.says)
			}
		})
	}
}
