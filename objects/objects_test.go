package objects_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/objects"
	"github.com/assistd/assistd/objects/objectstest"
)

func TestStoreRoundTrip(t *testing.T) {
	objectstest.Each(t, func(t *testing.T, st objects.Store, url string) {
		ctx := context.Background()
		data := make([]byte, 3<<20+17)
		_, _ = rand.Read(data)
		if err := st.Put(ctx, "ab/cd/one", bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		rc, err := st.Open(ctx, "ab/cd/one")
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes (err %v), want the %d put", len(got), err, len(data))
		}
		if n := objectstest.BucketFiles(t, url); n != 1 {
			t.Fatalf("store holds %d files, want 1", n)
		}
		if err := st.Delete(ctx, "ab/cd/one"); err != nil {
			t.Fatal(err)
		}
		if err := st.Delete(ctx, "ab/cd/one"); err != nil {
			t.Fatalf("deleting a deleted object: %v", err)
		}
		if _, err := st.Open(ctx, "ab/cd/one"); !errors.Is(err, objects.ErrNotFound) {
			t.Fatalf("open after delete: %v, want ErrNotFound", err)
		}
		if n := objectstest.BucketFiles(t, url); n != 0 {
			t.Fatalf("store holds %d files after delete, want 0", n)
		}
	})
}

// failing fails after some bytes, as a client that goes away mid-upload.
type failing struct{ n int }

func (f *failing) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("client went away")
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

func TestStoreFailedPutLeavesNothing(t *testing.T) {
	objectstest.Each(t, func(t *testing.T, st objects.Store, url string) {
		ctx := context.Background()
		if err := st.Put(ctx, "half", &failing{n: 100 << 10}, 1<<20); err == nil {
			t.Fatal("a put whose reader failed succeeded")
		}
		if _, err := st.Open(ctx, "half"); !errors.Is(err, objects.ErrNotFound) {
			t.Fatalf("open of a failed put: %v, want ErrNotFound", err)
		}
		if n := objectstest.BucketFiles(t, url); n != 0 {
			t.Fatalf("store holds %d files after a failed put", n)
		}
	})
}

func TestSignedURL(t *testing.T) {
	st, _ := objectstest.Folder(t)
	if _, ok, err := st.SignedURL(context.Background(), "k", "attachment", "text/plain", time.Minute); ok || err != nil {
		t.Fatalf("a folder signed a URL (ok %v, err %v)", ok, err)
	}
	s3, _ := objectstest.S3(t)
	ctx := context.Background()
	if err := s3.Put(ctx, "signed", strings.NewReader("olá"), int64(len("olá"))); err != nil {
		t.Fatal(err)
	}
	u, ok, err := s3.SignedURL(ctx, "signed", `attachment; filename="a.txt"`, "text/plain; charset=utf-8", time.Minute)
	if err != nil || !ok {
		t.Fatalf("sign: %v %v", ok, err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "olá" {
		t.Fatalf("signed URL answered %d %q", resp.StatusCode, body)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="a.txt"` {
		t.Errorf("signed URL's Content-Disposition %q", cd)
	}
}

func TestInvalidKeysAndURLs(t *testing.T) {
	st, _ := objectstest.Folder(t)
	for _, k := range []string{"", "/abs", "../up", "a/../b", "a//b", "a\\b"} {
		if err := st.Put(context.Background(), k, strings.NewReader("x"), 1); err == nil {
			t.Errorf("key %q accepted", k)
		}
	}
	for _, u := range []string{"ftp://x", "s3://", "s3://b/p?bogus=1", "file://"} {
		if err := objects.CheckURL(u); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
	for _, u := range []string{"", "file:///var/lib/assistd", "s3://b/p?endpoint=http://127.0.0.1:9000&region=eu-west-1"} {
		if err := objects.CheckURL(u); err != nil {
			t.Errorf("URL %q refused: %v", u, err)
		}
	}
}
