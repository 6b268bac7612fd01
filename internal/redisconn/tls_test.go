package redisconn_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/assistd/assistd/internal/redisconn"
)

// tlsDir holds the throwaway certificate TestMain makes for the TLS test. Go reads the system's
// roots once per process, so SSL_CERT_FILE must name it before any test runs.
var tlsDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "redisconn-tls")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := writeSelfSignedCert(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tlsDir = dir
	os.Setenv("SSL_CERT_FILE", filepath.Join(dir, "cert.pem"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// writeSelfSignedCert writes cert.pem and key.pem for 127.0.0.1 and localhost, valid for a day.
func writeSelfSignedCert(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "assistd test redis"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
}

// A redis-server that speaks TLS only (no plain port): asynq works through a rediss:// URL, whose
// certificate is checked against the system's roots (here SSL_CERT_FILE), and a plain redis://
// URL gets nowhere.
func TestARedissURLReachesARedisThatSpeaksTLSOnly(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("skipping: the TLS test needs a redis-server binary on PATH")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "redis.log")
	cmd := exec.Command("redis-server", "--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--tls-cert-file", filepath.Join(tlsDir, "cert.pem"), "--tls-key-file", filepath.Join(tlsDir, "key.pem"),
		"--tls-ca-cert-file", filepath.Join(tlsDir, "cert.pem"), "--tls-auth-clients", "no",
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", logPath)
	// A redis-server built without TLS does not know the tls-* settings: it says so on stderr,
	// before it has a log file.
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("redis-server: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })

	ctx := context.Background()
	for _, host := range []string{"127.0.0.1", "localhost"} {
		rc, err := redisconn.Open(fmt.Sprintf("rediss://%s:%d/0", host, port), redisconn.Service)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		deadline := time.Now().Add(10 * time.Second)
		for err = rc.Ping(ctx).Err(); err != nil; err = rc.Ping(ctx).Err() {
			select {
			case <-exited:
				log, _ := os.ReadFile(logPath)
				out := stderr.String() + string(log)
				if strings.Contains(out, "Bad directive") && strings.Contains(out, "tls-") {
					t.Skipf("skipping: this redis-server has no TLS support:\n%s", out)
				}
				t.Fatalf("redis-server exited:\n%s", out)
			default:
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(logPath)
				t.Fatalf("no answer over TLS at %s: %v\n%s", host, err, log)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	rc, err := redisconn.Open(fmt.Sprintf("rediss://127.0.0.1:%d/0", port), redisconn.Service)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	client := asynq.NewClientFromRedisClient(rc)
	defer client.Close()
	if _, err := client.Enqueue(asynq.NewTask("tls:check", nil), asynq.Queue("critical")); err != nil {
		t.Fatalf("enqueue over TLS: %v", err)
	}
	info, err := asynq.NewInspectorFromRedisClient(rc).GetQueueInfo("critical")
	if err != nil || info.Pending != 1 {
		t.Fatalf("queue over TLS: %+v, %v; want one pending task", info, err)
	}

	plain, err := redisconn.Open(fmt.Sprintf("redis://127.0.0.1:%d/0", port), redisconn.Tuning{DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.Ping(ctx).Err(); err == nil {
		t.Fatal("a plain redis:// connection to the TLS port answered: the test would prove nothing")
	}
}
