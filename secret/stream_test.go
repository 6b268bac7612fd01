package secret

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"
)

func TestSealedFileRoundTrip(t *testing.T) {
	ring, err := ParseKeyring(GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, FileChunk - 1, FileChunk, FileChunk + 1, 3*FileChunk + 5} {
		data := make([]byte, n)
		_, _ = rand.Read(data)
		k, sealedKey, err := ring.NewFileKey("upload:a")
		if err != nil {
			t.Fatal(err)
		}
		var box bytes.Buffer
		w, _ := SealFile(&box, k, "a")
		if _, err := io.Copy(w, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if int64(box.Len()) != SealedSize(int64(n)) {
			t.Fatalf("n=%d: sealed %d bytes, SealedSize says %d", n, box.Len(), SealedSize(int64(n)))
		}
		rebound, err := ring.RebindFileKey(sealedKey, "upload:a", "ticket:7")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ring.OpenFileKey(rebound, "upload:a"); !errors.Is(err, ErrOpen) {
			t.Fatalf("a rebound key opened under its old binding: %v", err)
		}
		k2, err := ring.OpenFileKey(rebound, "ticket:7")
		if err != nil {
			t.Fatal(err)
		}
		r, _ := OpenFile(bytes.NewReader(box.Bytes()), k2, "a")
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("n=%d: opened %d bytes, err %v", n, len(got), err)
		}
		// Cut off, or opened as another file: refused.
		if n > FileChunk {
			r, _ := OpenFile(bytes.NewReader(box.Bytes()[:FileChunk+16]), k2, "a")
			if _, err := io.ReadAll(r); !errors.Is(err, ErrFileOpen) {
				t.Fatalf("n=%d: a file cut after its first chunk read with %v", n, err)
			}
		}
		r, _ = OpenFile(bytes.NewReader(box.Bytes()), k2, "b")
		if _, err := io.ReadAll(r); !errors.Is(err, ErrFileOpen) {
			t.Fatalf("n=%d: opened under another name: %v", n, err)
		}
	}
}
