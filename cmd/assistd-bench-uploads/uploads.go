package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/bench"
	"github.com/assistd/assistd/internal/assembly"
	"github.com/assistd/assistd/objects/objectstest"
	"github.com/assistd/assistd/secret"
)

// Config sets one run up.
type Config struct {
	Store       string // "folder" or "s3"
	Uploads     int    // at once
	Size        int64  // bytes each
	Rounds      int
	DatabaseURL string // "" : SQLite in a temporary folder
}

// Report is what one run measured.
type Report struct {
	Store     string
	Uploads   int
	Size      int64
	Rounds    []time.Duration
	BaseRSS   int64 // resident bytes before the first round, after a warm-up upload
	PeakRSS   int64 // the peak over the rounds
	Completed int
}

// ErrNoS3 is returned for the S3 store when versitygw is not installed.
var ErrNoS3 = errors.New("versitygw is not installed (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)")

const (
	apiToken = "bench-api-token-bench-api-token-0001"
	customer = "bench"
)

// Run starts an API on the chosen store and sends the rounds of uploads.
func Run(ctx context.Context, cfg Config) (Report, error) {
	rep := Report{Store: cfg.Store, Uploads: cfg.Uploads, Size: cfg.Size}
	dir, err := os.MkdirTemp("", "assistd-bench-uploads-")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	storeURL := "file://" + filepath.ToSlash(filepath.Join(dir, "attachments"))
	if cfg.Store == "s3" {
		bin := objectstest.Binary()
		if bin == "" {
			return rep, ErrNoS3
		}
		root := filepath.Join(dir, "s3")
		if err := os.MkdirAll(filepath.Join(root, "assistd"), 0o755); err != nil {
			return rep, err
		}
		addr, stop, err := objectstest.StartVersity(bin, root)
		if err != nil {
			return rep, err
		}
		defer stop()
		os.Setenv("AWS_ACCESS_KEY_ID", objectstest.AccessKey)
		os.Setenv("AWS_SECRET_ACCESS_KEY", objectstest.SecretKey)
		storeURL = "s3://assistd/attachments?endpoint=http://" + addr + "&region=us-east-1"
	} else if cfg.Store != "folder" {
		return rep, fmt.Errorf("unknown store %q (folder, s3)", cfg.Store)
	}
	mr, err := miniredis.Run()
	if err != nil {
		return rep, err
	}
	defer mr.Close()
	db := cfg.DatabaseURL
	if db == "" {
		db = "sqlite:" + filepath.Join(dir, "assistd.db")
	}
	sys, err := assembly.New(ctx, assembly.Settings{DatabaseURL: db, Migrate: true, RedisURL: "redis://" + mr.Addr() + "/0",
		SecretKeys: secret.GenerateKey(), MailFrom: "Apoio <suporte@example.pt>", PublicURL: "http://127.0.0.1",
		API:            api.Config{APIToken: apiToken, StaffToken: apiToken + "-staff", SpoolDir: dir, AttachmentMaxBytes: cfg.Size},
		AttachmentsURL: storeURL})
	if err != nil {
		return rep, err
	}
	defer sys.Close()
	srv := httptest.NewServer(sys.NewAPI())
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Uploads}}
	put, _ := http.NewRequestWithContext(ctx, "PUT", srv.URL+"/api/v1/customers/"+customer,
		strings.NewReader(`{"name":"Bench","email":"bench@example.pt","language":"pt-PT","domains":["example.pt"]}`))
	put.Header.Set("Authorization", "Bearer "+apiToken)
	put.Header.Set("Content-Type", "application/json")
	if err := status(client.Do(put)); err != nil {
		return rep, fmt.Errorf("put customer: %w", err)
	}
	if err := upload(ctx, client, srv.URL, cfg.Size, 0); err != nil { // warm-up
		return rep, err
	}
	runtime.GC()
	debug.FreeOSMemory()
	rep.BaseRSS = bench.CurrentRSS()
	bench.ResetPeakRSS()
	for r := range cfg.Rounds {
		start := time.Now()
		var wg sync.WaitGroup
		errs := make([]error, cfg.Uploads)
		for i := range cfg.Uploads {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = upload(ctx, client, srv.URL, cfg.Size, uint64(r*cfg.Uploads+i+1)) }()
		}
		wg.Wait()
		rep.Rounds = append(rep.Rounds, time.Since(start))
		if err := errors.Join(errs...); err != nil {
			return rep, err
		}
		rep.Completed += cfg.Uploads
	}
	rep.PeakRSS = bench.PeakRSS()
	return rep, nil
}

// upload sends one file of size bytes, generated as it is sent: a PNG header, then pseudo-random
// bytes.
func upload(ctx context.Context, client *http.Client, base string, size int64, seed uint64) error {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		fw, err := mw.CreateFormFile("file", fmt.Sprintf("ecra-%d.png", seed))
		if err == nil {
			_, err = io.Copy(fw, io.LimitReader(&pngStream{rng: rand.New(rand.NewPCG(seed, 7))}, size))
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/customers/"+customer+"/uploads", pr)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return status(client.Do(req))
}

func status(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("answered %d: %s", resp.StatusCode, body)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// pngStream is a PNG signature followed by endless pseudo-random bytes.
type pngStream struct {
	rng  *rand.Rand
	head bool
}

func (p *pngStream) Read(b []byte) (int, error) {
	n := 0
	if !p.head {
		n = copy(b, "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
		p.head = true
	}
	for ; n+8 <= len(b); n += 8 {
		v := p.rng.Uint64()
		for k := range 8 {
			b[n+k] = byte(v >> (8 * k))
		}
	}
	return n, nil
}

func (r Report) String() string {
	var b strings.Builder
	total := float64(r.Size) * float64(r.Uploads)
	fmt.Fprintf(&b, "%s store: %d rounds of %d concurrent uploads of %.1f MiB\n", r.Store, len(r.Rounds), r.Uploads, float64(r.Size)/(1<<20))
	for i, d := range r.Rounds {
		fmt.Fprintf(&b, "  round %d: %s, %.1f MB/s\n", i+1, d.Round(time.Millisecond), total/1e6/d.Seconds())
	}
	fmt.Fprintf(&b, "  resident before: %.1f MB; peak during the rounds: %.1f MB; increase %.1f MB\n",
		float64(r.BaseRSS)/1e6, float64(r.PeakRSS)/1e6, float64(r.PeakRSS-r.BaseRSS)/1e6)
	return b.String()
}
