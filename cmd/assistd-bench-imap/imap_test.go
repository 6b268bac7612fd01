package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/mail/dovecottest"
)

func TestRunIMAPDrainsAnswersAndReportsEveryFigure(t *testing.T) {
	if why := dovecottest.Available(); why != "" {
		t.Skip("the IMAP bench needs Dovecot: " + why)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := RunIMAP(ctx, IMAPConfig{Mails: 30, AtRest: 1, IdleFor: time.Second})
	if err != nil {
		t.Fatalf("%v\n%s", err, rep)
	}
	// 30 burst, 1 at rest, 30 backlog: each answered once.
	if rep.Drain <= 0 || rep.BareDrain <= 0 || rep.Backlog <= 0 || len(rep.AtRest) != 1 || rep.AtRest[0] <= 0 || rep.PeakRSS <= 0 ||
		rep.Answered != 30 || rep.AnswersSent != 61 {
		t.Fatalf("report lacks figures:\n%s", rep)
	}
	if !strings.Contains(rep.String(), "ratio") {
		t.Fatalf("report:\n%s", rep)
	}
}
