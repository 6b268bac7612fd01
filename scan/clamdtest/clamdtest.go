// Package clamdtest starts a real clamd for tests, with a signature database of its own that
// knows only the EICAR test file (no signature downloads are needed). Tests skip when clamd is not
// installed (apt-get install clamav-daemon; .ci/run does it).
package clamdtest

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EICAR is the antivirus test file every scanner reports.
const EICAR = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// Signature is the name clamd reports for EICAR with the database written here.
const Signature = "Eicar-Test-Signature.local.UNOFFICIAL"

var (
	once sync.Once
	addr string
	err  error
)

// Addr is the tcp:// address of a clamd shared by the test binary (started at the first call; it
// dies with the binary). Without clamd the test is skipped.
func Addr(t testing.TB) string {
	t.Helper()
	bin := binary()
	if bin == "" {
		t.Skip("clamd is not installed (apt-get install clamav-daemon)")
	}
	once.Do(func() { addr, err = start(bin) })
	if err != nil {
		t.Fatal(err)
	}
	return "tcp://" + addr
}

// DeadAddr is a tcp:// address where nothing listens: clamd down.
func DeadAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return "tcp://" + a
}

func binary() string {
	for _, p := range []string{"clamd", "/usr/sbin/clamd"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	return ""
}

func start(bin string) (string, error) {
	dir, err := os.MkdirTemp("", "assistd-clamd-")
	if err != nil {
		return "", err
	}
	sum := md5.Sum([]byte(EICAR))
	db := fmt.Sprintf("%s:%d:Eicar-Test-Signature.local\n", hex.EncodeToString(sum[:]), len(EICAR))
	if err := os.WriteFile(filepath.Join(dir, "test.hdb"), []byte(db), 0o644); err != nil {
		return "", err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	a := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(a)
	conf := filepath.Join(dir, "clamd.conf")
	content := "DatabaseDirectory " + dir + "\nTCPSocket " + port + "\nTCPAddr 127.0.0.1\nForeground yes\nUser root\n" +
		"LogFile " + filepath.Join(dir, "clamd.log") + "\nPidFile " + filepath.Join(dir, "clamd.pid") + "\n"
	if err := os.WriteFile(conf, []byte(content), 0o644); err != nil {
		return "", err
	}
	cmd := exec.Command(bin, "-c", conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start clamd: %w", err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			return a, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	log, _ := os.ReadFile(filepath.Join(dir, "clamd.log"))
	return "", fmt.Errorf("clamd did not listen on %s within 60 s; its log: %s", strconv.Quote(a), log)
}
