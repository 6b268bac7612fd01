package objects

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Folder keeps objects as files under a directory; a key's slashes are subfolders.
type Folder struct {
	root string
}

// NewFolder opens (and creates when missing) a folder store.
func NewFolder(root string) (*Folder, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("objects: %w", err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return nil, fmt.Errorf("objects: %w", err)
	}
	return &Folder{root: abs}, nil
}

// Root is the folder's absolute path.
func (f *Folder) Root() string { return f.root }

func (f *Folder) String() string { return "file://" + filepath.ToSlash(f.root) }

func (f *Folder) path(key string) (string, error) {
	if !validKey(key) {
		return "", fmt.Errorf("objects: invalid key %q", key)
	}
	return filepath.Join(f.root, filepath.FromSlash(key)), nil
}

// Put writes the object to a temporary file beside its place and renames it there once whole.
func (f *Folder) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return fmt.Errorf("objects: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return fmt.Errorf("objects: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, ctxReader{ctx, r})
	if err != nil {
		return fmt.Errorf("objects: put %s: %w", key, err)
	}
	if size >= 0 && n != size {
		return fmt.Errorf("objects: put %s: read %d bytes, want %d", key, n, size)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("objects: put %s: %w", key, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("objects: put %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("objects: put %s: %w", key, err)
	}
	done = true
	return nil
}

// Open opens the object's file.
func (f *Folder) Open(_ context.Context, key string) (io.ReadCloser, error) {
	p, err := f.path(key)
	if err != nil {
		return nil, err
	}
	file, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("objects: %w", err)
	}
	return file, nil
}

// Delete removes the object's file.
func (f *Folder) Delete(_ context.Context, key string) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("objects: %w", err)
	}
	return nil
}

// SignedURL: a folder has no URLs of its own.
func (f *Folder) SignedURL(context.Context, string, string, string, time.Duration) (string, bool, error) {
	return "", false, nil
}

// ctxReader stops reading once its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
