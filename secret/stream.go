package secret

import (
	"bufio"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Files sealed like passwords: every confidential file gets its own random data key, sealed with
// the ring's active key and bound (as a ticket's password is) to what it belongs to; the file is
// sealed with the data key in chunks of FileChunk bytes, each an AES-256-GCM box whose nonce is
// its position and whether it is the last, so chunks can be neither reordered, dropped nor cut
// off. Destroying the sealed data key makes the file unreadable for good.

// FileChunk is the plaintext size of a sealed file's chunks.
const FileChunk = 64 << 10

// FileKey is an open file data key. It never prints.
type FileKey struct{ k *[keySize]byte }

func (FileKey) String() string { return redacted }

// NewFileKey makes a file's data key and returns it with its sealing, bound to binding.
func (r *Keyring) NewFileKey(binding string) (FileKey, []byte, error) {
	var dk [keySize]byte
	if _, err := rand.Read(dk[:]); err != nil {
		return FileKey{}, nil, fmt.Errorf("secret: %w", err)
	}
	sealed, err := r.sealFileKey(dk[:], binding)
	return FileKey{&dk}, sealed, err
}

// OpenFileKey opens a file's sealed data key, or returns ErrOpen.
func (r *Keyring) OpenFileKey(sealed []byte, binding string) (FileKey, error) {
	dk, err := r.openKey(sealed, "file-key", binding)
	if err != nil {
		return FileKey{}, err
	}
	var k [keySize]byte
	copy(k[:], dk)
	clear(dk)
	return FileKey{&k}, nil
}

// RebindFileKey re-seals a file's data key from one binding to another (an upload's to its
// ticket's once it is attached), under the active ring key.
func (r *Keyring) RebindFileKey(sealed []byte, from, to string) ([]byte, error) {
	dk, err := r.openKey(sealed, "file-key", from)
	if err != nil {
		return nil, err
	}
	defer clear(dk)
	return r.sealFileKey(dk, to)
}

func (r *Keyring) sealFileKey(dk []byte, binding string) ([]byte, error) {
	active := r.keys[0]
	prefix := append([]byte{version}, active.id[:]...)
	return seal(active.aead, prefix, dk, aad("file-key", binding)), nil
}

func (r *Keyring) openKey(sealed []byte, purpose, binding string) ([]byte, error) {
	if len(sealed) < 1+keyIDSize || sealed[0] != version {
		return nil, ErrOpen
	}
	id := [keyIDSize]byte(sealed[1 : 1+keyIDSize])
	for _, k := range r.keys {
		if k.id != id {
			continue
		}
		dk, err := open(k.aead, sealed[:1+keyIDSize], sealed[1+keyIDSize:], aad(purpose, binding))
		if err != nil || len(dk) != keySize {
			return nil, ErrOpen
		}
		return dk, nil
	}
	return nil, ErrOpen
}

// SealedSize is the size of a file of n bytes once sealed.
func SealedSize(n int64) int64 {
	chunks := (n + FileChunk - 1) / FileChunk
	if chunks == 0 {
		chunks = 1
	}
	return n + chunks*16
}

func chunkNonce(i uint64, last bool) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint64(n[:8], i)
	if last {
		n[11] = 1
	}
	return n
}

func fileAAD(name string) []byte { return []byte("assistd/file/v1:" + name) }

// SealFile returns a writer that seals what is written to it into w, for the file called name
// (its attachment id); Close writes the last chunk and must be called.
func SealFile(w io.Writer, k FileKey, name string) (io.WriteCloser, error) {
	aead, err := newAEAD(k.k[:])
	if err != nil {
		return nil, err
	}
	return &sealWriter{w: w, aead: aead, ad: fileAAD(name), buf: make([]byte, 0, FileChunk)}, nil
}

type sealWriter struct {
	w    io.Writer
	aead cipher.AEAD
	ad   []byte
	buf  []byte
	i    uint64
	out  []byte
}

func (s *sealWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if len(s.buf) == FileChunk {
			// More follows: the full chunk is not the last.
			if err := s.flush(false); err != nil {
				return n, err
			}
		}
		k := copy(s.buf[len(s.buf):FileChunk], p)
		s.buf = s.buf[:len(s.buf)+k]
		p, n = p[k:], n+k
	}
	return n, nil
}

func (s *sealWriter) flush(last bool) error {
	s.out = s.aead.Seal(s.out[:0], chunkNonce(s.i, last), s.buf, s.ad)
	s.i++
	s.buf = s.buf[:0]
	_, err := s.w.Write(s.out)
	return err
}

func (s *sealWriter) Close() error { return s.flush(true) }

// ErrFileOpen is returned while reading a sealed file that was altered, cut off, or sealed for
// another name or key.
var ErrFileOpen = errors.New("secret: sealed file cannot be opened (altered, cut off, or not this file's key)")

// OpenFile returns a reader of the plaintext of a file sealed by SealFile.
func OpenFile(r io.Reader, k FileKey, name string) (io.Reader, error) {
	aead, err := newAEAD(k.k[:])
	if err != nil {
		return nil, err
	}
	return &openReader{r: bufio.NewReaderSize(r, FileChunk+64), aead: aead, ad: fileAAD(name), box: make([]byte, FileChunk+16)}, nil
}

type openReader struct {
	r      *bufio.Reader
	aead   cipher.AEAD
	ad     []byte
	box    []byte
	plain  []byte
	i      uint64
	done   bool
	failed error
}

func (o *openReader) Read(p []byte) (int, error) {
	for len(o.plain) == 0 {
		if o.failed != nil {
			return 0, o.failed
		}
		if o.done {
			return 0, io.EOF
		}
		n, err := io.ReadFull(o.r, o.box)
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			o.failed = err
			return 0, err
		}
		last := err != nil
		if !last {
			if _, perr := o.r.Peek(1); perr == io.EOF {
				last = true
			}
		}
		plain, oerr := o.aead.Open(o.box[:0], chunkNonce(o.i, last), o.box[:n], o.ad)
		if oerr != nil {
			o.failed = ErrFileOpen
			return 0, o.failed
		}
		o.i++
		o.plain, o.done = plain, last
	}
	n := copy(p, o.plain)
	o.plain = o.plain[n:]
	return n, nil
}
