// Package objects keeps attachment files in an object store behind one small interface: a folder
// of the local filesystem (file:///path) or any S3-compatible store (s3://bucket/prefix?…). The
// database keeps only what describes a file; the bytes live here, under keys the caller chooses.
package objects

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// ErrNotFound is returned by Open for a key the store does not hold.
var ErrNotFound = errors.New("objects: no such object")

// Store holds objects by key.
type Store interface {
	// Put stores size bytes read from r under key, streaming them; a failed Put leaves nothing
	// under key.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Open reads the object under key, or returns ErrNotFound.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// Delete removes the object under key; a key already gone is not an error.
	Delete(ctx context.Context, key string) error
	// SignedURL returns a URL that serves the object for ttl, with the given Content-Disposition
	// and Content-Type, or ok=false when the store cannot sign URLs (a folder).
	SignedURL(ctx context.Context, key, disposition, contentType string, ttl time.Duration) (u string, ok bool, err error)
	// String names the store without credentials.
	String() string
}

// DefaultURL is the store of a deployment that names none: a folder "attachments" in the working
// directory.
const DefaultURL = "file://attachments"

// Open opens the store a URL names: file:///path (file://relative also works) or
// s3://bucket/prefix?endpoint=host:port&region=…&insecure=true, with credentials from
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN).
func Open(raw string) (Store, error) {
	if raw == "" {
		raw = DefaultURL
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("objects: %q is not a URL", raw)
	}
	switch u.Scheme {
	case "file":
		path := u.Host + u.Path
		if path == "" {
			return nil, errors.New("objects: file:// URL names no folder")
		}
		return NewFolder(filepath.FromSlash(path))
	case "s3":
		return newS3(u)
	default:
		return nil, fmt.Errorf("objects: unsupported store %q (want file:///path or s3://bucket/prefix?endpoint=…)", u.Scheme)
	}
}

// CheckURL reports what is wrong with a store URL without opening it (no folder is made, no
// connection tried).
func CheckURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL", raw)
	}
	switch u.Scheme {
	case "file":
		if u.Host+u.Path == "" {
			return errors.New("file:// URL names no folder")
		}
		return nil
	case "s3":
		_, err := parseS3(u)
		return err
	default:
		return fmt.Errorf("unsupported store %q (want file:///path or s3://bucket/prefix?endpoint=…)", u.Scheme)
	}
}

// validKey reports whether key is one the stores accept: relative, slash-separated, without
// empty, "." or ".." segments.
func validKey(key string) bool {
	if key == "" || strings.HasPrefix(key, "/") || strings.ContainsAny(key, "\\\x00") {
		return false
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}
