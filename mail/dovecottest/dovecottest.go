// Package dovecottest starts a throwaway Dovecot IMAP server on loopback, for the poller's
// integration test and the IMAP bench: its own configuration, passwd file and maildir in a
// temporary folder, plain-text login (loopback only), one user.
//
// It needs the dovecot and doveadm binaries (Debian: dovecot-imapd) and enough privilege to
// start Dovecot, which drops to the nobody user for the mailbox.
package dovecottest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// User and Password are the mailbox's login.
const (
	User     = "suporte@example.pt"
	Password = "dovecot-test"
)

// Dovecot is a running server.
type Dovecot struct {
	dir  string
	conf string
	addr string
	home string
	uid  int
	gid  int
	cmd  *exec.Cmd
	seq  atomic.Int64
}

// Available reports why Dovecot cannot be started here, or "" when it can.
func Available() string {
	for _, bin := range []string{"dovecot", "doveadm"} {
		if _, err := exec.LookPath(bin); err != nil {
			return bin + " is not installed (apt-get install dovecot-imapd)"
		}
	}
	return ""
}

// Start starts a Dovecot for a test, stopped at its end; it skips the test when Dovecot is not
// installed.
func Start(tb testing.TB) *Dovecot {
	tb.Helper()
	return start(tb, "")
}

// StartWithoutIDLE is Start for a Dovecot that does not offer IDLE once logged in, as some mail
// hosts do: its clients must poll.
func StartWithoutIDLE(tb testing.TB) *Dovecot {
	tb.Helper()
	return start(tb, "imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ NAMESPACE UIDPLUS MOVE SPECIAL-USE\n")
}

func start(tb testing.TB, extra string) *Dovecot {
	tb.Helper()
	if why := Available(); why != "" {
		tb.Skip("dovecottest: " + why)
	}
	d, err := launch(extra)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// Launch starts a Dovecot outside of a test (the bench). Close stops it.
func Launch() (*Dovecot, error) { return launch("") }

// launch starts Dovecot with extra lines appended to its configuration.
func launch(extra string) (*Dovecot, error) {
	if why := Available(); why != "" {
		return nil, errors.New("dovecottest: " + why)
	}
	dir, err := os.MkdirTemp("", "assistd-dovecot-")
	if err != nil {
		return nil, err
	}
	d := &Dovecot{dir: dir, conf: filepath.Join(dir, "dovecot.conf"), home: filepath.Join(dir, "home"), uid: 65534, gid: 65534}
	fail := func(err error) (*Dovecot, error) {
		d.Close()
		return nil, fmt.Errorf("dovecottest: %w", err)
	}
	// The mailbox user (nobody) must reach its home.
	if err := os.Chmod(dir, 0o755); err != nil {
		return fail(err)
	}
	for _, sub := range []string{"run", "home/Maildir/new", "home/Maildir/cur", "home/Maildir/tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fail(err)
		}
	}
	if err := filepath.Walk(d.home, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, d.uid, d.gid)
	}); err != nil {
		return fail(err)
	}
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	d.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	passwd := fmt.Sprintf("%s:{PLAIN}%s:%d:%d::%s::\n", User, Password, d.uid, d.gid, d.home)
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte(passwd), 0o644); err != nil {
		return fail(err)
	}
	conf := fmt.Sprintf(`base_dir = %[1]s/run
log_path = %[1]s/dovecot.log
instance_name = assistd-test-%[3]d
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = 1
mail_fsync = never
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%%u %[1]s/passwd
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[2]d
  }
  inet_listener imaps {
    port = 0
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0666
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
`, dir, port, port) + extra
	if err := os.WriteFile(d.conf, []byte(conf), 0o644); err != nil {
		return fail(err)
	}
	d.cmd = exec.Command("dovecot", "-F", "-c", d.conf)
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out bytes.Buffer
	d.cmd.Stdout, d.cmd.Stderr = &out, &out
	if err := d.cmd.Start(); err != nil {
		return fail(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", d.addr, time.Second)
		if err == nil {
			c.Close()
			return d, nil
		}
		if time.Now().After(deadline) {
			logText, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			return fail(fmt.Errorf("dovecot did not listen on %s: %s %s", d.addr, out.String(), logText))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// URL is the INBOX in the form ASSISTD_IMAP_URL takes.
func (d *Dovecot) URL() string {
	u := url.URL{Scheme: "imap", User: url.UserPassword(User, Password), Host: d.addr, Path: "/INBOX"}
	return u.String()
}

// Addr is the server's host:port.
func (d *Dovecot) Addr() string { return d.addr }

// PID is the Dovecot master's process id (the bench reads the poller's, not this).
func (d *Dovecot) PID() int { return d.cmd.Process.Pid }

// Deliver saves one message into the INBOX through doveadm, as a local delivery would.
func (d *Dovecot) Deliver(raw []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "doveadm", "-c", d.conf, "save", "-u", User)
	cmd.Stdin = bytes.NewReader(raw)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("dovecottest: doveadm save: %v: %s", err, out)
	}
	return nil
}

// DeliverMany writes n messages, made one at a time by mail(i), straight into the INBOX's
// maildir, as an MTA does: every file is written in tmp/ first, then all are renamed into new/
// together, so they arrive at once.
func (d *Dovecot) DeliverMany(n int, mail func(i int) []byte) error {
	staged, err := d.Stage(n, mail)
	if err != nil {
		return err
	}
	return staged.Arrive()
}

// Staged are messages written into the maildir's tmp/ and not yet delivered.
type Staged struct {
	maildir string
	names   []string
}

// Stage writes n messages, made one at a time by mail(i) so that a large backlog never sits in
// memory, into the maildir's tmp/, where Dovecot does not see them yet.
func (d *Dovecot) Stage(n int, mail func(i int) []byte) (*Staged, error) {
	s := &Staged{maildir: filepath.Join(d.home, "Maildir")}
	host, _ := os.Hostname()
	random := make([]byte, 4)
	_, _ = rand.Read(random)
	tag := hex.EncodeToString(random)
	for i := range n {
		raw := mail(i)
		name := fmt.Sprintf("%d.M%dP%d_%s.%s,S=%d", time.Now().Unix(), d.seq.Add(1), os.Getpid(), tag, host, len(raw))
		tmp := filepath.Join(s.maildir, "tmp", name)
		if err := os.WriteFile(tmp, raw, 0o600); err != nil {
			return nil, fmt.Errorf("dovecottest: %w", err)
		}
		if err := os.Chown(tmp, d.uid, d.gid); err != nil {
			return nil, fmt.Errorf("dovecottest: %w", err)
		}
		s.names = append(s.names, name)
	}
	return s, nil
}

// Arrive moves staged messages into new/: the delivery proper.
func (s *Staged) Arrive() error {
	for _, name := range s.names {
		if err := os.Rename(filepath.Join(s.maildir, "tmp", name), filepath.Join(s.maildir, "new", name)); err != nil {
			return fmt.Errorf("dovecottest: %w", err)
		}
	}
	return nil
}

// Close stops Dovecot and removes its files.
func (d *Dovecot) Close() error {
	if d.cmd != nil && d.cmd.Process != nil {
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { d.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		d.cmd = nil
	}
	return os.RemoveAll(d.dir)
}
