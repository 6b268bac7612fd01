package inbound

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/metrics"
)

// pending is a UID to fetch, and whether its mail may be answered.
type pending struct {
	uid    imap.UID
	answer bool
}

// drain records every message above the cursor (and, once per session, those below it that
// are still in the mailbox), batch by batch: the next batch is fetched while the current one is
// recorded, and each batch is flagged and moved with one command once it is committed.
func (s *session) drain(ctx context.Context) (int, error) {
	from := imap.UID(s.last + 1)
	if !s.swept {
		from = 1
	}
	data, err := s.c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{{imap.UIDRange{Start: from, Stop: 0}}}}, nil).Wait()
	if err != nil {
		metrics.IMAPErrors.WithLabelValues("fetch").Inc()
		return 0, fmt.Errorf("search: %w", err)
	}
	var todo []pending
	for _, uid := range data.AllUIDs() {
		// "UID n:*" always matches the last message, even below n: filter ourselves.
		if uid < from {
			continue
		}
		todo = append(todo, pending{uid: uid, answer: uint32(uid) > s.last})
	}
	slices.SortFunc(todo, func(a, b pending) int { return int(a.uid) - int(b.uid) })
	if len(todo) == 0 {
		s.swept = true
		return 0, nil
	}

	var (
		batches  = chunk(todo, s.p.cfg.BatchSize)
		next     = s.fetch(batches[0])
		disposed []*disposal
	)
	defer func() {
		if next != nil {
			select {
			case <-s.c.Closed():
			default:
				collect(next)
			}
		}
		for _, d := range disposed {
			d.wait(s.p.log)
		}
	}()
	for i, batch := range batches {
		msgs, err := collect(next)
		next = nil
		if err != nil {
			metrics.IMAPErrors.WithLabelValues("fetch").Inc()
			return 0, fmt.Errorf("fetch: %w", err)
		}
		if i+1 < len(batches) {
			next = s.fetch(batches[i+1])
		}
		done, rejected, err := s.record(ctx, batch, msgs)
		if err != nil {
			metrics.IMAPErrors.WithLabelValues("record").Inc()
			return 0, err
		}
		disposed = append(disposed, s.dispose(done, s.p.cfg.DoneFolder), s.dispose(rejected, s.p.cfg.RejectFolder))
		// Keep at most two batches' disposals in flight.
		for len(disposed) > 4 {
			disposed[0].wait(s.p.log)
			disposed = disposed[1:]
		}
	}
	s.swept = true
	return len(todo), nil
}

func chunk(todo []pending, n int) [][]pending {
	var out [][]pending
	for len(todo) > n {
		out = append(out, todo[:n])
		todo = todo[n:]
	}
	return append(out, todo)
}

var (
	headerSection = &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true,
		Partial: &imap.SectionPartial{Offset: 0, Size: mail.MaxInboundHeader}}
	textSection = &imap.FetchItemBodySection{Specifier: imap.PartSpecifierText, Peek: true,
		Partial: &imap.SectionPartial{Offset: 0, Size: mail.MaxInboundBody}}
	fetchOptions = &imap.FetchOptions{UID: true, InternalDate: true,
		BodySection: []*imap.FetchItemBodySection{headerSection, textSection}}
)

// collect reads a fetch's responses. Unlike FetchCommand.Collect it leaves the command alone
// after a read error: reading a failed literal again races with the client's reader.
func collect(cmd *imapclient.FetchCommand) ([]*imapclient.FetchMessageBuffer, error) {
	var out []*imapclient.FetchMessageBuffer
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		buf := &imapclient.FetchMessageBuffer{SeqNum: msg.SeqNum}
		for item := msg.Next(); item != nil; item = msg.Next() {
			switch item := item.(type) {
			case imapclient.FetchItemDataUID:
				buf.UID = item.UID
			case imapclient.FetchItemDataInternalDate:
				buf.InternalDate = item.Time
			case imapclient.FetchItemDataBodySection:
				var b []byte
				if item.Literal != nil {
					var err error
					// The server honours the partial size; the limit guards against one that does not.
					if b, err = io.ReadAll(io.LimitReader(item.Literal, mail.MaxInboundHeader+mail.MaxInboundBody)); err != nil {
						return nil, err
					}
				}
				buf.BodySection = append(buf.BodySection, imapclient.FetchBodySectionBuffer{Section: item.Section, Bytes: b})
			}
		}
		out = append(out, buf)
	}
	return out, cmd.Close()
}

// fetch asks for a batch's headers and the start of their bodies, without waiting.
func (s *session) fetch(batch []pending) *imapclient.FetchCommand {
	var set imap.UIDSet
	for _, m := range batch {
		set.AddNum(m.uid)
	}
	return s.c.Fetch(set, fetchOptions)
}
