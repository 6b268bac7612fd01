// Package objectstest gives tests the two kinds of object store: a folder in the test's temporary
// directory, always, and a bucket of a real S3 server (versitygw) started on loopback when its
// binary is on PATH or in $(go env GOPATH)/bin (.ci/run installs it); without it S3 tests skip.
package objectstest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"go/build"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/assistd/assistd/objects"
)

// Kind names a store kind in subtest names.
const (
	KindFolder = "folder"
	KindS3     = "s3"
)

// Each runs fn once with a folder store and once with an S3 bucket (skipped without versitygw).
// url is what ASSISTD_ATTACHMENTS_URL would say for that store.
func Each(t *testing.T, fn func(t *testing.T, st objects.Store, url string)) {
	t.Helper()
	t.Run(KindFolder, func(t *testing.T) {
		st, u := Folder(t)
		fn(t, st, u)
	})
	t.Run(KindS3, func(t *testing.T) {
		st, u := S3(t)
		fn(t, st, u)
	})
}

// Folder is a folder store in a temporary directory.
func Folder(t testing.TB) (objects.Store, string) {
	t.Helper()
	u := "file://" + filepath.ToSlash(t.TempDir())
	st, err := objects.Open(u)
	if err != nil {
		t.Fatal(err)
	}
	return st, u
}

// S3 is a fresh bucket of the shared versitygw, with the AWS credential variables set for the
// test; it skips the test when versitygw is not installed.
func S3(t testing.TB) (objects.Store, string) {
	t.Helper()
	srv := server(t)
	bucket := "t" + randomHex(6)
	if err := os.Mkdir(filepath.Join(srv.dir, bucket), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", SecretKey)
	u := fmt.Sprintf("s3://%s/attachments?endpoint=http://%s&region=us-east-1", bucket, srv.addr)
	st, err := objects.Open(u)
	if err != nil {
		t.Fatal(err)
	}
	return st, u
}

// BucketFiles counts the files versitygw holds under a store URL's bucket, so that a test can
// check what is left in the store itself.
func BucketFiles(t testing.TB, storeURL string) int {
	t.Helper()
	var root string
	if srv := shared; srv != nil {
		var bucket string
		if _, err := fmt.Sscanf(storeURL, "s3://%s", &bucket); err == nil {
			for i := range len(bucket) {
				if bucket[i] == '/' {
					bucket = bucket[:i]
					break
				}
			}
			root = filepath.Join(srv.dir, bucket)
		}
	}
	if len(storeURL) > 7 && storeURL[:7] == "file://" {
		root = filepath.FromSlash(storeURL[7:])
	}
	n := 0
	_ = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && filepath.Base(p)[0] != '.' {
			n++
		}
		return nil
	})
	return n
}

// Credentials of the versitygw the tests start.
const (
	AccessKey = "assistdtest"
	SecretKey = "assistdtestsecret"
)

type versity struct {
	addr, dir string
	err       error
}

var (
	once   sync.Once
	shared *versity
)

// Binary is the versitygw executable, or "" when none is installed.
func Binary() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		gopath = build.Default.GOPATH
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

func server(t testing.TB) *versity {
	t.Helper()
	bin := Binary()
	if bin == "" {
		t.Skip("versitygw is not installed (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)")
	}
	once.Do(func() { shared = start(bin) })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared
}

// start runs versitygw for the rest of the test binary's life (it dies with its parent).
func start(bin string) *versity {
	dir, err := os.MkdirTemp("", "assistd-s3-")
	if err != nil {
		return &versity{err: err}
	}
	addr, _, err := StartVersity(bin, dir)
	return &versity{addr: addr, dir: dir, err: err}
}

// StartVersity runs versitygw on a free loopback port, serving every folder of dir as a bucket
// with the credentials AccessKey and SecretKey; it dies with this process, or at stop.
func StartVersity(bin, dir string) (addr string, stop func(), err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr = l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "--port", addr, "posix", dir)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+AccessKey, "ROOT_SECRET_KEY="+SecretKey)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logf, _ := os.Create(filepath.Join(dir, ".versitygw.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start versitygw: %w", err)
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
			return addr, stop, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("versitygw did not answer on %s", addr)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
