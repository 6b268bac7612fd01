// Package memimap is an IMAP server in memory, on a loopback listener: go-imap's imapmemserver
// with one user and its INBOX. `assistd demo` uses it as the support mailbox, and tests of the
// poller talk the real protocol to it.
//
// It accepts a password over plain TCP: it is for demos and tests only, never for a network.
package memimap

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// Inbox is the mailbox Append delivers to.
const Inbox = "INBOX"

// Server is a running in-memory IMAP server with one user.
type Server struct {
	srv      *imapserver.Server
	ln       net.Listener
	mem      *imapmemserver.Server
	user     *imapmemserver.User
	name     string
	password string
	served   chan struct{}
	closing  sync.Once
}

// Start listens on addr ("127.0.0.1:0" picks a free port) and serves IMAP for one user whose
// INBOX exists and is empty.
func Start(addr, user, pass string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("memimap: listen on %s: %w", addr, err)
	}
	s := &Server{ln: ln, mem: imapmemserver.New(), user: imapmemserver.NewUser(user, pass), name: user, password: pass,
		served: make(chan struct{})}
	if err := s.user.Create(Inbox, nil); err != nil {
		ln.Close()
		return nil, fmt.Errorf("memimap: create INBOX: %w", err)
	}
	s.mem.AddUser(s.user)
	s.srv = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return s.mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	})
	go func() {
		defer close(s.served)
		s.srv.Serve(ln)
	}()
	return s, nil
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the mailbox in the form ASSISTD_IMAP_URL takes: imap://user:pass@host:port/INBOX.
func (s *Server) URL() string {
	u := url.URL{Scheme: "imap", User: url.UserPassword(s.name, s.password), Host: s.Addr(), Path: "/" + Inbox}
	return u.String()
}

// Append delivers a message to the INBOX, as a mail server would.
func (s *Server) Append(raw []byte) error {
	_, err := s.user.Append(Inbox, literal{bytes.NewReader(raw)}, &imap.AppendOptions{Time: time.Now()})
	if err != nil {
		return fmt.Errorf("memimap: append: %w", err)
	}
	return nil
}

// Count is the number of messages in a mailbox.
func (s *Server) Count(mailbox string) (int, error) {
	st, err := s.user.Status(mailbox, &imap.StatusOptions{NumMessages: true})
	if err != nil {
		return 0, err
	}
	return int(*st.NumMessages), nil
}

// Recreate deletes the INBOX and creates it again, empty, with a new UIDVALIDITY: what a
// mailbox restored or migrated looks like to a client.
func (s *Server) Recreate() error {
	if err := s.user.Delete(Inbox); err != nil {
		return err
	}
	return s.user.Create(Inbox, nil)
}

// Close stops the server and drops its connections.
func (s *Server) Close() error {
	var err error
	s.closing.Do(func() {
		err = s.srv.Close()
		<-s.served
	})
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

type literal struct{ *bytes.Reader }

func (l literal) Size() int64 { return l.Reader.Size() }
