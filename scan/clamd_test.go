package scan_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/assistd/assistd/scan"
	"github.com/assistd/assistd/scan/clamdtest"
)

func TestClamdVerdicts(t *testing.T) {
	c, err := scan.ParseAddr(clamdtest.Addr(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := c.Scan(ctx, strings.NewReader(clamdtest.EICAR))
	if err != nil || !v.Infected || v.Signature != clamdtest.Signature {
		t.Fatalf("EICAR: %+v %v, want infected by %s", v, err, clamdtest.Signature)
	}
	clean := bytes.Repeat([]byte("uma linha de registo\n"), 20000) // several chunks
	if v, err := c.Scan(ctx, bytes.NewReader(clean)); err != nil || v.Infected {
		t.Fatalf("clean file: %+v %v", v, err)
	}
}

func TestClamdDown(t *testing.T) {
	c, err := scan.ParseAddr(clamdtest.DeadAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Scan(context.Background(), strings.NewReader("x")); !errors.Is(err, scan.ErrUnavailable) {
		t.Fatalf("scan with clamd down: %v, want ErrUnavailable", err)
	}
}

func TestParseAddr(t *testing.T) {
	for _, ok := range []string{"tcp://127.0.0.1:3310", "unix:///run/clamav/clamd.ctl"} {
		if _, err := scan.ParseAddr(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{"127.0.0.1:3310", "tcp://host", "unix://", "http://x:1"} {
		if _, err := scan.ParseAddr(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
