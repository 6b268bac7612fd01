package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// blockingRun is a statement that records what each run carried and waits for release.
type blockingRun struct {
	mu      sync.Mutex
	runs    [][]int
	release chan struct{}
	fail    int // a run carrying this request fails
}

func (b *blockingRun) run(_ context.Context, reqs []int) ([]int, error) {
	b.mu.Lock()
	b.runs = append(b.runs, slices.Clone(reqs))
	b.mu.Unlock()
	<-b.release
	if slices.Contains(reqs, b.fail) {
		return nil, errors.New("statement failed")
	}
	out := make([]int, len(reqs))
	for i, r := range reqs {
		out[i] = r * 10
	}
	return out, nil
}

// waitRuns waits until n statements have started.
func (b *blockingRun) waitRuns(t *testing.T, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d statements started", n), &b.mu, func() bool { return len(b.runs) >= n })
}

// waitQueued waits until n calls wait for the next statement.
func waitQueued[Req, Res any](t *testing.T, c *coalescer[Req, Res], n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d calls queued", n), &c.mu, func() bool { return len(c.queue) == n })
}

// burstBehindOne makes call 0, which runs alone at once, then calls 1 to n, which wait for it,
// then lets the statements go and waits for every call.
func burstBehindOne(t *testing.T, b *blockingRun, c *coalescer[int, int], wg *sync.WaitGroup, call func(int), n int) {
	t.Helper()
	wg.Add(1)
	go call(0)
	b.waitRuns(t, 1)
	for i := 1; i <= n; i++ {
		wg.Add(1)
		go call(i)
	}
	waitQueued(t, c, n)
	close(b.release)
	wg.Wait()
}

// waitFor waits until cond, checked under mu, holds.
func waitFor(t *testing.T, what string, mu *sync.Mutex, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		mu.Lock()
		ok := cond()
		mu.Unlock()
		if ok {
			return
		}
	}
	t.Fatalf("never: %s", what)
}

func TestCallsArrivingWhileAStatementRunsShareTheNextOneAndEachGetsItsOwnResult(t *testing.T) {
	b := &blockingRun{release: make(chan struct{}), fail: -1}
	c := newCoalescer("test_group", 4, 1, b.run)
	ctx := context.Background()

	results := make([]int, 11)
	errs := make([]error, 11)
	var wg sync.WaitGroup
	call := func(i int) {
		defer wg.Done()
		results[i], errs[i] = c.do(ctx, i)
	}
	burstBehindOne(t, b, c, &wg, call, 10)

	for i := range results {
		if errs[i] != nil || results[i] != i*10 {
			t.Fatalf("call %d: %d, %v; want %d", i, results[i], errs[i], i*10)
		}
	}
	var sizes []int
	for _, r := range b.runs {
		sizes = append(sizes, len(r))
	}
	// One alone, then the ten waiting in statements of at most four.
	if !slices.Equal(sizes, []int{1, 4, 4, 2}) {
		t.Fatalf("statements carried %v calls; want [1 4 4 2]", sizes)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running != 0 || len(c.queue) != 0 {
		t.Fatalf("after the last call: %d running, %d queued", c.running, len(c.queue))
	}
}

// failingGroup runs five calls where the statement carrying call 2 fails, as a constraint refusing
// its data would; with unavailable set, the failure is a lost database instead. It returns each
// call's error and what each statement carried.
func failingGroup(t *testing.T, unavailable bool) (errs []error, runs [][]int) {
	t.Helper()
	b := &blockingRun{release: make(chan struct{}), fail: 2}
	run := b.run
	if unavailable {
		run = func(ctx context.Context, reqs []int) ([]int, error) {
			out, err := b.run(ctx, reqs)
			if err != nil {
				err = fmt.Errorf("%w: connection refused", ErrUnavailable)
			}
			return out, err
		}
	}
	c := newCoalescer("test_group", 2, 1, run)
	ctx := context.Background()
	errs = make([]error, 5)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _, errs[0] = c.do(ctx, 0) }()
	b.waitRuns(t, 1)
	// 1 and 2 share a statement, which fails because of 2; 3 and 4 share the next.
	for i := 1; i <= 4; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = c.do(ctx, i) }()
		waitQueued(t, c, i)
	}
	close(b.release)
	wg.Wait()
	return errs, b.runs
}

func TestAStatementRefusedForOneCallsDataIsRetriedCallByCallSoOnlyThatCallFails(t *testing.T) {
	errs, runs := failingGroup(t, false)
	for i, err := range errs {
		if failed := i == 2; failed != (err != nil) {
			t.Fatalf("call %d: err = %v", i, err)
		}
	}
	if want := [][]int{{0}, {1, 2}, {1}, {2}, {3, 4}}; !slices.EqualFunc(runs, want, slices.Equal) {
		t.Fatalf("statements ran %v, want %v", runs, want)
	}
}

func TestWhenTheDatabaseIsUnreachableEveryCallOfTheStatementFailsAtOnce(t *testing.T) {
	errs, runs := failingGroup(t, true)
	for i, err := range errs {
		if failed := i == 1 || i == 2; failed != errors.Is(err, ErrUnavailable) {
			t.Fatalf("call %d: err = %v", i, err)
		}
	}
	if want := [][]int{{0}, {1, 2}, {3, 4}}; !slices.EqualFunc(runs, want, slices.Equal) {
		t.Fatalf("statements ran %v, want %v", runs, want)
	}
}

func TestACallerWhoseContextEndsStopsWaitingWithoutHarmingTheOthers(t *testing.T) {
	b := &blockingRun{release: make(chan struct{}), fail: -1}
	c := newCoalescer("test_group", 8, 1, b.run)
	first := make(chan error, 1)
	go func() {
		_, err := c.do(context.Background(), 1)
		first <- err
	}()
	b.waitRuns(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	gone := make(chan error, 1)
	go func() {
		_, err := c.do(ctx, 2)
		gone <- err
	}()
	waitQueued(t, c, 1)
	cancel()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: err = %v", err)
	}
	close(b.release)
	if err := <-first; err != nil {
		t.Fatalf("the other caller: %v", err)
	}
}

// Under load a statement that follows another waits for more calls before it runs; the first
// statement of a burst, and a full one, never wait.
func TestAStatementFollowingAnotherWaitsForMoreCallsButTheFirstNeverDoes(t *testing.T) {
	b := &blockingRun{release: make(chan struct{}), fail: -1}
	c := newCoalescer("test_group", 4, 1, b.run)
	ctx := context.Background()
	var wg sync.WaitGroup
	call := func(i int) {
		defer wg.Done()
		if got, err := c.do(ctx, i); err != nil || got != i*10 {
			t.Errorf("call %d: %d, %v", i, got, err)
		}
	}
	var waits []time.Duration
	c.sleep = func(d time.Duration) {
		waits = append(waits, d)
		if len(waits) == 1 {
			// Two calls arrive while the statement waits.
			wg.Add(2)
			go call(2)
			go call(3)
			waitQueued(t, c, 3)
		}
	}
	wg.Add(1)
	go call(0)
	b.waitRuns(t, 1)
	if len(waits) != 0 {
		t.Fatalf("the first statement of a burst waited %v", waits)
	}
	wg.Add(1)
	go call(1)
	waitQueued(t, c, 1)
	close(b.release)
	wg.Wait()

	var sizes []int
	for _, r := range b.runs {
		sizes = append(sizes, len(r))
	}
	if !slices.Equal(sizes, []int{1, 3}) || !slices.Equal(waits, []time.Duration{groupLinger}) {
		t.Fatalf("statements carried %v calls after waits %v; want [1 3] after one wait of %v", sizes, waits, groupLinger)
	}

	// A burst that fills a statement runs it without waiting.
	waitFor(t, "no statement running", &c.mu, func() bool { return c.running == 0 })
	waits = nil
	b2 := &blockingRun{release: make(chan struct{}), fail: -1}
	c.run = b2.run
	burstBehindOne(t, b2, c, &wg, call, 4)
	if len(waits) != 0 || len(b2.runs) != 2 || len(b2.runs[1]) != 4 {
		t.Fatalf("a full statement waited %v; statements %v", waits, b2.runs)
	}
}
