package objects

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 keeps objects in a bucket of an S3-compatible store, under a prefix.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string
	name   string
}

type s3Config struct {
	bucket, prefix, endpoint, region string
	secure                           bool
}

// parseS3 reads s3://bucket/prefix?endpoint=host:port&region=…&insecure=true. Without endpoint
// the store is Amazon's (s3.amazonaws.com).
func parseS3(u *url.URL) (s3Config, error) {
	c := s3Config{bucket: u.Host, prefix: strings.Trim(u.Path, "/"), endpoint: "s3.amazonaws.com", secure: true}
	if c.bucket == "" {
		return c, errors.New("s3:// URL names no bucket")
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "endpoint", "region", "insecure":
		default:
			return c, fmt.Errorf("s3:// URL: unknown parameter %q (endpoint, region, insecure)", k)
		}
	}
	if e := q.Get("endpoint"); e != "" {
		if eu, err := url.Parse(e); err == nil && (eu.Scheme == "http" || eu.Scheme == "https") {
			c.endpoint, c.secure = eu.Host, eu.Scheme == "https"
		} else {
			c.endpoint = e
		}
	}
	c.region = q.Get("region")
	if v := q.Get("insecure"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, errors.New("s3:// URL: insecure must be true or false")
		}
		c.secure = !b
	}
	return c, nil
}

func newS3(u *url.URL) (*S3, error) {
	c, err := parseS3(u)
	if err != nil {
		return nil, fmt.Errorf("objects: %w", err)
	}
	creds := credentials.NewStaticV4(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN"))
	client, err := minio.New(c.endpoint, &minio.Options{Creds: creds, Secure: c.secure, Region: c.region, BucketLookup: minio.BucketLookupPath})
	if err != nil {
		return nil, fmt.Errorf("objects: %w", err)
	}
	scheme := "https"
	if !c.secure {
		scheme = "http"
	}
	name := "s3://" + c.bucket + "/" + c.prefix + " at " + scheme + "://" + c.endpoint
	return &S3{client: client, bucket: c.bucket, prefix: c.prefix, name: name}, nil
}

func (s *S3) String() string { return s.name }

func (s *S3) key(key string) (string, error) {
	if !validKey(key) {
		return "", fmt.Errorf("objects: invalid key %q", key)
	}
	if s.prefix == "" {
		return key, nil
	}
	return s.prefix + "/" + key, nil
}

// Put uploads the object; with its size known and within one part (16 MiB) it is one streamed
// PUT, so nothing is buffered, and a failed PUT stores nothing.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	k, err := s.key(key)
	if err != nil {
		return err
	}
	_, err = s.client.PutObject(ctx, s.bucket, k, r, size, minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return fmt.Errorf("objects: put %s: %w", key, err)
	}
	return nil
}

// Open streams the object.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	k, err := s.key(key)
	if err != nil {
		return nil, err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, k, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("objects: open %s: %w", key, err)
	}
	// GetObject is lazy: a missing object shows at the first read or Stat.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		if minio.ToErrorResponse(err).StatusCode == http.StatusNotFound {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("objects: open %s: %w", key, err)
	}
	return obj, nil
}

// Delete removes the object; S3 answers a missing key with success.
func (s *S3) Delete(ctx context.Context, key string) error {
	k, err := s.key(key)
	if err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, k, minio.RemoveObjectOptions{}); err != nil &&
		minio.ToErrorResponse(err).StatusCode != http.StatusNotFound {
		return fmt.Errorf("objects: delete %s: %w", key, err)
	}
	return nil
}

// SignedURL presigns a GET that answers with the given Content-Disposition and Content-Type.
func (s *S3) SignedURL(ctx context.Context, key, disposition, contentType string, ttl time.Duration) (string, bool, error) {
	k, err := s.key(key)
	if err != nil {
		return "", false, err
	}
	params := url.Values{}
	params.Set("response-content-disposition", disposition)
	params.Set("response-content-type", contentType)
	u, err := s.client.PresignedGetObject(ctx, s.bucket, k, ttl, params)
	if err != nil {
		return "", false, fmt.Errorf("objects: sign %s: %w", key, err)
	}
	return u.String(), true, nil
}
