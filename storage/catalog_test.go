package storage_test

import (
	"strings"
	"testing"

	"github.com/assistd/assistd/storage"
)

func TestACatalogFileThatCannotBeImportedIsRefusedSayingWhy(t *testing.T) {
	for _, tc := range []struct {
		name, file, want string
	}{
		{"an empty file", "", "the file is empty"},
		{"a file of blank lines and comments", "\n  \n# nothing yet\n", "the file is empty"},
		{"a department listed twice", `departments:
  - {id: email, name: Email, email: email@suporte.example.pt}
  - {id: email, name: Correio, email: correio@suporte.example.pt}
subjects:
  - {id: email-account-setup, name: Configuração Conta de Email, department: email}
`, `department "email" appears twice`},
		{"a subject listed twice", `departments:
  - {id: email, name: Email, email: email@suporte.example.pt}
subjects:
  - {id: email-account-setup, name: Configuração Conta de Email, department: email}
  - {id: email-account-setup, name: Outra, department: email}
`, `subject "email-account-setup" appears twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := storage.ParseCatalog([]byte(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want one saying %q", err, tc.want)
			}
		})
	}
}
