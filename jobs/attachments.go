package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hibiken/asynq"

	"github.com/assistd/assistd/metrics"
	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/storage"
)

// TypeAttachmentScan has clamd judge one uploaded file (INSTREAM); the payload is the
// attachment's id, never a byte of the file, which the worker reads from the object store.
const TypeAttachmentScan = "attachment:scan"

// TypeAttachmentSweep queues again the scans Redis lost or clamd could not do, deletes uploads
// never attached after UnattachedTTL, destroys confidential files past their time, and deletes
// from the store the objects of every file removed.
const TypeAttachmentSweep = "sweep:attachments"

// UnattachedTTL is how long an upload waits to be attached to a message.
const UnattachedTTL = 24 * time.Hour

// AttachmentScanPayload names the file.
type AttachmentScanPayload struct {
	ID string `json:"id"`
}

// NewAttachmentScanTask builds the scan of one file; its id keeps it queued once.
func NewAttachmentScanTask(id string) *asynq.Task {
	return asynq.NewTask(TypeAttachmentScan, mustJSON(AttachmentScanPayload{ID: id}),
		asynq.TaskID("attachment-scan:"+id), asynq.Queue(QueueDefault), asynq.MaxRetry(20), asynq.Timeout(5*time.Minute))
}

// HandleAttachmentScan streams the file from the store to clamd and records the verdict. clamd
// unreachable: the file stays pending and the task fails, to be retried (and the sweep queues it
// again once the retries are spent).
func (d *Deps) HandleAttachmentScan(ctx context.Context, t *asynq.Task) error {
	var p AttachmentScanPayload
	if err := decode(t, &p); err != nil {
		return err
	}
	return d.ScanAttachment(ctx, p.ID)
}

// ScanAttachment judges one pending file.
func (d *Deps) ScanAttachment(ctx context.Context, id string) error {
	a, err := d.Store.Attachment(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil // swept away before its scan
	}
	if err != nil {
		return fmt.Errorf("attachment:scan: %w", err)
	}
	if a.Scan != storage.ScanPending || a.Removed() {
		return nil
	}
	if d.Clamd == nil {
		return fmt.Errorf("attachment:scan %s: no clamd configured in this worker", id)
	}
	rc, err := d.OpenAttachment(ctx, a)
	if err != nil {
		return fmt.Errorf("attachment:scan %s: %w", id, err)
	}
	defer rc.Close()
	v, err := d.Clamd.Scan(ctx, rc)
	if err != nil {
		metrics.AttachmentScans.WithLabelValues("unavailable").Inc()
		return fmt.Errorf("attachment:scan %s: %w", id, err)
	}
	state, sig := storage.ScanClean, (*string)(nil)
	if v.Infected {
		state, sig = storage.ScanInfected, &v.Signature
		metrics.AttachmentsQuarantined.Inc()
		d.Log.Warn("infected attachment quarantined", "attachment", id, "signature", v.Signature)
	}
	metrics.AttachmentScans.WithLabelValues(state).Inc()
	if err := d.Store.SetScan(ctx, id, state, sig, d.now()); err != nil {
		return fmt.Errorf("attachment:scan %s: %w", id, err)
	}
	return nil
}

// OpenAttachment reads a file's bytes from the store, opening its sealing when it is
// confidential.
func (d *Deps) OpenAttachment(ctx context.Context, a storage.Attachment) (io.ReadCloser, error) {
	return OpenAttachment(ctx, d.Objects, d.Keys, a)
}

// OpenAttachment reads a file's bytes from a store, opening its sealing with keys when it is
// confidential (bound to its upload, or to its ticket once attached).
func OpenAttachment(ctx context.Context, objs interface {
	Open(ctx context.Context, key string) (io.ReadCloser, error)
}, keys *secret.Keyring, a storage.Attachment) (io.ReadCloser, error) {
	if objs == nil {
		return nil, errors.New("no object store configured")
	}
	rc, err := objs.Open(ctx, a.ObjectKey)
	if err != nil || !a.Confidential {
		return rc, err
	}
	binding := storage.UploadBinding(a.ID)
	if a.TicketID != nil {
		binding = storage.AttachmentBinding(*a.TicketID, a.ID)
	}
	if a.DataKey == nil {
		rc.Close()
		return nil, secret.ErrOpen
	}
	k, err := keys.OpenFileKey(a.DataKey, binding)
	if err != nil {
		rc.Close()
		return nil, err
	}
	r, err := secret.OpenFile(rc, k, a.ID)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return readCloser{r, rc}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// HandleAttachmentSweep is the periodic housekeeping of attachments.
func (d *Deps) HandleAttachmentSweep(ctx context.Context, _ *asynq.Task) error {
	return d.SweepAttachments(ctx)
}

// SweepAttachments queues the pending scans older than a minute, removes uploads never attached
// and confidential files past their time, and deletes the objects of removed files.
func (d *Deps) SweepAttachments(ctx context.Context) error {
	at := d.now()
	if d.Clamd != nil && d.Enqueuer != nil {
		ids, err := d.Store.PendingScans(ctx, at.Add(-time.Minute), 500)
		if err != nil {
			return fmt.Errorf("sweep:attachments: %w", err)
		}
		for _, id := range ids {
			if d.Inspector != nil {
				// A scan whose retries are spent sits archived under its id: start it afresh.
				if info, err := d.Inspector.GetTaskInfo(QueueDefault, "attachment-scan:"+id); err == nil && info.State == asynq.TaskStateArchived {
					_ = d.Inspector.DeleteTask(QueueDefault, "attachment-scan:"+id)
				}
			}
			if err := d.Enqueuer.Enqueue(ctx, NewAttachmentScanTask(id)); err != nil {
				return fmt.Errorf("sweep:attachments: %w", err)
			}
		}
	}
	if _, err := d.Store.RemoveUnattached(ctx, at.Add(-UnattachedTTL)); err != nil {
		return fmt.Errorf("sweep:attachments: %w", err)
	}
	if n, err := d.Store.DestroyConfidential(ctx, at); err != nil {
		return fmt.Errorf("sweep:attachments: %w", err)
	} else if n > 0 {
		d.Log.Info("confidential attachments destroyed", "count", n)
	}
	return d.DeleteRemovedObjects(ctx, 0)
}

// DeleteRemovedObjects deletes from the store the objects of removed files (of one erasure when
// erasureID is not 0) and records each deletion; it stops at the first failure, leaving the rest
// to the next run.
func (d *Deps) DeleteRemovedObjects(ctx context.Context, erasureID int64) error {
	for {
		left, err := d.Store.ObjectsLeft(ctx, erasureID, 200)
		if err != nil {
			return fmt.Errorf("attachments: %w", err)
		}
		if len(left) == 0 {
			return nil
		}
		if d.Objects == nil {
			return errors.New("attachments: files to delete but no object store configured")
		}
		for _, o := range left {
			if err := d.Objects.Delete(ctx, o.ObjectKey); err != nil {
				return fmt.Errorf("attachments: %w", err)
			}
			if err := d.Store.ObjectDeleted(ctx, o, d.now()); err != nil {
				return fmt.Errorf("attachments: %w", err)
			}
			reason := "confidential"
			switch {
			case o.Erasure != nil:
				reason = "erasure"
			case o.MessageID == nil:
				reason = "unattached"
			}
			metrics.AttachmentsRemoved.WithLabelValues(reason).Inc()
		}
	}
}
