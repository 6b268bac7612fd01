package api_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/assistd/assistd/api"
	"github.com/assistd/assistd/internal/systemtest"
)

// browserPath finds Chromium (Debian's chromium package) or Chrome; ASSISTD_TEST_BROWSER names
// another binary.
func browserPath() string {
	if p := os.Getenv("ASSISTD_TEST_BROWSER"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startBrowser starts a headless browser, closed when the test ends or after timeout, and
// returns its context for chromedp.
func startBrowser(t *testing.T, path string, timeout time.Duration) context.Context {
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.WindowSize(1280, 900))
	t.Cleanup(cancelAlloc)
	ctx, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	t.Cleanup(cancel)
	return ctx
}

// browserWalk drives one headless browser through the pages, saving a screenshot of each and
// checking each for validity, labels and contrast.
type browserWalk struct {
	t     *testing.T
	ctx   context.Context
	env   *webEnv
	dir   string
	shots int
	axe   string // axe-core's source, or "" to check without it
}

func (b *browserWalk) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// follow runs steps that load a new page (a click on a link or a button) and waits for it.
func (b *browserWalk) follow(what string, steps ...chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, steps...)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return resp.Status
}

func (b *browserWalk) open(path string) {
	b.t.Helper()
	b.follow("open "+path, chromedp.Navigate(b.env.Web.URL+path))
}

func (b *browserWalk) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (b *browserWalk) eval(expr string) bool {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func (b *browserWalk) path() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return strings.TrimPrefix(loc, b.env.Web.URL)
}

// contrastScript measures, for every visible element holding text, the contrast of its colour
// with the first opaque background behind it (WCAG 2: 4.5:1, or 3:1 for large text).
const contrastScript = `(() => {
  const parse = c => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return null;
    const p = m[1].split(',').map(parseFloat); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const background = el => { for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor);
    if (c && c.a > 0.99) return c; } return {r: 255, g: 255, b: 255, a: 1}; };
  const failures = []; let checked = 0; const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!node.data.trim() || !el || seen.has(el)) continue;
    seen.add(el);
    const st = getComputedStyle(el), box = el.getBoundingClientRect();
    if (st.visibility === 'hidden' || box.width < 2 || box.height < 2) continue;
    const bg = background(el); let fg = parse(st.color);
    if (fg.a < 1) fg = {r: fg.r * fg.a + bg.r * (1 - fg.a), g: fg.g * fg.a + bg.g * (1 - fg.a), b: fg.b * fg.a + bg.b * (1 - fg.a), a: 1};
    const l1 = lum(fg), l2 = lum(bg), ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(st.fontSize), large = size >= 24 || (parseInt(st.fontWeight, 10) >= 700 && size >= 18.66);
    checked++;
    if (ratio < (large ? 3 : 4.5)) failures.push(el.tagName.toLowerCase() + (el.className ? '.' + el.className : '') + ' "' + node.data.trim().slice(0, 40) + '": ' + ratio.toFixed(2));
  }
  return {checked, failures};
})()`

// axeScript runs axe-core (loaded beforehand) on the page and returns its violations at the
// WCAG 2.1 A and AA levels, with the elements concerned.
const axeScript = `axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
  resultTypes: ['violations']}).then(r => ({passed: r.passes.length, violations: r.violations.map(v => ({id: v.id,
  impact: v.impact || '', help: v.help, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))}))`

type axeResult struct {
	Passed     int            `json:"passed"` // rules the page passed
	Violations []axeViolation `json:"violations"`
}

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axeSource is axe-core's axe.min.js, named by ASSISTD_TEST_AXE (.ci/run installs it from npm);
// "" when it is not set.
func axeSource(t *testing.T) string {
	path := os.Getenv("ASSISTD_TEST_AXE")
	if path == "" {
		t.Log("ASSISTD_TEST_AXE is not set: pages are checked without axe-core")
		return ""
	}
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("ASSISTD_TEST_AXE: %v", err)
	}
	return string(src)
}

type contrastResult struct {
	Checked  int      `json:"checked"`
	Failures []string `json:"failures"`
}

// page saves a screenshot of the page as the browser shows it, then checks the document the
// browser built for validity and labels, its rendered text for contrast, and, with axe-core,
// the page against WCAG 2.1 AA.
func (b *browserWalk) page(name string) {
	b.t.Helper()
	shot, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	b.shots++
	file := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.shots, name))
	if err := os.WriteFile(file, shot, 0o644); err != nil {
		b.t.Fatal(err)
	}
	doc, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`'<!DOCTYPE html>' + document.documentElement.outerHTML`))
	if err != nil {
		b.t.Fatal(err)
	}
	for _, p := range pageProblems(doc) {
		b.t.Errorf("%s (%s): %s", name, b.path(), p)
	}
	res, err := chromedp.Run(b.ctx, chromedp.Evaluate[contrastResult](contrastScript))
	if err != nil {
		b.t.Fatalf("contrast of %s: %v", name, err)
	}
	if res.Checked < 5 {
		b.t.Errorf("%s: contrast measured on only %d elements", name, res.Checked)
	}
	for _, f := range res.Failures {
		b.t.Errorf("%s: contrast below the minimum: %s", name, f)
	}
	if b.axe != "" {
		if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](b.axe+";true")); err != nil {
			b.t.Fatalf("load axe-core on %s: %v", name, err)
		}
		res, err := chromedp.Run(b.ctx, chromedp.Evaluate[axeResult](axeScript, chromedp.EvalAwaitPromise))
		if err != nil {
			b.t.Fatalf("axe-core on %s: %v", name, err)
		}
		if res.Passed < 5 {
			b.t.Errorf("%s: axe-core passed only %d rules: did it run?", name, res.Passed)
		}
		for _, v := range res.Violations {
			b.t.Errorf("%s (%s): axe-core %s (%s): %s at %v", name, b.path(), v.ID, v.Impact, v.Help, v.Nodes)
		}
	}
	if b.eval(`document.documentElement.scrollWidth > window.innerWidth + 1`) {
		b.t.Errorf("%s: the page is wider than the window (%s)", name, b.path())
	}
}

// mailsTo counts the mails the SMTP sink received for an address that mention a text.
func mailsTo(env *webEnv, addr, text string) int {
	n := 0
	for _, m := range env.Sink.Mails() {
		if len(m.To) > 0 && m.To[0] == addr && strings.Contains(string(m.Data), text) {
			n++
		}
	}
	return n
}

func TestACustomerAndTheStaffCarryARequestThroughInARealBrowser(t *testing.T) {
	browser := browserPath()
	if browser == "" {
		t.Skip("no Chromium or Chrome found (install Debian's chromium package, or set ASSISTD_TEST_BROWSER): the browser test is skipped")
	}
	dir := os.Getenv("ASSISTD_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	dir = filepath.Join(dir, "pages")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)

	env := startWeb(t, false, nil)
	env.PutCustomer(t, "ana", "pt-PT")
	// Two members of different departments: Rita of Email, Bruno of Faturação.
	env.PutMember(t, "rita", false, map[string]string{"email": "agent"})
	env.PutMember(t, "bruno", false, map[string]string{"faturacao": "agent"})
	// Teresa leads Email; its saved reply fills in the customer's name and the request's number.
	env.PutMember(t, "teresa", false, map[string]string{"email": "lead"})
	if code := env.Do(t, "PUT", "/api/v1/staff/departments/email/replies/smtp", systemtest.StaffToken, map[string]string{"title": "Autenticação SMTP",
		"body": "Olá {customer_name}, sobre o pedido #{ticket_number}:"}, nil); code != 200 {
		t.Fatalf("the Email department's saved reply: %d", code)
	}
	const password = "Outl00k!segredo"
	// The Email department answers within 4 business hours, Monday to Friday in Lisbon.
	if code := env.Do(t, "PUT", "/api/v1/staff/departments/email/sla", systemtest.StaffToken, map[string]any{"first_response": "4h", "next_response": "8h",
		"resolution": "72h", "warn_before": "30m", "hours": map[string]any{"timezone": "Europe/Lisbon", "holidays": "PT",
			"week": map[string][]string{"mon": {"09:00-13:00", "14:00-18:00"}, "tue": {"09:00-18:00"}, "wed": {"09:00-18:00"}, "thu": {"09:00-18:00"}, "fri": {"09:00-18:00"}}}}, nil); code != 200 {
		t.Fatalf("the Email department's service level: %d", code)
	}

	ctx := startBrowser(t, browser, 3*time.Minute)
	b := &browserWalk{t: t, ctx: ctx, env: env, dir: dir, axe: axeSource(t)}

	// The portal's signed link, opened from elsewhere than the portal (an email, say), says
	// whose client area it opens and signs in at the press of a button.
	link := api.CustomerLoginURL(env.Web.URL, pagesPortalSecret, "ana", 5*time.Minute)
	b.follow("open the sign-in link", chromedp.Navigate(link))
	if p := b.path(); !strings.HasPrefix(p, "/login?") || !strings.Contains(b.text(`main .lead`), "Ana Silva") {
		t.Fatalf("a sign-in link opened outside the portal: at %s, saying %q; want the page naming the account", p, b.text(`main .lead`))
	}
	b.page("sign-in-confirm")
	b.follow("sign in", chromedp.Click(chromedp.CSS(`main form[action="/login"] button`)))
	if p := b.path(); p != "/tickets" {
		t.Fatalf("after sign-in the browser is at %s", p)
	}
	b.page("history-empty")

	// Search a subject: the list filters as the customer types.
	b.follow("open the subjects", chromedp.Click(chromedp.CSS(`main a.button[href="/tickets/new"]`)))
	b.do("type a search", chromedp.SendKeys(chromedp.CSS(`input[name=q]`), "conta email"))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const v = [...document.querySelectorAll('[data-testid=subject-list] li:not([hidden]) a')];
		return v.length > 0 && v.length < document.querySelectorAll('[data-testid=subject-list] li').length && v[0].textContent === 'Configuração Conta de Email'; })()`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("the subject list does not filter as the customer types: %v", err)
	}
	if n := b.text(`#subject-count`); n != "1 assunto" {
		t.Errorf("the live count says %q, want 1 assunto", n)
	}
	b.page("subjects-searched")
	b.follow("choose the subject", chromedp.Click(chromedp.CSS(`[data-testid=subject-list] li:not([hidden]) a`)))

	// The form: the contact email read-only, the "i" of the password opened with the keyboard.
	if email, _ := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`#f-email`))); email != "ana@example.pt" || !b.eval(`document.querySelector('#f-email').readOnly`) {
		t.Errorf("contact email %q, or not read-only", email)
	}
	b.do("open the password explanation with the keyboard", chromedp.Focus(chromedp.CSS(`details.explain summary`)), chromedp.KeyEvent("\r"))
	if !b.eval(`document.querySelector('details.explain').open && document.querySelector('#f-password-info').textContent.includes('72 horas')`) {
		t.Error("the password explanation does not open from the keyboard, or does not explain the 72 hours")
	}
	b.do("fill the form",
		chromedp.SendKeys(chromedp.CSS(`textarea[name=message]`), "O Outlook pede a palavra-passe sempre que envio um email.\nJá reinstalei o programa."),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.SetValue(chromedp.CSS(`select[name=domain]`), "example.pt"))
	// A screenshot of the page itself, attached to the request.
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	shotPath := filepath.Join(t.TempDir(), "ecra-do-erro.png")
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	b.do("attach a screenshot", chromedp.SetUploadFiles(chromedp.CSS(`#f-attachments`), []string{shotPath}))
	b.page("form-filled")
	b.follow("send the request", chromedp.Click(chromedp.CSS(`[data-testid=send]`)))

	// The confirmation, and its copy by email.
	number := strings.TrimPrefix(b.text(`[data-testid=ticket-number]`), "#")
	if len(number) != 8 || !strings.Contains(b.text("main"), "ana@example.pt") {
		t.Fatalf("confirmation shows number %q", number)
	}
	b.page("confirmation")
	systemtest.Eventually(t, 20*time.Second, "the confirmation copy to the contact email", func() bool { return mailsTo(env, "ana@example.pt", number) >= 1 })

	// The history lists it as open.
	b.follow("go to the history", chromedp.Click(chromedp.CSS(`main a[href="/tickets"]`)))
	rowStatus := `[...document.querySelectorAll('[data-testid=tickets] tbody tr')].filter(r => r.querySelector('[data-testid=ticket-number]').textContent.trim() === '#` + number + `').map(r => r.querySelector('[data-testid=status]').textContent.trim())[0] || ''`
	if s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](rowStatus)); s != "Aberto" {
		t.Fatalf("in the history #%s is %q, want Aberto", number, s)
	}
	b.page("history")

	// Open it and add a reply.
	b.follow("open the request", chromedp.Click(chromedp.CSS(`[data-testid=tickets] a[href="/tickets/`+number+`"]`)))
	if st := b.text(`[data-testid=password-state]`); !strings.HasPrefix(st, "Fornecida") || strings.Contains(b.text("main"), password) {
		t.Fatalf("password state %q, or the password is on the customer's page", st)
	}
	b.do("write a reply", chromedp.SendKeys(chromedp.CSS(`#reply-message`), "Acrescento: o erro é 0x800CCC0F."))
	b.follow("send the reply", chromedp.Click(chromedp.CSS(`[data-testid=reply]`)))
	if st := b.text(`[data-testid=status]`); st != "Resposta do Cliente" || !strings.Contains(b.text(".thread"), "0x800CCC0F") {
		t.Fatalf("after the reply the status is %q", st)
	}
	// The customer is told when to expect an answer, in Lisbon time and in Portuguese.
	clocks := pageTicket(t, env, number).Clocks()
	due := clocks.ReplyExpectedBy()
	if due == nil {
		t.Fatal("no answer is expected for a request in its department's service level")
	}
	lisbon, _ := time.LoadLocation("Europe/Lisbon")
	wantDue := due.In(lisbon).Format("02/01/2006 15:04 MST")
	if got := b.text(`[data-testid="sla.reply_expected"]`); got != wantDue {
		t.Errorf("the customer's page expects a reply by %q, want %q", got, wantDue)
	}
	b.page("request-replied")

	// Staff: Rita, of Email, signs in with her link, finds the queue, reveals the password with a
	// reason, answers.
	b.open("/staff/login")
	b.page("staff-sign-in")
	b.follow("open the staff sign-in link", chromedp.Navigate(api.StaffLoginURL(env.Web.URL, systemtest.StaffLinkSecret, "rita", 5*time.Minute)))
	if !strings.Contains(b.text(`main .lead`), "em nome de Rita (rita)") {
		t.Fatalf("the staff link's page says %q; want the name it signs in", b.text(`main .lead`))
	}
	b.page("staff-sign-in-link")
	b.follow("staff sign-in", chromedp.Click(chromedp.CSS(`main form[action="/staff/login"] button`)))
	if p := b.path(); p != "/staff" {
		t.Fatalf("after the staff sign-in the browser is at %s", p)
	}
	if b.eval(`!!document.querySelector('a[href="/staff/departments/faturacao"]')`) || !b.eval(`!!document.querySelector('a[href="/staff/departments/email"]')`) {
		t.Error("Rita's console lists another department than hers, or not hers")
	}
	b.page("staff-queues")
	b.follow("open the Email queue", chromedp.Click(chromedp.CSS(`a[href="/staff/departments/email"]`)))
	b.page("staff-queue")
	b.follow("open the request", chromedp.Click(chromedp.CSS(`a[href="/staff/tickets/`+number+`"]`)))
	if st := b.text(`[data-testid=password-state]`); !strings.Contains(st, "destruída dentro de 71 h") {
		t.Errorf("the staff page says %q about the password, want the time left", st)
	}
	if got := b.text(`[data-testid="sla.respond_by"]`); got != wantDue {
		t.Errorf("the staff page says to answer by %q, want %q", got, wantDue)
	}
	// The screenshot is listed and previewed from the staff's own scoped route.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`(() => { const i = document.querySelector('[data-testid=preview]');
		return !!i && i.complete && i.naturalWidth === 1280 && document.querySelector('[data-testid=file]').textContent === 'ecra-do-erro.png'; })()`,
		chromedp.WithPollingTimeout(10*time.Second))); err != nil {
		t.Fatalf("staff do not see the screenshot: %v", err)
	}
	href, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('[data-testid=file]').getAttribute('href')`))
	if !strings.HasPrefix(href, "/staff/tickets/"+number+"/attachments/") {
		t.Fatalf("the screenshot's link is %q", href)
	}
	size, err := chromedp.Run(ctx, chromedp.Evaluate[int](`fetch(`+strconv.Quote(href)+`).then(r => r.ok ? r.arrayBuffer() : new ArrayBuffer(0)).then(b => b.byteLength)`,
		chromedp.EvalAsValue, chromedp.EvalAwaitPromise))
	if err != nil || size != len(shot) {
		t.Fatalf("staff opening the screenshot got %d bytes (%v), want %d", size, err, len(shot))
	}
	b.page("staff-request")
	b.do("give a reason", chromedp.SendKeys(chromedp.CSS(`[data-testid=reveal-reason]`), "Configurar o Outlook com o cliente"))
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`[data-testid=reveal-password]`)))
	if err != nil {
		t.Fatal(err)
	}
	if cc := fmt.Sprint(resp.Headers["Cache-Control"]); cc != "no-store" {
		t.Errorf("the revealed password page has Cache-Control %q", cc)
	}
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`[data-testid=password]`))); v != password {
		t.Fatalf("revealed %q", v)
	}
	b.page("staff-password-revealed")
	b.open("/staff/tickets/" + number)
	if strings.Contains(b.text("main"), password) || b.eval(`!!document.querySelector('[data-testid=password]')`) {
		t.Fatal("the password stays on the ticket page after the reveal")
	}
	// Rita takes the request, writes a note for her colleagues, and starts her answer from the
	// department's saved reply, which the chooser puts into the answer box, filled in.
	b.follow("take the request", chromedp.Click(chromedp.CSS(`[data-testid=take]`)))
	if who := b.text(`[data-testid=assignee]`); who != "rita" {
		t.Fatalf("after taking it the request's assignee is %q", who)
	}
	b.do("write a note", chromedp.SendKeys(chromedp.CSS(`#note-text`), "Confirmado por telefone: o erro só aparece no envio."))
	b.follow("save the note", chromedp.Click(chromedp.CSS(`[data-testid=add-note]`)))
	if note := b.text(`[data-testid=note]`); !strings.Contains(note, "Nota interna") || !strings.Contains(note, "só aparece no envio") {
		t.Fatalf("the thread shows the note as %q", note)
	}
	b.page("staff-note")
	b.do("insert the saved reply", chromedp.Click(chromedp.CSS(`[data-testid=insert-reply]`)))
	filled := "Olá Ana Silva, sobre o pedido #" + number + ":"
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`#answer-message`))); v != filled {
		t.Fatalf("the answer box holds %q after inserting the saved reply, want %q", v, filled)
	}
	b.do("edit the answer", chromedp.SendKeys(chromedp.CSS(`#answer-message`), " obrigado. Ative a autenticação SMTP nas definições da conta."))

	b.follow("send the answer", chromedp.Click(chromedp.CSS(`[data-testid=answer]`)))
	if st := b.text(`[data-testid=status]`); st != "Respondido" {
		t.Fatalf("after the answer the staff page shows %q", st)
	}
	b.page("staff-answered")
	// The console's service levels and response times.
	b.open("/staff/departments/email/sla")
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`#week_mon`))); v != "09:00-13:00, 14:00-18:00" {
		t.Errorf("the policy form shows Monday as %q", v)
	}
	b.page("staff-service-levels")
	b.open("/staff/reports")
	b.page("staff-response-times")
	// Rita finds the request by a word of its thread, typed without its accent, from the search
	// box every console page has; the word is marked in the snippet.
	b.do("type a search", chromedp.SendKeys(chromedp.CSS(`#staff-search`), "autenticacao"))
	b.follow("search", chromedp.Submit(chromedp.CSS(`#staff-search`)))
	if !strings.Contains(b.text(`[data-testid=results]`), "#"+number) || b.text(`[data-testid=snippet] mark`) != "autenticação" {
		t.Errorf("Rita's search lists %q with %q marked; want #%s with its word marked", b.text(`[data-testid=results]`), b.text(`[data-testid=snippet] mark`), number)
	}
	b.page("staff-search")

	// Bruno, of Faturação, sees only his department: Rita's request is not found for him.
	b.follow("open Bruno's sign-in link", chromedp.Navigate(api.StaffLoginURL(env.Web.URL, systemtest.StaffLinkSecret, "bruno", 5*time.Minute)))
	b.follow("Bruno signs in", chromedp.Click(chromedp.CSS(`main form[action="/staff/login"] button`)))
	if b.eval(`!!document.querySelector('a[href="/staff/departments/email"]')`) || !b.eval(`!!document.querySelector('a[href="/staff/departments/faturacao"]')`) {
		t.Error("Bruno's console lists another department than his, or not his")
	}
	b.page("staff-queues-other-member")
	if status := b.follow("Bruno opens Rita's request", chromedp.Navigate(env.Web.URL+"/staff/tickets/"+number)); status != 404 {
		t.Errorf("Bruno opening an Email request: %d, want 404", status)
	}
	b.page("staff-request-out-of-reach")
	b.open("/staff/search?q=autenticacao")
	if b.eval(`!!document.querySelector('[data-testid=results]')`) || !b.eval(`!!document.querySelector('[data-testid=search-empty]')`) {
		t.Error("Bruno's search finds a request of another department")
	}
	b.page("staff-search-out-of-reach")
	if status := b.follow("Bruno opens the Email queue", chromedp.Navigate(env.Web.URL+"/staff/departments/email")); status != 404 {
		t.Errorf("Bruno opening the Email queue: %d, want 404", status)
	}
	// Teresa, who leads Email, moves it to Faturação: Rita (of Email only) no longer owns it,
	// Faturação is told, and Bruno now finds it, its history kept.
	b.follow("open Teresa's sign-in link", chromedp.Navigate(api.StaffLoginURL(env.Web.URL, systemtest.StaffLinkSecret, "teresa", 5*time.Minute)))
	b.follow("Teresa signs in", chromedp.Click(chromedp.CSS(`main form[action="/staff/login"] button`)))
	b.open("/staff/tickets/" + number)
	b.do("choose Faturação", chromedp.SetValue(chromedp.CSS(`#transfer-to`), "faturacao"))
	b.follow("transfer the request", chromedp.Click(chromedp.CSS(`[data-testid=transfer]`)))
	if p := b.path(); !strings.HasPrefix(p, "/staff/departments/email") {
		t.Errorf("after moving the request out of her department Teresa is at %s", p)
	}
	systemtest.Eventually(t, 20*time.Second, "the transfer's email to Faturação", func() bool { return mailsTo(env, "faturacao@suporte.example.pt", number) >= 1 })
	b.follow("Bruno signs in again", chromedp.Navigate(api.StaffLoginURL(env.Web.URL, systemtest.StaffLinkSecret, "bruno", 5*time.Minute)))
	b.follow("Bruno signs in", chromedp.Click(chromedp.CSS(`main form[action="/staff/login"] button`)))
	if status := b.follow("Bruno opens the moved request", chromedp.Navigate(env.Web.URL+"/staff/tickets/"+number)); status != 200 {
		t.Fatalf("Bruno opening the request moved to Faturação: %d", status)
	}
	if d, who := b.text(`[data-testid=department]`), b.text(`[data-testid=assignee]`); d != "Faturação" || who != "Ninguém" ||
		!strings.Contains(b.text("main"), "Departamento: Email → Faturação") || !strings.Contains(b.text("main"), "só aparece no envio") {
		t.Errorf("the moved request shows department %q, assignee %q, or lacks its history and note", d, who)
	}
	b.page("staff-request-transferred")
	systemtest.Eventually(t, 20*time.Second, "the update email to the customer", func() bool { return mailsTo(env, "ana@example.pt", number) >= 2 })

	// The customer sees the answer, closes the request, and goes on with a new one referring to it.
	b.open("/tickets/" + number)
	if st := b.text(`[data-testid=status]`); st != "Respondido" || !strings.Contains(b.text(".thread"), "autenticação SMTP") {
		t.Fatalf("the customer sees %q", st)
	}
	if b.eval(`!!document.querySelector('[data-testid="sla.reply_expected"]')`) {
		t.Error("an answered request still tells the customer to expect a reply")
	}
	if strings.Contains(b.text("main"), "só aparece no envio") || strings.Contains(b.text("main"), "Nota interna") {
		t.Error("the customer's page shows the internal note")
	}
	if !b.eval(`!!document.querySelector('[data-testid=password-views] + ul time')`) || strings.Contains(b.text("main"), "Rita") ||
		strings.Contains(b.text("main"), "Outlook com o cliente") {
		t.Error("the customer's page does not list when the password was viewed, or says by whom or why")
	}
	b.page("request-answered")
	b.follow("close the request", chromedp.Click(chromedp.CSS(`[data-testid=close]`)))
	if st := b.text(`[data-testid=status]`); st != "Fechado" || b.eval(`!!document.querySelector('[data-testid=reply], textarea[name=message]')`) {
		t.Fatalf("after closing: status %q, or the reply form is still there", st)
	}
	b.page("request-closed")
	b.follow("new request referring to it", chromedp.Click(chromedp.CSS(`[data-testid=new-related]`)))
	if !strings.Contains(b.text("main"), "#"+number) {
		t.Error("the subject list does not say which request the new one refers to")
	}
	b.page("new-related-subjects")
	b.follow("choose a subject", chromedp.Click(chromedp.CSS(`[data-testid=subject-list] li:not([hidden]) a`)))
	if v, _ := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`input[name=related_ticket]`))); v != number {
		t.Fatalf("the new form refers to %q, want %s", v, number)
	}
	b.do("fill the new request", chromedp.SendKeys(chromedp.CSS(`textarea[name=message]`), "Continuação do pedido anterior."),
		chromedp.SetValue(chromedp.CSS(`select[name=domain]`), "none"))
	b.page("new-related-form")
	b.follow("send the new request", chromedp.Click(chromedp.CSS(`[data-testid=send]`)))
	second := strings.TrimPrefix(b.text(`[data-testid=ticket-number]`), "#")
	if tk := pageTicket(t, env, second); tk.RelatedTicket == nil || *tk.RelatedTicket != number {
		t.Fatalf("the new request #%s does not refer to #%s", second, number)
	}

	// On a phone.
	b.do("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.open("/tickets")
	b.page("phone-history")
	b.open("/tickets/new?subject_id=email-account-setup")
	b.page("phone-form")
	b.open("/tickets/" + number)
	b.page("phone-request")

	// Sign out on all devices, from the header: this browser is signed out too.
	b.follow("sign out on all devices", chromedp.Click(chromedp.CSS(`button[formaction="/logout/everywhere"]`)))
	if h := b.text("h1"); h != "Sessão terminada em todos os dispositivos" {
		t.Errorf("after signing out on all devices the page says %q", h)
	}
	b.page("phone-signed-out-everywhere")
	if status := b.follow("reopen the history", chromedp.Navigate(env.Web.URL+"/tickets")); status != 401 {
		t.Errorf("the history after signing out on all devices: %d, want 401", status)
	}
}
