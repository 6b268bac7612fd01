// Package jobs defines assistd's background tasks, one file per task type: its type name, its
// payload, its constructor (which sets the options that make up its contract) and its handler.
//
// Payloads carry ids only. A message body, an email, or a password — sealed or not — never
// enters Redis: handlers read what they need from the database.
package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/notify"
	"github.com/assistd/assistd/objects"
	"github.com/assistd/assistd/scan"
	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/storage"
)

// Queues, by class; weights are set by the worker.
const (
	QueueCritical = "critical"
	QueueDefault  = "default"
	QueueLow      = "low"
)

// Sender delivers one message over SMTP; mail.Sender implements it.
type Sender interface {
	Send(ctx context.Context, envelopeFrom, to string, raw []byte) error
}

// Deps is what the handlers work with.
type Deps struct {
	Store *storage.Store
	// Deliveries, when set, is where email:send records what the SMTP server answered and
	// ticket:create records a new ticket routed and its emails: a pool that may commit without waiting for the disk
	// (storage.RelaxedCommit), since a commit lost in a database crash only means the same
	// messages, with the same Message-IDs, are sent again. Changes a customer sees (status,
	// auto-close) keep the durable Store.
	Deliveries *storage.Store
	Composer   *mail.Composer
	Sender     Sender
	Enqueuer   *Enqueuer
	// Inspector, when set, lets the outbox relay find tasks asynq gave up on.
	Inspector *asynq.Inspector
	Keys      *secret.Keyring
	Log       *slog.Logger
	// SecretTTL is how long a customer's password is kept.
	SecretTTL time.Duration
	// AutoCloseAfter is how long an answered ticket waits for the customer before closing.
	AutoCloseAfter time.Duration
	// RetentionClosed is how long closed tickets are kept before they are erased; 0 keeps them.
	RetentionClosed time.Duration
	// Objects is where attachment files are kept; Clamd, when set, scans them.
	Objects objects.Store
	Clamd   *scan.Clamd
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// RelayPerRun caps the pending outbox rows one outbox relay run handles; 0 means 20,000.
	RelayPerRun int

	expirySlot atomic.Int64 // the last second whose secret:expire task this process queued
	relayFrom  atomic.Int64 // the outbox id this process's next relay run starts after
}

func (d *Deps) deliveries() *storage.Store {
	if d.Deliveries != nil {
		return d.Deliveries
	}
	return d.Store
}

// emails renders the emails of ticket changes.
func (d *Deps) emails() notify.Emails { return notify.Emails{Composer: d.Composer, Log: d.Log} }

func (d *Deps) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

// Register installs every handler on a mux.
func Register(mux *asynq.ServeMux, d *Deps) {
	mux.HandleFunc(TypeTicketCreate, d.HandleTicketCreate)
	mux.HandleFunc(TypeEmailSend, d.HandleEmailSend)
	mux.HandleFunc(TypeSecretExpire, d.HandleSecretExpire)
	mux.HandleFunc(TypeSecretSweep, d.HandleSecretSweep)
	mux.HandleFunc(TypeOutboxRelay, d.HandleOutboxRelay)
	mux.HandleFunc(TypeAutoClose, d.HandleAutoClose)
	mux.HandleFunc(TypeSLAMoment, d.HandleSLAMoment)
	mux.HandleFunc(TypeSLASweep, d.HandleSLASweep)
	mux.HandleFunc(TypeErase, d.HandleErase)
	mux.HandleFunc(TypeErasureSweep, d.HandleErasureSweep)
	mux.HandleFunc(TypeAttachmentScan, d.HandleAttachmentScan)
	mux.HandleFunc(TypeAttachmentSweep, d.HandleAttachmentSweep)
}

// Enqueuer puts tasks in Redis. A task whose id is already there is not an error: it is the
// same work, already queued.
type Enqueuer struct {
	client *asynq.Client
}

// NewEnqueuer wraps an asynq client.
func NewEnqueuer(c *asynq.Client) *Enqueuer { return &Enqueuer{client: c} }

// Enqueue queues a task, treating a TaskID conflict as success.
func (e *Enqueuer) Enqueue(ctx context.Context, t *asynq.Task, extra ...asynq.Option) error {
	_, err := e.client.EnqueueContext(ctx, t, extra...)
	if errors.Is(err, asynq.ErrTaskIDConflict) || errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	return err
}

// EnqueueEmails queues one email:send per outbox id. A failure leaves the rows to the relay.
func (e *Enqueuer) EnqueueEmails(ctx context.Context, ids []int64) error {
	var errs []error
	for _, id := range ids {
		if err := e.Enqueue(ctx, NewEmailSendTask(id)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func decode(t *asynq.Task, v any) error {
	if err := json.Unmarshal(t.Payload(), v); err != nil {
		return fmt.Errorf("%s: bad payload: %v: %w", t.Type(), err, asynq.SkipRetry)
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // payloads are structs of ids
	}
	return b
}
