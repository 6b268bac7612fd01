package mail

import (
	"fmt"
	"testing"
)

// BenchmarkAutoAnswer is the poller's CPU work per answered mail.
func BenchmarkAutoAnswer(b *testing.B) {
	c := benchComposer(b)
	i := 0
	for b.Loop() {
		i++
		out, err := c.AutoAnswer(AutoAnswer{Variant: AutoAnswerNoTicket, Language: "pt",
			To: fmt.Sprintf("cliente%05d@clientes.example", i), InReplyTo: fmt.Sprintf("<burst.%d.1@clientes.example>", i),
			OriginalSubject: fmt.Sprintf("Site em baixo %d", i)})
		if err != nil || len(out.Raw) == 0 {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewTicketMails is the worker's CPU work for the two emails of a new ticket.
func BenchmarkNewTicketMails(b *testing.B) {
	c := benchComposer(b)
	i := 0
	for b.Loop() {
		i++
		t := TicketMail{Number: fmt.Sprintf("%08d", 10000000+i), SubjectName: "Site em baixo", DepartmentName: "Alojamento",
			Message: "O site devolve erro 500 desde esta manhã.\nJá reiniciei o serviço.", PasswordProvided: i%2 == 0, Language: "pt-PT",
			CustomerID: "c-1", CustomerName: "Ana Silva", CustomerEmail: "ana@example.pt", Status: "open", Domain: "example.pt"}
		t.MessageID = c.StableID(t.Number, "confirmation")
		if _, err := c.Confirmation(t); err != nil {
			b.Fatal(err)
		}
		t.MessageID = c.StableID(t.Number, "department")
		if _, err := c.DepartmentNotification(t, "alojamento@example.pt"); err != nil {
			b.Fatal(err)
		}
	}
}

func benchComposer(b *testing.B) *Composer {
	ids := NewIDSigner([]byte("bench key"), "example.pt")
	c, err := NewComposer(ComposerConfig{From: "Apoio ao Cliente <apoio@example.pt>", PublicURL: "https://clientes.example.pt", IDs: ids})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	return c
}
