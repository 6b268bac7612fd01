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
		{"a department address at an IP literal", `departments:
  - {id: email, name: Email, email: "email@[127.0.0.1]"}
subjects:
  - {id: email-account-setup, name: Configuração Conta de Email, department: email}
`, `department "email" needs a notification email`},
		{"a department address with a display name", `departments:
  - {id: email, name: Email, email: "Email <email@suporte.example.pt>"}
subjects:
  - {id: email-account-setup, name: Configuração Conta de Email, department: email}
`, `department "email" needs a notification email`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := storage.ParseCatalog([]byte(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v; want one saying %q", err, tc.want)
			}
		})
	}
}

func TestACatalogKeepsADepartmentsInternationalisedDomainInItsIDNAForm(t *testing.T) {
	c, err := storage.ParseCatalog([]byte(`departments:
  - {id: email, name: Email, email: apoio@suporte.exämple.pt}
subjects:
  - {id: email-account-setup, name: Configuração Conta de Email, department: email}
`))
	if err != nil || c.Departments[0].Email != "apoio@suporte.xn--exmple-cua.pt" {
		t.Fatalf("%+v, %v; want the address in IDNA form", c.Departments, err)
	}
}
