package inbound_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"mime/quotedprintable"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/mail/inbound"
	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
)

// While Redis is down the mailbox cannot be held, so nothing is read and nothing answered:
// no automatic answer rather than one the limits could not vouch for. The mail waits in the
// mailbox and is answered once when Redis is back.
func TestPollerAnswersNothingWhileRedisIsDownAndEverythingOnceAfter(t *testing.T) {
	r := newRig(t, storagetest.Open(t, storagetest.Backends(t)[0]))
	if r.mini == nil {
		t.Skip("needs miniredis to stop Redis")
	}
	var logs systemtest.LogBuffer
	r.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	p := r.poller(inbound.Config{Instance: "test"}, nil)
	r.start(p)
	r.waitCursor(p)
	r.append(customerMail("before@exemplo.pt", "Olá", "<before@exemplo.pt>"))
	r.waitRecorded(1)

	r.mini.Close()
	eventually(t, "the session to end with the lease", func() bool { return strings.Contains(logs.String(), "mailbox lease lost") })
	for i := range 3 {
		r.append(customerMail(fmt.Sprintf("down%d@exemplo.pt", i), "Olá", fmt.Sprintf("<down%d@exemplo.pt>", i)))
	}
	time.Sleep(2 * time.Second)
	if n := len(r.inbound()); n != 1 {
		t.Errorf("%d messages recorded while Redis was down, want only the one before", n)
	}
	if n := r.count("INBOX"); n != 3 {
		t.Errorf("%d messages left in INBOX while Redis was down, want 3", n)
	}

	if err := r.mini.Restart(); err != nil {
		t.Fatal(err)
	}
	r.mini.FastForward(time.Minute) // the lease of the lost session runs out
	ms := r.waitRecorded(4)
	for _, m := range ms {
		if m.Outcome != storage.InboundAnsweredNoTicket {
			t.Errorf("message %d recorded as %s/%s", m.UID, m.Outcome, m.Reason)
		}
	}
	r.waitAnswers(4)
	eventually(t, "every message moved", func() bool { return r.count("INBOX") == 0 })
	if r.sink.Total() != 4 {
		t.Errorf("%d answers, want 4", r.sink.Total())
	}
}

// imapProxy relays an IMAP server. Once armed with a function, it runs it when the client next
// sends a UID FETCH, before the server sees the command: a window to change the mailbox under
// the client. Stall makes the connections open at that moment go quiet: the server's words stop
// reaching the client though the connection stays up, as with a server that hangs; connections
// made afterwards are relayed as usual.
type imapProxy struct {
	addr    string
	mu      sync.Mutex
	next    func()
	stalled []chan struct{}
}

func startIMAPProxy(t *testing.T, serverAddr string) *imapProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &imapProxy{addr: l.Addr().String()}
	go func() {
		for {
			client, err := l.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", serverAddr)
			if err != nil {
				client.Close()
				continue
			}
			stalled := make(chan struct{})
			p.mu.Lock()
			p.stalled = append(p.stalled, stalled)
			p.mu.Unlock()
			go func() {
				defer server.Close()
				defer client.Close()
				buf := make([]byte, 32<<10)
				for {
					n, err := server.Read(buf)
					select {
					case <-stalled:
						io.Copy(io.Discard, server) // swallowed until the client gives up
						return
					default:
					}
					if n > 0 {
						if _, werr := client.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
			go func() {
				defer client.Close()
				br := bufio.NewReader(client)
				for {
					line, err := br.ReadBytes('\n')
					if bytes.Contains(bytes.ToUpper(line), []byte(" UID FETCH ")) {
						p.mu.Lock()
						fn := p.next
						p.next = nil
						p.mu.Unlock()
						if fn != nil {
							fn()
						}
					}
					if len(line) > 0 {
						if _, werr := server.Write(line); werr != nil {
							return
						}
					}
					if err != nil {
						server.Close()
						return
					}
				}
			}()
		}
	}()
	return p
}

func (p *imapProxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.stalled {
		close(c)
	}
	p.stalled = nil
}

func (p *imapProxy) arm(fn func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next = fn
}

// expunge deletes a message from a mailbox through a connection of its own.
func expunge(t *testing.T, mailboxURL string, uid imap.UID) {
	t.Helper()
	c, err := imapDial(mailboxURL)
	if err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Error(err)
		return
	}
	if err := c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Error(err)
		return
	}
	if err := c.Expunge().Close(); err != nil {
		t.Error(err)
	}
}

// A message deleted between the poller's search and its fetch is neither recorded nor
// answered, the rest of the batch is, and the session goes on.
func TestPollerSurvivesAMessageDeletedUnderIt(t *testing.T) {
	servers := map[string]func(t *testing.T, st *storage.Store) *rig{"memimap": func(t *testing.T, st *storage.Store) *rig { return newRig(t, st) }}
	servers["dovecot"] = dovecotRig
	for name, start := range servers {
		t.Run(name, func(t *testing.T) {
			r := start(t, storagetest.Open(t, storagetest.Backends(t)[0]))
			// Every poller goes through the proxy: the mailbox's identity is its address.
			u, err := url.Parse(r.url)
			if err != nil {
				t.Fatal(err)
			}
			direct := r.url
			proxy := startIMAPProxy(t, u.Host)
			u.Host = proxy.addr
			r.url = u.String()
			var logs systemtest.LogBuffer
			r.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			first := r.poller(inbound.Config{Instance: "first"}, nil)
			stop := r.start(first)
			r.waitCursor(first)
			stop()
			for i := range 3 {
				r.append(customerMail(fmt.Sprintf("d%d@exemplo.pt", i), "Olá", fmt.Sprintf("<deleted%d@exemplo.pt>", i)))
			}

			// The cursor sits below the three; the next poller searches, finds them, and the
			// second is gone by the time it fetches them.
			search, err := imapDial(direct)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := search.Select("INBOX", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			data, err := search.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
			search.Close()
			if err != nil || len(data.AllUIDs()) != 3 {
				t.Fatalf("INBOX holds %v (%v), want three messages", data.AllUIDs(), err)
			}
			victim := data.AllUIDs()[1]
			proxy.arm(func() { expunge(t, direct, victim) })
			r.start(r.poller(inbound.Config{Instance: "second"}, nil))

			ms := r.waitRecorded(2)
			for _, m := range ms {
				if m.UID == uint32(victim) {
					t.Errorf("the deleted message %d was recorded", victim)
				}
				if m.Outcome != storage.InboundAnsweredNoTicket {
					t.Errorf("message %d recorded as %s/%s", m.UID, m.Outcome, m.Reason)
				}
			}
			// The session goes on: the next message is answered.
			r.append(customerMail("after@exemplo.pt", "Olá", "<after-delete@exemplo.pt>"))
			r.waitRecorded(3)
			mails := r.waitAnswers(3)
			for _, m := range mails {
				if m.To[0] == "d1@exemplo.pt" {
					t.Error("the deleted message was answered")
				}
			}
			eventually(t, "every message moved", func() bool { return r.count("INBOX") == 0 && r.count("Processed") == 3 })
			if r.sink.Total() != 3 || len(r.inbound()) != 3 {
				t.Errorf("%d answers and %d records, want 3 and 3", r.sink.Total(), len(r.inbound()))
			}
			if strings.Contains(logs.String(), "session ended") {
				t.Errorf("the session ended; log:\n%s", logs.String())
			}
		})
	}
}

// Mail in a charset we do not know, or with an attachment of 50 MB, is a person's mail like any
// other: answered, with an answer that is valid UTF-8, and the poller reads on. Only the header
// and the start of the body are ever fetched.
func TestPollerAnswersMailInAnUnknownCharsetOrWithAHugeAttachmentAndKeepsGoing(t *testing.T) {
	r := newRig(t, storagetest.Open(t, storagetest.Backends(t)[0]))
	p := r.poller(inbound.Config{Instance: "test"}, nil)
	r.start(p)
	r.waitCursor(p)

	unknown := "Return-Path: <k@exemplo.pt>\r\nFrom: =?x-klingon?q?Kor=E1?= <k@exemplo.pt>\r\nTo: " + support +
		"\r\nSubject: =?x-klingon?q?Ol=E1=0D=0ABcc:_x@evil.example?=\r\nMessage-ID: <klingon@exemplo.pt>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nQapla\xe1\r\n"
	r.append([]byte(unknown))

	var huge bytes.Buffer
	huge.WriteString("Return-Path: <big@exemplo.pt>\r\nFrom: <big@exemplo.pt>\r\nTo: " + support +
		"\r\nSubject: Anexo\r\nMessage-ID: <huge@exemplo.pt>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSegue o anexo.\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	line := strings.Repeat("QUJD", 19) + "\r\n"
	for huge.Len() < 50<<20 {
		huge.WriteString(line)
	}
	huge.WriteString("--b--\r\n")
	r.append(huge.Bytes())
	r.append(customerMail("next@exemplo.pt", "Olá", "<next@exemplo.pt>"))

	ms := r.waitRecorded(3)
	for _, m := range ms {
		if m.Outcome != storage.InboundAnsweredNoTicket {
			t.Errorf("message %d (%s) recorded as %s/%s", m.UID, m.From, m.Outcome, m.Reason)
		}
	}
	mails := r.waitAnswers(3)
	for _, m := range mails {
		checkAutoAnswer(t, m)
		if len(m.Data) > 64<<10 {
			t.Errorf("an answer of %d bytes", len(m.Data))
		}
		head := string(m.Data[:bytes.Index(m.Data, []byte("\r\n\r\n"))])
		if strings.Contains(head, "\nBcc:") {
			t.Errorf("a Bcc header was injected:\n%s", head)
		}
		// The mail with a file is told where files go; the others are not.
		decoded, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(m.Data)))
		says := strings.Contains(string(decoded), "Os ficheiros anexados a emails não são guardados")
		if withFile := m.To[0] == "big@exemplo.pt"; says != withFile {
			t.Errorf("the answer to %s says files go to the client area: %v", m.To[0], says)
		}
	}
	eventually(t, "every message moved", func() bool { return r.count("INBOX") == 0 && r.count("Processed") == 3 })
}

// A server that keeps the connection open but stops answering, whether the poller is idling or
// waiting for a reply, loses the session once it has been silent for the allowed time; the
// poller connects again and answers what arrived meanwhile, once.
func TestPollerLeavesAServerThatStopsAnsweringAndCarriesOn(t *testing.T) {
	for _, noIdle := range []bool{false, true} {
		t.Run(map[bool]string{false: "idle", true: "poll"}[noIdle], func(t *testing.T) {
			r := newRig(t, storagetest.Open(t, storagetest.Backends(t)[0]))
			u, err := url.Parse(r.url)
			if err != nil {
				t.Fatal(err)
			}
			proxy := startIMAPProxy(t, u.Host)
			u.Host = proxy.addr
			r.url = u.String()
			var logs systemtest.LogBuffer
			r.log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
			p := r.poller(inbound.Config{Instance: "stalled", NoIDLE: noIdle, PollInterval: 100 * time.Millisecond,
				ServerSilence: 800 * time.Millisecond}, nil)
			r.start(p)
			r.waitCursor(p)

			proxy.stall()
			stalled := time.Now()
			r.append(customerMail("hang@exemplo.pt", "Olá", "<after-hang@exemplo.pt>"))
			ms := r.waitRecorded(1)
			if len(ms) != 1 || ms[0].Outcome != storage.InboundAnsweredNoTicket {
				t.Fatalf("recorded %+v, want one answered message", ms)
			}
			r.waitAnswers(1)
			if took := time.Since(stalled); took > 15*time.Second {
				t.Errorf("the mail waited %v behind a silent server", took)
			}
			if !strings.Contains(logs.String(), "session ended") || !strings.Contains(logs.String(), "timeout") {
				t.Errorf("no session ended on a timeout; log:\n%s", logs.String())
			}
			time.Sleep(300 * time.Millisecond)
			if r.sink.Total() != 1 {
				t.Errorf("%d answers, want 1", r.sink.Total())
			}
		})
	}
}

func TestAServerSilenceNoLongerThanThePollIntervalIsRefused(t *testing.T) {
	r := newRig(t, storagetest.Open(t, storagetest.Backends(t)[0]))
	_, err := inbound.NewPoller(inbound.Config{URL: r.url, OwnAddresses: []string{support}, PollInterval: time.Minute,
		ServerSilence: time.Minute}, inbound.Deps{Store: r.st, Composer: r.composer, IDs: r.ids, Redis: r.redis,
		Enqueue: r.send, Log: r.log})
	if err == nil || !strings.Contains(err.Error(), "silence") {
		t.Fatalf("err = %v, want a refusal of a silence the poll interval would always exceed", err)
	}
}
