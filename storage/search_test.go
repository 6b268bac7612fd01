package storage_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
)

// searchTicket files a processed ticket of a customer under a subject, with its first message.
func searchTicket(t *testing.T, st *storage.Store, cid, subject, message string) storage.Ticket {
	t.Helper()
	nt := newTicket(cid, "")
	nt.SubjectID, nt.Message = subject, message
	c, err := st.CreateTicket(context.Background(), nt)
	if err != nil {
		t.Fatal(err)
	}
	return processTicket(t, st, c)
}

func search(t *testing.T, st *storage.Store, text string, reach storage.Reach) storage.SearchPage {
	t.Helper()
	p, err := st.Search(context.Background(), storage.SearchQuery{Text: text, Reach: reach, Limit: 20})
	if err != nil {
		t.Fatalf("search %q: %v", text, err)
	}
	return p
}

func found(p storage.SearchPage) []string {
	var ns []string
	for _, h := range p.Hits {
		ns = append(ns, h.Number)
	}
	return ns
}

// marked is a hit's snippet with its highlights in brackets.
func marked(h storage.SearchHit) string {
	r := []rune(h.Snippet)
	var b strings.Builder
	at := 0
	for _, m := range h.Highlights {
		b.WriteString(string(r[at:m.Start]) + "[" + string(r[m.Start:m.End]) + "]")
		at = m.End
	}
	b.WriteString(string(r[at:]))
	return b.String()
}

func TestSearchIgnoresAccentsAndCaseAndMarksTheMatchInTheOriginalText(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		putCustomer(t, st, "ana")
		tk := searchTicket(t, st, "ana", "email-delivery", "A CONFIGURAÇÃO do servidor de correio não aceita a ligação segura.")
		searchTicket(t, st, "ana", "email-delivery", "Nada a ver com isto.")
		for _, q := range []string{"configuracao", "Configuração", "CONFIGURACAO", "configura", "ligacao segura", "LIGAÇÃO"} {
			p := search(t, st, q, storage.ReachAll())
			if len(p.Hits) != 1 || p.Hits[0].Number != tk.Number {
				t.Fatalf("%q found %v, want only %s", q, found(p), tk.Number)
			}
		}
		h := search(t, st, "configuracao", storage.ReachAll()).Hits[0]
		if got := marked(h); !strings.Contains(got, "[CONFIGURAÇÃO]") || strings.ContainsAny(h.Snippet, "\x01\x02") {
			t.Errorf("snippet %q, want the original word marked", got)
		}
		if h.SubjectName != "Problemas no Envio ou Receção de Email" || h.Status == "" || h.UpdatedAt.IsZero() {
			t.Errorf("hit %+v lacks its ticket's fields", h)
		}
		// The subject's name is searched too: every ticket under it.
		if p := search(t, st, "recepcao", storage.ReachAll()); len(p.Hits) != 0 {
			t.Errorf("a word in neither: %v", found(p))
		}
		if p := search(t, st, "receção envio", storage.ReachAll()); len(p.Hits) != 2 {
			t.Errorf("the subject's words found %d tickets, want 2", len(p.Hits))
		}
		// Every word must match, not any.
		if p := search(t, st, "configuracao inexistente", storage.ReachAll()); len(p.Hits) != 0 {
			t.Errorf("a word of the query in no ticket still found %v", found(p))
		}
	})
}

// A compound is searched as itself: a ticket with the words apart is not found, and the
// compound's mark covers it in the snippet.
func TestSearchFindsACompoundAsItselfAndNotItsPartsApart(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		putCustomer(t, st, "ana")
		tk := searchTicket(t, st, "ana", "email-delivery", "Esqueci a palavra-passe da caixa de correio.")
		searchTicket(t, st, "ana", "email-delivery", "A palavra que escrevi não deixa passe a mensagem.")
		searchTicket(t, st, "ana", "email-delivery", "Passe a palavra: o correio falha.")
		for _, q := range []string{"palavra-passe", "PALAVRA-PASSE caixa", "palavra-passe correio"} {
			p := search(t, st, q, storage.ReachAll())
			if len(p.Hits) != 1 || p.Hits[0].Number != tk.Number {
				t.Fatalf("%q found %v, want only %s", q, found(p), tk.Number)
			}
			if got := marked(p.Hits[0]); !strings.Contains(got, "palavra") || !strings.Contains(got, "[") {
				t.Errorf("%q: snippet %q marks nothing", q, got)
			}
		}
		if p := search(t, st, "palavra passe", storage.ReachAll()); len(p.Hits) != 3 {
			t.Errorf("the two words apart found %v, want all three tickets", found(p))
		}
	})
}

// A word typed in part beside a whole one: the whole word's tickets are those looked at.
func TestSearchFindsAWordTypedInPartBesideAWholeOne(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		putCustomer(t, st, "ana")
		tk := searchTicket(t, st, "ana", "email-delivery", "O domínio exemplo-9.pt deixou de resolver: configuração errada.")
		searchTicket(t, st, "ana", "email-delivery", "O domínio exemplo-8.pt deixou de resolver: configuração errada.")
		searchTicket(t, st, "ana", "email-delivery", "O domínio exemplo-9.pt deixou de resolver.")
		for i, limits := range []*storage.SearchLimits{nil, {Window: 3, Glance: 1, Walk: 1, Span: 100}} {
			// The second time, a glance at one document: the index is asked, for the whole word.
			if limits != nil {
				storage.SetSearchLimits(t, *limits)
			}
			p := search(t, st, "exemplo-9.pt configura", storage.ReachAll())
			if len(p.Hits) != 1 || p.Hits[0].Number != tk.Number {
				t.Fatalf("%d: found %v, want only %s", i, found(p), tk.Number)
			}
			if p := search(t, st, "exemplo-9.pt configurax", storage.ReachAll()); len(p.Hits) != 0 {
				t.Errorf("%d: a prefix of no word found %v", i, found(p))
			}
			if p := search(t, st, "exemplo-9.pt configura", storage.ReachOnly("faturacao")); len(p.Hits) != 0 {
				t.Errorf("%d: out of reach, found %v", i, found(p))
			}
		}
	})
}

func TestSearchRanksTheSubjectAndMoreMentionsFirst(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		putCustomer(t, st, "ana")
		once := searchTicket(t, st, "ana", "sales-upgrade", "Queria saber se o certificado vem incluído no plano maior e quanto custa.")
		subject := searchTicket(t, st, "ana", "hosting-ssl", "O site mostra um aviso no navegador desde ontem.")
		thrice := searchTicket(t, st, "ana", "sales-upgrade", "Certificado expirado. Renovei o certificado, mas o certificado antigo continua.")
		p := search(t, st, "certificado", storage.ReachAll())
		got := found(p)
		if len(got) != 3 || got[0] != subject.Number || got[2] != once.Number || got[1] != thrice.Number {
			t.Errorf("order %v, want the subject's %s, then %s (three mentions), then %s (one)", got, subject.Number, thrice.Number, once.Number)
		}
		for i := 1; i < len(p.Hits); i++ {
			if p.Hits[i].Rank > p.Hits[i-1].Rank {
				t.Errorf("ranks not descending: %v then %v", p.Hits[i-1].Rank, p.Hits[i].Rank)
			}
		}
	})
}

func TestSearchPagesWithAnOpaqueCursorWithoutRepeatsOrGaps(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		want := map[string]bool{}
		for i := range 23 {
			// Ties on purpose: tickets of the same text rank the same and are ordered by id.
			tk := searchTicket(t, st, "ana", "hosting-site-down", fmt.Sprintf("O site dá erro 503 intermitente%s.", strings.Repeat(" intermitente", i%3)))
			want[tk.Number] = true
		}
		searchTicket(t, st, "ana", "hosting-site-down", "Outro assunto.")
		seen := map[string]bool{}
		var pages int
		next := ""
		for {
			p, err := st.Search(ctx, storage.SearchQuery{Text: "intermitente", Reach: storage.ReachAll(), Limit: 5, After: next})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, h := range p.Hits {
				if seen[h.Number] {
					t.Fatalf("page %d repeats %s", pages, h.Number)
				}
				seen[h.Number] = true
			}
			if p.Next == "" {
				break
			}
			if strings.ContainsAny(p.Next, "|/+=") {
				t.Errorf("cursor %q is not URL-safe and opaque", p.Next)
			}
			next = p.Next
		}
		if len(seen) != len(want) || pages != 5 {
			t.Errorf("%d tickets over %d pages, want %d over 5", len(seen), pages, len(want))
		}
		for _, bad := range []string{"x", "dHh8eA", "%%%", "ZTEyfDM"} {
			if _, err := st.Search(ctx, storage.SearchQuery{Text: "intermitente", Reach: storage.ReachAll(), After: bad}); !errors.Is(err, storage.ErrBadSearchCursor) {
				t.Errorf("cursor %q: %v, want ErrBadSearchCursor", bad, err)
			}
		}
	})
}

func TestSearchFindsATicketByNumberAndACustomersTicketsByEmailDirectly(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		putCustomer(t, st, "rui")
		tk := searchTicket(t, st, "ana", "hosting-cpanel", "Não consigo entrar no painel.")
		other := searchTicket(t, st, "ana", "domain-dns", "Os registos MX não propagam.")
		rui := searchTicket(t, st, "rui", "email-delivery", "Escrevi para suporte@loja-exemplo.pt e nada.")
		for _, q := range []string{tk.Number, "#" + tk.Number, "  #" + tk.Number + " "} {
			p := search(t, st, q, storage.ReachAll())
			if len(p.Hits) != 1 || p.Hits[0].Number != tk.Number || p.Hits[0].Snippet != "Não consigo entrar no painel." {
				t.Errorf("%q found %+v, want %s with its first message", q, p.Hits, tk.Number)
			}
		}
		// A number that is no ticket is searched as a word.
		if p := search(t, st, "#99999999", storage.ReachAll()); len(p.Hits) != 0 {
			t.Errorf("an unknown number found %v", found(p))
		}
		p := search(t, st, "ANA@example.pt", storage.ReachAll())
		if got := found(p); len(got) != 2 || got[0] != other.Number || got[1] != tk.Number {
			t.Errorf("the email found %v, want ana's tickets newest first (%s, %s)", got, other.Number, tk.Number)
		}
		p, err := st.Search(ctx, storage.SearchQuery{Text: "ana@example.pt", Reach: storage.ReachAll(), Limit: 1})
		if err != nil || len(p.Hits) != 1 || p.Next == "" {
			t.Fatalf("first page of one: %v %v", p, err)
		}
		p, err = st.Search(ctx, storage.SearchQuery{Text: "ana@example.pt", Reach: storage.ReachAll(), Limit: 1, After: p.Next})
		if err != nil || len(p.Hits) != 1 || p.Hits[0].Number != tk.Number || p.Next != "" {
			t.Errorf("second page: %v %v, want %s and no more", found(p), err, tk.Number)
		}
		// An address that is no customer's is searched as text: rui's message names it.
		if got := found(search(t, st, "suporte@loja-exemplo.pt", storage.ReachAll())); len(got) != 1 || got[0] != rui.Number {
			t.Errorf("an address in a message found %v, want %s", got, rui.Number)
		}
		if p := search(t, st, "nobody@example.pt", storage.ReachAll()); len(p.Hits) != 0 {
			t.Errorf("an unknown address found %v", found(p))
		}
	})
}

func TestSearchNeverFindsATicketOutOfReach(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		mail := searchTicket(t, st, "ana", "email-delivery", "A palavra zarabatana está na mensagem.")
		bill := searchTicket(t, st, "ana", "billing-invoice", "A palavra zarabatana também está aqui.")
		cases := []struct {
			reach storage.Reach
			want  []string
		}{
			{storage.ReachOnly("email"), []string{mail.Number}},
			{storage.ReachOnly("faturacao"), []string{bill.Number}},
			{storage.ReachOnly("alojamento", "dominios"), nil},
			{storage.ReachOnly(), nil},
			{storage.ReachAll(), []string{bill.Number, mail.Number}},
		}
		for _, c := range cases {
			for _, q := range []string{"zarabatana", mail.Number, "#" + bill.Number, "ana@example.pt"} {
				p := search(t, st, q, c.reach)
				for _, n := range found(p) {
					if !c.reach.All && !containsString(c.want, n) {
						t.Errorf("reach %v, %q: found %s, out of reach", c.reach, q, n)
					}
				}
			}
			if got := found(search(t, st, "zarabatana", c.reach)); strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Errorf("reach %v found %v, want %v", c.reach, got, c.want)
			}
		}
		// A ticket moved to another department is found there, and no longer in the first.
		if _, err := st.DB().Exec(st.DB().Rebind(`UPDATE tickets SET department_id = ? WHERE id = ?`), "alojamento", mail.ID); err != nil {
			t.Fatal(err)
		}
		if got := found(search(t, st, "zarabatana", storage.ReachOnly("alojamento"))); len(got) != 1 || got[0] != mail.Number {
			t.Errorf("after the move the new department found %v, want %s", got, mail.Number)
		}
		if got := found(search(t, st, "zarabatana", storage.ReachOnly("email"))); len(got) != 0 {
			t.Errorf("after the move the old department still found %v", got)
		}
		// An erased customer's tickets are out of every staff view at once.
		if _, err := st.EraseCustomer(ctx, "ana"); err != nil {
			t.Fatal(err)
		}
		if got := found(search(t, st, "zarabatana", storage.ReachAll())); len(got) != 0 {
			t.Errorf("erased tickets found: %v", got)
		}
	})
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestSearchFindsStaffMessagesAndNotes(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		tk := searchTicket(t, st, "ana", "server-vps", "O servidor reinicia sozinho.")
		if _, _, err := st.AddStaffMessage(ctx, storage.ReachAll(), tk.Number, "joao", "Trocámos a fonte de alimentação.", "", fakeEmail("update")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.AddCustomerMessage(ctx, "ana", tk.Number, "Voltou a acontecer às três.", fakeEmail("customer_reply")); err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{"alimentacao", "tres acontecer", "reinicia"} {
			if got := found(search(t, st, q, storage.ReachOnly("servidores"))); len(got) != 1 || got[0] != tk.Number {
				t.Errorf("%q found %v, want %s", q, got, tk.Number)
			}
		}
		// Notes are messages of the thread that only staff see: the document holds them too.
		if _, _, err := st.AddNote(ctx, storage.ReachAll(), tk.Number, "joao", "Nota: o cliente tem o disco quase cheio."); err != nil {
			t.Fatal(err)
		}
		if got := found(search(t, st, "disco cheio", storage.ReachOnly("servidores"))); len(got) != 1 || got[0] != tk.Number {
			t.Errorf("a note's words found %v, want %s", got, tk.Number)
		}
		if got := found(search(t, st, "disco cheio", storage.ReachOnly("email"))); len(got) != 0 {
			t.Errorf("a note out of reach found %v", got)
		}
	})
}

func TestSearchTakesHostileQueriesAsPlainWords(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		putCustomer(t, st, "ana")
		tk := searchTicket(t, st, "ana", "email-delivery", `O erro diz "NEAR limite" e depois 550 * rejeitado (it's ok) AND OR NOT.`)
		for _, q := range []string{`"`, `""`, `"NEAR limite"`, `NEAR(erro limite, 2)`, `*`, `erro*`, `'`, `it's`, `\`, `a\b`, `erro & !limite`,
			`erro | limite`, `(`, `)`, `-erro`, `NOT erro`, `erro OR x`, `subject:erro`, `{body}: erro`, `^erro`, `:*`, `!!`, `<script>`,
			"\x00erro", "\x01\x02", strings.Repeat("a", storage.MaxSearchRunes), strings.Repeat("erro ", 40), "😀 erro", "erro\u00a0limite"} {
			if _, err := st.Search(context.Background(), storage.SearchQuery{Text: q, Reach: storage.ReachAll()}); err != nil {
				t.Errorf("%q: %v", q, err)
			}
		}
		for _, q := range []string{`"NEAR limite"`, `NEAR limite`, `550 rejeitado`, `"erro"`, `erro*`, `(it's`, `AND OR NOT`} {
			if got := found(search(t, st, q, storage.ReachAll())); len(got) != 1 || got[0] != tk.Number {
				t.Errorf("%q found %v, want %s", q, got, tk.Number)
			}
		}
		for _, q := range []string{"", "   ", `*`, `"`, `!!`} {
			if p := search(t, st, q, storage.ReachAll()); len(p.Hits) != 0 {
				t.Errorf("%q found %v", q, found(p))
			}
		}
	})
}

func TestAnErasureLeavesNoSearchableTraceOfTheCustomersWords(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		putCustomer(t, st, "ana")
		putCustomer(t, st, "rui")
		tk := searchTicket(t, st, "ana", "email-delivery", "A minha encomenda quadrilateralbazofiado nunca chegou.")
		if _, _, err := st.AddCustomerMessage(ctx, "ana", tk.Number, "Continuo sem a hipopotamoverdejante.", fakeEmail("customer_reply")); err != nil {
			t.Fatal(err)
		}
		searchTicket(t, st, "rui", "email-delivery", "A palavra girafamalhadissima fica.")
		e, err := st.EraseCustomer(ctx, "ana")
		if err != nil {
			t.Fatal(err)
		}
		for done := false; !done; {
			if done, err = st.EraseBatch(ctx, e.ID, 10); err != nil {
				t.Fatal(err)
			}
		}
		dump := strings.ToLower(storagetest.Dump(t, st))
		// A word's tail too: an index may keep a word as the part that differs from the one
		// before it.
		for _, trace := range []string{"quadrilateralbazofiado", "bazofiado", "hipopotamoverdejante", "verdejante"} {
			if strings.Contains(dump, trace) {
				t.Errorf("the database still holds %q", trace)
			}
		}
		if !strings.Contains(dump, "girafamalhadissima") {
			t.Error("the other customer's words are gone")
		}
		for _, q := range []string{"quadrilateralbazofiado", "hipopotamo"} {
			if got := found(search(t, st, q, storage.ReachAll())); len(got) != 0 {
				t.Errorf("%q still finds %v", q, got)
			}
		}
	})
}

func TestSearchRanksTheNewestMatchesWhereverTheyAre(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		// A window of 3 matches, a glance at the newest 2 documents within reach, then the
		// index among the newest documents the glance calls for, or among all of them.
		storage.SetSearchLimits(t, storage.SearchLimits{Window: 3, Glance: 2, Walk: 4, Span: 100})
		putCustomer(t, st, "ana")
		var matches []string
		file := func(subject, message string, match bool) {
			tk := searchTicket(t, st, "ana", subject, message)
			if match {
				matches = append(matches, tk.Number)
			}
		}
		// Oldest first: matches spread among others, and in another department.
		file("email-delivery", "Um pinguim no servidor.", true)
		file("email-delivery", "Um pinguim no servidor outra vez.", true)
		file("billing-invoice", "Um pinguim na fatura.", false)
		for range 5 {
			file("email-delivery", "Nada de especial.", false)
		}
		file("email-delivery", "Pinguim de novo.", true)
		file("email-delivery", "Nada.", false)
		file("email-delivery", "Sem nada.", false)
		file("email-delivery", "Outra vez nada.", false)
		got := found(search(t, st, "pinguim", storage.ReachOnly("email")))
		if len(got) != 3 || !sameSet(got, matches) {
			t.Errorf("found %v, want the three matches %v", got, matches)
		}
		// Within reach of all, the billing ticket is among the newest three matches.
		got = found(search(t, st, "pinguim", storage.ReachAll()))
		if len(got) != 3 || containsString(got, matches[0]) {
			t.Errorf("found %v, want the newest three of four matches, not %s", got, matches[0])
		}
		// The email department's documents, oldest first: a match twice, five others, a match,
		// three others. One match in a glance of the newest four: the index is asked among the
		// newest documents the glance calls for (3 × 4 × 3/2 matches' worth, within Span), or
		// among all of them.
		storage.SetSearchLimits(t, storage.SearchLimits{Window: 3, Glance: 4, Walk: 1, Span: 100})
		if got := found(search(t, st, "pinguim", storage.ReachOnly("email"))); len(got) != 3 || !sameSet(got, matches) {
			t.Errorf("found %v, want the three matches %v", got, matches)
		}
		// Two wanted, and a span too small for the guess: among all of them.
		storage.SetSearchLimits(t, storage.SearchLimits{Window: 2, Glance: 4, Walk: 1, Span: 10})
		if got := found(search(t, st, "pinguim", storage.ReachOnly("email"))); len(got) != 2 || containsString(got, matches[0]) {
			t.Errorf("found %v, want the newest two matches, not %s", got, matches[0])
		}
		// The same read by key among the newest twelve (within Walk), which hold both.
		storage.SetSearchLimits(t, storage.SearchLimits{Window: 2, Glance: 4, Walk: 20, Span: 100})
		if got := found(search(t, st, "pinguim", storage.ReachOnly("email"))); len(got) != 2 || containsString(got, matches[0]) {
			t.Errorf("found %v, want the newest two matches, not %s", got, matches[0])
		}
		// Within two departments: the newest two are the billing ticket and the last.
		storage.SetSearchLimits(t, storage.SearchLimits{Window: 2, Glance: 5, Walk: 1, Span: 7})
		if got := found(search(t, st, "pinguim", storage.ReachOnly("email", "faturacao"))); len(got) != 2 || containsString(got, matches[0]) || containsString(got, matches[1]) {
			t.Errorf("found %v, want the newest two matches", got)
		}
		// Buckets of two and four ticket ids, newest first: the window fills from the buckets of
		// the newest matches, stops there, and takes the newest of its last bucket.
		// A glance of one document finds no match (coarse buckets); one of four finds one, which
		// calls for fine buckets when a coarse one is of eight ids.
		for _, shifts := range [][2]int{{1, 2}, {1, 3}, {2, 3}} {
			for _, glance := range []int{1, 4} {
				for _, window := range []int{2, 3} {
					storage.SetSearchLimits(t, storage.SearchLimits{Window: window, Glance: glance, Walk: 1, Span: 100, FineBucket: shifts[0], CoarseBucket: shifts[1]})
					got := found(search(t, st, "pinguim", storage.ReachOnly("email")))
					if want := matches[len(matches)-window:]; !sameSet(got, want) {
						t.Errorf("buckets %v, glance %d, window %d: found %v, want the newest matches %v", shifts, glance, window, got, want)
					}
				}
			}
		}
	})
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !containsString(b, x) {
			return false
		}
	}
	return true
}
