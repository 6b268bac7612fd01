package inbound

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/assistd/assistd/metrics"
	"github.com/assistd/assistd/storage"
)

// session is one IMAP connection: it reads the mailbox until the connection or the lease is
// lost, or ctx is done.
func (p *Poller) session(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	c, conn, err := p.dial(wake)
	if err != nil {
		metrics.IMAPErrors.WithLabelValues("connect").Inc()
		return fmt.Errorf("connect: %w", err)
	}
	defer c.Close()
	// Ending the session fails the client's reading rather than closing the connection under it:
	// imapclient closes a command's channel from a failed write while its reader may still be
	// handing that command a message.
	stop := context.AfterFunc(ctx, conn.interrupt)
	defer stop()

	if err := c.Login(p.user, p.pass).Wait(); err != nil {
		metrics.IMAPErrors.WithLabelValues("connect").Inc()
		return fmt.Errorf("login as %s: %w", p.user, err)
	}
	for _, folder := range []string{p.cfg.DoneFolder, p.cfg.RejectFolder} {
		if err := ensureFolder(c, folder); err != nil {
			metrics.IMAPErrors.WithLabelValues("connect").Inc()
			return err
		}
	}
	sel, err := c.Select(p.mailbox, nil).Wait()
	if err != nil {
		metrics.IMAPErrors.WithLabelValues("connect").Inc()
		return fmt.Errorf("select %s: %w", p.mailbox, err)
	}
	s := &session{p: p, c: c, wake: wake, uidValidity: sel.UIDValidity, idle: !p.cfg.NoIDLE && (c.Caps().Has(imap.CapIdle) || c.Caps().Has(imap.CapIMAP4rev2))}
	if s.idle {
		p.log.Info("mailbox open", "mailbox", p.mailbox, "wait", "idle")
	} else {
		p.log.Info("mailbox open", "mailbox", p.mailbox, "wait", "poll", "every", p.cfg.PollInterval)
	}
	if err := s.start(ctx, sel); err != nil {
		return err
	}
	for {
		n, err := s.drain(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		metrics.IMAPLastPoll.SetToCurrentTime()
		if n > 0 {
			// Our own moves may have hidden an EXISTS from us: look again before idling.
			continue
		}
		if err := s.wait(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

func ensureFolder(c *imapclient.Client, name string) error {
	found, err := c.List("", name, nil).Collect()
	if err != nil {
		return fmt.Errorf("list %s: %w", name, err)
	}
	if len(found) > 0 {
		return nil
	}
	if err := c.Create(name, nil).Wait(); err != nil {
		var ierr *imap.Error
		if errors.As(err, &ierr) && ierr.Code == imap.ResponseCodeAlreadyExists {
			return nil
		}
		return fmt.Errorf("create %s: %w", name, err)
	}
	return nil
}

// session is the state of one connection with the mailbox selected.
type session struct {
	p           *Poller
	c           *imapclient.Client
	wake        chan struct{}
	idle        bool
	uidValidity uint32
	last        uint32 // the cursor: every UID up to it is recorded
	// oldReason is recorded for unrecorded mail found at or below the cursor: mail that was in
	// the mailbox before its first connection, or before its UIDVALIDITY changed.
	oldReason string
	// swept is set once the messages at or below the cursor still in the mailbox (recorded
	// but not moved, as after a crash) have been dealt with in this session.
	swept bool
}

// start reads the cursor, setting it at the mailbox's end on a first connection or after a
// UIDVALIDITY change, so that the mail already there is recorded without an answer.
func (s *session) start(ctx context.Context, sel *imap.SelectData) error {
	p := s.p
	cur, err := p.deps.Store.MailboxCursor(ctx, p.key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		s.oldReason = ReasonBacklog
	case err != nil:
		metrics.IMAPErrors.WithLabelValues("record").Inc()
		return fmt.Errorf("read cursor: %w", err)
	case cur.UIDValidity != sel.UIDValidity:
		s.oldReason = ReasonOldMail
		p.log.Warn("mailbox UIDVALIDITY changed: recording its mail without answering", "mailbox", p.key,
			"was", cur.UIDValidity, "now", sel.UIDValidity)
	default:
		s.last = cur.LastUID
		s.oldReason = "below_cursor"
		return nil
	}
	top := uint32(sel.UIDNext)
	if top > 0 {
		top--
	} else {
		// A server that does not say UIDNEXT: the highest UID there is.
		data, err := s.c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		for _, uid := range data.AllUIDs() {
			top = max(top, uint32(uid))
		}
	}
	s.last = top
	if err := p.deps.Store.SetMailboxCursor(ctx, storage.MailboxCursor{Mailbox: p.key, UIDValidity: sel.UIDValidity, LastUID: top}); err != nil {
		metrics.IMAPErrors.WithLabelValues("record").Inc()
		return fmt.Errorf("set cursor: %w", err)
	}
	p.log.Info("mailbox cursor set", "mailbox", p.key, "uidvalidity", sel.UIDValidity, "last_uid", top, "reason", s.oldReason)
	return nil
}

// wait returns when the mailbox may hold new mail: at once under IDLE, else after the poll
// interval.
func (s *session) wait(ctx context.Context) error {
	if !s.idle {
		select {
		case <-ctx.Done():
		case <-s.c.Closed():
			return errors.New("connection closed")
		case <-time.After(s.p.cfg.PollInterval):
		}
		return nil
	}
	select {
	case <-s.wake: // arrived while draining
		return nil
	default:
	}
	cmd, err := s.c.Idle()
	if err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	// IDLE is renewed well before the server's allowed silence runs out.
	recheck := time.NewTimer(min(idleRecheck, s.p.cfg.ServerSilence/2))
	defer recheck.Stop()
	select {
	case <-ctx.Done():
	case <-s.c.Closed():
	case <-s.wake:
	case <-recheck.C:
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	return nil
}

// disposal is a flag-and-move in flight.
type disposal struct {
	folder string
	store  *imapclient.FetchCommand
	move   *imapclient.MoveCommand
}

// dispose flags messages \Seen and moves them, without waiting for the server.
func (s *session) dispose(uids []imap.UID, folder string) *disposal {
	d := &disposal{folder: folder}
	if len(uids) == 0 {
		return d
	}
	var set imap.UIDSet
	set.AddNum(uids...)
	d.store = s.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil)
	d.move = s.c.Move(set, folder)
	return d
}

// wait waits for a disposal. A message left behind stays at or below the cursor: it is moved
// at the next connection, never answered again.
func (d *disposal) wait(log *slog.Logger) {
	if d.store != nil {
		if err := d.store.Close(); err != nil {
			metrics.IMAPErrors.WithLabelValues("dispose").Inc()
			log.Warn("cannot flag messages seen", "err", err)
		}
		d.store = nil
	}
	if d.move != nil {
		if _, err := d.move.Wait(); err != nil {
			metrics.IMAPErrors.WithLabelValues("dispose").Inc()
			log.Warn("cannot move messages", "folder", d.folder, "err", err)
		}
		d.move = nil
	}
}
