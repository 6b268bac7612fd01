package api

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"
)

// A request body must keep arriving: every window must bring at least floor × window bytes (or
// the rest of the body), else the connection's read deadline passes and the request is cut off.
// The header has its own timeout (http.Server.ReadHeaderTimeout); without this a client could
// hold a connection, and a handler, for as long as it likes by sending a byte now and then. A
// floor, not a total time, so that a large upload on a slow line still passes; no cap on
// connections per address, since a portal is one address.
const (
	defaultBodyFloor  = 1024 // bytes a second, averaged over a window
	defaultBodyWindow = 30 * time.Second
	// bodyDrainGrace is how long the server may still read a body the handler did not, after it
	// answered (a 401 or 415 sent before reading), so the connection can be reused; a client
	// slower than that gets the answer and a closed connection.
	bodyDrainGrace = 2 * time.Second
)

// steadyBody enforces the floor on a request's body through the connection's read deadline.
type steadyBody struct {
	io.ReadCloser
	rc     *http.ResponseController
	need   int64 // bytes each window must bring
	window time.Duration

	mu       sync.Mutex
	got      int64 // bytes since the current window began
	deadline time.Time
	ended    bool // the body was read to its end
	answered bool
}

// steadyBodies applies the floor to every request that has a body. Where the connection takes
// no deadline (a test recorder), requests go through unchanged.
func (s *Server) steadyBodies(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return w, r
	}
	floor, window := s.cfg.BodyFloor, s.cfg.BodyWindow
	if floor <= 0 {
		floor = defaultBodyFloor
	}
	if window <= 0 {
		window = defaultBodyWindow
	}
	b := &steadyBody{ReadCloser: r.Body, rc: http.NewResponseController(w), need: int64(float64(floor) * window.Seconds()), window: window}
	b.deadline = time.Now().Add(window)
	if err := b.rc.SetReadDeadline(b.deadline); err != nil {
		return w, r
	}
	r2 := *r
	r2.Body = b
	return &drainLimiter{ResponseWriter: w, body: b}, &r2
}

func (b *steadyBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got += int64(n)
	if errors.Is(err, io.EOF) {
		b.ended = true
	}
	if b.got >= b.need && !b.answered {
		b.got = 0
		b.deadline = time.Now().Add(b.window)
		_ = b.rc.SetReadDeadline(b.deadline)
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = errBodyTooSlow
	}
	return n, err
}

// errBodyTooSlow is what a handler reads from a body that stopped arriving.
var errBodyTooSlow = errors.New("the request body arrived too slowly")

// answering is called when the handler starts its answer: a body it left unread may still be
// read by the server, which keeps the connection for the next request, but only for a moment.
func (b *steadyBody) answering() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.answered || b.ended {
		b.answered = true
		return
	}
	b.answered = true
	if grace := time.Now().Add(bodyDrainGrace); grace.Before(b.deadline) {
		b.deadline = grace
		_ = b.rc.SetReadDeadline(grace)
	}
}

// drainLimiter tells the body when the answer starts.
type drainLimiter struct {
	http.ResponseWriter
	body *steadyBody
}

func (w *drainLimiter) WriteHeader(code int) {
	w.body.answering()
	w.ResponseWriter.WriteHeader(code)
}

func (w *drainLimiter) Write(p []byte) (int, error) {
	w.body.answering()
	return w.ResponseWriter.Write(p)
}

func (w *drainLimiter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
