// Package scan asks clamd whether a file is infected, over its INSTREAM command: the file is sent
// in chunks on a TCP or Unix socket and clamd answers "stream: OK" or "stream: NAME FOUND".
package scan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"
)

// Verdict is what clamd said of a file.
type Verdict struct {
	Infected  bool
	Signature string // the signature found, when Infected
}

// Clamd is a clamd daemon's address.
type Clamd struct {
	network, addr string
	// Timeout bounds one scan, connection included; 0 means two minutes.
	Timeout time.Duration
}

// ParseAddr reads ASSISTD_CLAMD_ADDR: tcp://host:port or unix:///path.
func ParseAddr(raw string) (*Clamd, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("scan: %q is not tcp://host:port or unix:///path", raw)
	}
	switch u.Scheme {
	case "tcp":
		if _, _, err := net.SplitHostPort(u.Host); err != nil || u.Path != "" {
			return nil, fmt.Errorf("scan: %q is not tcp://host:port", raw)
		}
		return &Clamd{network: "tcp", addr: u.Host}, nil
	case "unix":
		if u.Path == "" {
			return nil, fmt.Errorf("scan: %q names no socket", raw)
		}
		return &Clamd{network: "unix", addr: u.Path}, nil
	default:
		return nil, fmt.Errorf("scan: %q is not tcp://host:port or unix:///path", raw)
	}
}

func (c *Clamd) String() string { return c.network + "://" + c.addr }

// chunkSize is how much of the file goes in one INSTREAM chunk; clamd's StreamMaxLength bounds
// the whole stream (25 MB by default).
const chunkSize = 64 << 10

// ErrUnavailable wraps every failure to reach clamd or to get its answer: the scan did not
// happen and may be tried again.
var ErrUnavailable = errors.New("scan: clamd unavailable")

// Scan streams r to clamd and returns its verdict.
func (c *Clamd) Scan(ctx context.Context, r io.Reader) (Verdict, error) {
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, c.network, c.addr)
	if err != nil {
		return Verdict{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write([]byte("zINSTREAM\x00")); err != nil {
		return Verdict{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	buf := make([]byte, 4+chunkSize)
	for {
		n, rerr := io.ReadFull(r, buf[4:])
		if n > 0 {
			binary.BigEndian.PutUint32(buf[:4], uint32(n))
			if _, err := conn.Write(buf[:4+n]); err != nil {
				// clamd closes the stream when it is over its size limit; its answer says so.
				return c.answer(conn, err)
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return Verdict{}, fmt.Errorf("scan: reading the file: %w", rerr)
		}
	}
	if _, err := conn.Write([]byte{0, 0, 0, 0}); err != nil {
		return c.answer(conn, err)
	}
	return c.answer(conn, nil)
}

// answer reads clamd's one reply.
func (c *Clamd) answer(conn net.Conn, writeErr error) (Verdict, error) {
	line, err := bufio.NewReader(conn).ReadBytes(0)
	if err != nil && len(line) == 0 {
		if writeErr != nil {
			err = writeErr
		}
		return Verdict{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	reply := string(bytes.TrimRight(line, "\x00\n"))
	body, _ := strings.CutPrefix(reply, "stream: ")
	switch {
	case body == "OK":
		return Verdict{}, nil
	case strings.HasSuffix(body, " FOUND"):
		return Verdict{Infected: true, Signature: strings.TrimSuffix(body, " FOUND")}, nil
	default:
		// "INSTREAM size limit exceeded. ERROR" and the like: clamd could not judge the file.
		return Verdict{}, fmt.Errorf("%w: clamd answered %q", ErrUnavailable, reply)
	}
}

// Ping checks that clamd answers.
func (c *Clamd) Ping(ctx context.Context) error {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := d.DialContext(ctx, c.network, c.addr)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write([]byte("zPING\x00")); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	line, err := bufio.NewReader(conn).ReadBytes(0)
	if err != nil || string(bytes.TrimRight(line, "\x00")) != "PONG" {
		return fmt.Errorf("%w: no PONG (%q, %v)", ErrUnavailable, line, err)
	}
	return nil
}
