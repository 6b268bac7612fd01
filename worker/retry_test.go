package worker

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/assistd/assistd/jobs"
)

func TestATaskWhoseWorkerDiedRunsAgainWithoutTheRetryDelay(t *testing.T) {
	relayDown := errors.New("dial tcp 127.0.0.1:25: connection refused")
	for _, tc := range []struct {
		name     string
		task     string
		retried  int
		err      error
		min, max time.Duration
	}{
		{"a ticket whose worker died runs again at once", jobs.TypeTicketCreate, 0, asynq.ErrLeaseExpired, 0, 0},
		{"an email whose worker died runs again at once, even after retries", jobs.TypeEmailSend, 3, asynq.ErrLeaseExpired, 0, 0},
		{"a lease expiry wrapped by another error still runs again at once", jobs.TypeOutboxRelay, 1, fmt.Errorf("recover: %w", asynq.ErrLeaseExpired), 0, 0},
		{"an email the relay refused first waits 5 s", jobs.TypeEmailSend, 0, relayDown, 5 * time.Second, 5 * time.Second},
		{"an email the relay refused a third time waits 20 s", jobs.TypeEmailSend, 2, relayDown, 20 * time.Second, 20 * time.Second},
		{"an email never waits more than 3 h", jobs.TypeEmailSend, 20, relayDown, 3 * time.Hour, 3 * time.Hour},
		{"a ticket that failed waits asynq's default, 15 to 45 s the first time", jobs.TypeTicketCreate, 0, relayDown, 15 * time.Second, 45 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 20 { // asynq's default is random
				d := retryDelay(tc.retried, tc.err, asynq.NewTask(tc.task, nil))
				if d < tc.min || d > tc.max {
					t.Fatalf("retry delay %s, want %s to %s", d, tc.min, tc.max)
				}
			}
		})
	}
}
