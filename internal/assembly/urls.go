package assembly

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/assistd/assistd/internal/redisconn"
)

// CheckDatabaseURL accepts the forms storage.Open opens. Errors never repeat the URL: it may
// hold a password.
func CheckDatabaseURL(raw string) error {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		if _, err := url.Parse(raw); err != nil {
			return fmt.Errorf("does not parse as a URL (%v)", withoutURL(err))
		}
		return nil
	case strings.HasPrefix(raw, "sqlite:") && len(raw) > len("sqlite:"):
		return nil
	}
	return errors.New("must be postgres://user:pass@host:5432/db?sslmode=… or sqlite:PATH")
}

// CheckRedisURL parses as NewRedis will: redis://, rediss:// or redis-sentinel://. Errors never
// repeat the URL: it may hold a password.
func CheckRedisURL(raw string) error {
	_, err := redisconn.Parse(raw)
	return err
}

// withoutURL drops the quoted URL that url.Parse puts in its errors.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
