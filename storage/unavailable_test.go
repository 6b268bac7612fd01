package storage_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
	"github.com/assistd/assistd/tickets"
)

// cable is a TCP relay to a real database server that a test can unplug: every connection
// through it is cut at once, and new ones are refused.
type cable struct {
	ln     net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	cut    bool
	silent bool // after hush: connections are taken and never answered, as by a hung server
}

func plugCable(t *testing.T, target string) *cable {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cable{ln: ln}
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			c.mu.Lock()
			if c.silent {
				c.conns = append(c.conns, in)
				c.mu.Unlock()
				continue
			}
			out, err := net.Dial("tcp", target)
			if c.cut || err != nil {
				c.mu.Unlock()
				in.Close()
				continue
			}
			c.conns = append(c.conns, in, out)
			c.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); c.unplug() })
	return c
}

// openThroughCable opens a store on b's database through a cable of its own.
func openThroughCable(t *testing.T, b storagetest.Backend) (*storage.Store, *cable) {
	t.Helper()
	u, err := url.Parse(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := plugCable(t, u.Host)
	u.Host = c.ln.Addr().String()
	st, err := storage.Open(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, c
}

func (c *cable) unplug() { c.sever(false) }

// hush cuts every connection, and takes new ones without ever answering them.
func (c *cable) hush() { c.sever(true) }

func (c *cable) sever(silent bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut, c.silent = true, silent
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

func TestEveryCallMadeWhileTheDatabaseIsUnreachableFailsAsUnavailable(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		if b.Name != "postgres" {
			continue // an SQLite database is a file: it cannot become unreachable
		}
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			direct := storagetest.Open(t, b)
			putCustomer(t, direct, "ana")
			tk := createTicket(t, direct, "ana")

			st, c := openThroughCable(t, b)
			// Fill the pool with idle connections, which the cut then leaves dead.
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					if _, err := st.DB().ExecContext(ctx, `SELECT pg_sleep(0.05)`); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			c.unplug()

			calls := []struct {
				name string
				call func() error
			}{
				{"queue emails", func() error {
					_, err := st.QueueEmails(ctx, []storage.Email{{Kind: "update", Recipient: "ana@example.pt", MessageID: "<u@x>", Raw: []byte("x")}})
					return err
				}},
				{"put customer", func() error {
					_, err := st.PutCustomer(ctx, storage.Customer{ID: "rui", Name: "Rui", Email: "rui@example.pt", Language: "pt-PT"})
					return err
				}},
				{"customer", func() error { _, err := st.Customer(ctx, "ana"); return err }},
				{"create ticket", func() error {
					_, err := st.CreateTicket(ctx, newTicket("ana", ""))
					return err
				}},
				{"customer message", func() error {
					_, _, err := st.AddCustomerMessage(ctx, "ana", tk.Number, "Olá", fakeEmail("customer_reply"))
					return err
				}},
				{"status", func() error {
					_, _, err := st.SetStatus(ctx, storage.ReachAll(), tk.Number, "joao", tickets.InProgress, nil)
					return err
				}},
				{"revoke session", func() error { return st.RevokeSession(ctx, "nonce", time.Now().Add(time.Hour)) }},
				{"inbound", func() error {
					_, err := st.RecordInbound(ctx, storage.InboundBatch{Mailbox: "box", UIDValidity: 1, LastUID: 1, Limits: dayLimits,
						Records: []storage.InboundRecord{answer("mid:1@x", "ana@x.example")}})
					return err
				}},
				{"import catalog", func() error { return st.ImportCatalog(ctx, storage.DefaultCatalog()) }},
				{"pending outbox", func() error { _, err := st.PendingOutbox(ctx, time.Now(), 0, 10); return err }},
				{"migrate", func() error { _, err := st.Migrate(ctx); return err }},
			}
			// Twice: a first call may find a dead idle connection, a second a fresh dial refused.
			for round := range 2 {
				for _, c := range calls {
					if err := c.call(); !errors.Is(err, storage.ErrUnavailable) {
						t.Errorf("round %d, %s: %v; want ErrUnavailable", round+1, c.name, err)
					}
				}
			}
		})
	}
}

func TestAnUnavailableDatabaseErrorKeepsItsCause(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	_, err = storage.Open(context.Background(), "postgres://assistd@"+addr+"/assistd?sslmode=disable&connect_timeout=5")
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("open with no server: %v; want ErrUnavailable", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("open with no server: %v; the refused connection is no longer in the error's chain", err)
	}
}

func TestACallToADatabaseThatNeverAnswersFailsAsUnavailableInsteadOfHanging(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		if b.Name != "postgres" {
			continue // an SQLite database is a file: it cannot stop answering
		}
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			storagetest.Open(t, b)
			st, c := openThroughCable(t, b)
			c.hush()
			done := make(chan error, 1)
			go func() {
				_, err := st.Departments(ctx)
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, storage.ErrUnavailable) {
					t.Fatalf("%v; want ErrUnavailable", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("still waiting for the database after 30 s")
			}
		})
	}
}
