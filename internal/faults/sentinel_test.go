package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/assistd/assistd/internal/faulttest"
	"github.com/assistd/assistd/internal/systemtest"
	"github.com/assistd/assistd/mail/smtpsink"
	"github.com/assistd/assistd/secret"
	"github.com/assistd/assistd/storage/storagetest"
)

// The tokens of the assistd processes these tests start (serve wants at least 32 characters).
const (
	apiToken   = "fault-test-api-token-0123456789abcdef"
	staffToken = "fault-test-staff-token-0123456789abcdef"
)

// Tickets are posted at a steady rate before, during and after the failover.
const (
	ticketEvery      = 100 * time.Millisecond
	beforeFailover   = 5 * time.Second
	afterPromotion   = 10 * time.Second
	promotionTimeout = 30 * time.Second
)

// The real system (api and worker in one `assistd serve`) on a Sentinel URL loses its Redis
// master to SIGKILL while tickets arrive: the Sentinel promotes the replica, the process follows
// it, no ticket is refused and every ticket is confirmed. Runs on Postgres when
// ASSISTD_TEST_DATABASE_URL is set, else on SQLite.
func TestRedisSentinelFailoverLosesNoTicket(t *testing.T) {
	t.Parallel()
	sentinel := faulttest.StartSentinel(t)
	bin := faulttest.BuildAssistd(t)
	backends := storagetest.Backends(t)
	db := backends[len(backends)-1] // Postgres when configured
	sink, err := smtpsink.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	httpAddr := faulttest.FreeAddr(t)
	base := "http://" + httpAddr
	startAssistd(t, bin, "assistd", "api,worker", "ASSISTD_DATABASE_URL="+db.URL, "ASSISTD_REDIS_URL="+sentinel.URL(),
		"ASSISTD_SMTP_URL="+sink.URL(), "ASSISTD_SECRET_KEYS="+secret.GenerateKey(), "ASSISTD_HTTP_ADDR="+httpAddr,
		"ASSISTD_API_TOKEN="+apiToken, "ASSISTD_STAFF_TOKEN="+staffToken)
	systemtest.Eventually(t, time.Minute, "assistd to be ready on the Sentinel URL", func() bool {
		code, _ := systemtest.Request(apiToken, "GET", base+"/readyz", nil)
		return code == http.StatusOK
	})
	if code, body := systemtest.Request(apiToken, "PUT", base+"/api/v1/customers/ana", map[string]any{"name": "Ana", "email": "ana@example.pt",
		"language": "pt-PT", "domains": []string{"example.pt"}}); code != http.StatusOK {
		t.Fatalf("put customer: %d %s", code, body)
	}

	ctx := context.Background()
	var numbers []string
	var refused []string
	var slowest time.Duration
	post := func(until func() bool) {
		tick := time.NewTicker(ticketEvery)
		defer tick.Stop()
		for ; !until(); <-tick.C {
			t0 := time.Now()
			code, body := systemtest.Request(apiToken, "POST", base+"/api/v1/customers/ana/tickets", map[string]any{"subject_id": "hosting-site-down",
				"domain": "example.pt", "message": faulttest.Message, "password": "s3gredo-de-teste"}, "Idempotency-Key", fmt.Sprintf("failover-%d", len(numbers)+len(refused)))
			slowest = max(slowest, time.Since(t0))
			number, ok := ticketNumber(body)
			if code != http.StatusAccepted || !ok {
				refused = append(refused, fmt.Sprintf("%d %s", code, body))
				continue
			}
			numbers = append(numbers, number)
		}
	}
	start := time.Now()
	post(func() bool { return time.Since(start) >= beforeFailover })

	oldMaster := sentinel.Master.Port()
	sentinel.Master.Stop() // SIGKILL
	killed := time.Now()
	var promotion time.Duration
	post(func() bool {
		if promotion == 0 && sentinel.MasterPort(ctx) == sentinel.Replica.Port() {
			promotion = time.Since(killed)
		}
		if promotion == 0 && time.Since(killed) > promotionTimeout {
			t.Fatalf("the Sentinel did not promote the replica within %s (it names port %d; the master was %d)", promotionTimeout, sentinel.MasterPort(ctx), oldMaster)
		}
		return promotion > 0 && time.Since(killed) >= promotion+afterPromotion
	})
	postedFor := time.Since(start)
	if len(refused) > 0 {
		t.Fatalf("%d of %d tickets refused around the failover, the first: %s", len(refused), len(refused)+len(numbers), refused[0])
	}

	// A ticket whose task was lost with the master's last writes is queued again by the outbox
	// relay (pending rows older than 20 s, every 10 s); one whose task the replica still shows
	// running comes back when its lease expires (asynq's recoverer, up to two minutes).
	var confirmedIn time.Duration
	systemtest.Eventually(t, 3*time.Minute, "every ticket to be confirmed after the failover", func() bool {
		ok, _ := faulttest.DeliveredTo(sink).Confirmed(numbers)
		confirmedIn = time.Since(killed)
		return ok
	})
	time.Sleep(2 * time.Second)
	d := faulttest.DeliveredTo(sink)

	if code, body := systemtest.Request(apiToken, "GET", base+"/readyz", nil); code != http.StatusOK {
		t.Errorf("/readyz after the failover: %d %s", code, body)
	}
	// The dashboard reads the queues through the same client: from the new master.
	if code, body := systemtest.Request(staffToken, "GET", base+"/ops/queues/api/queues", nil); code != http.StatusOK || !strings.Contains(string(body), `"queue":"critical"`) {
		t.Errorf("queue dashboard after the failover: %d %.300s", code, body)
	}
	t.Logf("failover: replica promoted %s after the master's SIGKILL; %d tickets posted over %s (one every %s, slowest answer %s), none refused; "+
		"all confirmed %s after the kill; %d mails, %d repeated a Message-ID (tickets sent again: %v); database %s",
		promotion.Round(time.Millisecond), len(numbers), postedFor.Round(time.Second), ticketEvery, slowest.Round(time.Millisecond),
		confirmedIn.Round(time.Second), d.Total, d.Duplicates(), d.RepeatedTickets(), db.Name)
}

// ticketNumber reads the number of a 202 answer.
func ticketNumber(body []byte) (string, bool) {
	var out struct {
		Number string `json:"number"`
	}
	return out.Number, json.Unmarshal(body, &out) == nil && out.Number != ""
}
