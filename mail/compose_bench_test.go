package mail

import (
	"fmt"
	"testing"
)

// BenchmarkAutoAnswer is the poller's CPU work per answered mail.
func BenchmarkAutoAnswer(b *testing.B) {
	ids := NewIDSigner([]byte("bench key"), "example.pt")
	c, err := NewComposer(ComposerConfig{From: "Apoio ao Cliente <apoio@example.pt>", PublicURL: "https://clientes.example.pt", IDs: ids})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
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
