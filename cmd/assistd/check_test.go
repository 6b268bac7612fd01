package main

import (
	"context"
	"strings"
	"testing"

	"github.com/assistd/assistd/storage"
	"github.com/assistd/assistd/storage/storagetest"
)

// Rows stored before the address rule are reported by a command, all at once, rather than
// found by staff one failed email at a time.
func TestCheckAddressesListsTheStoredAddressesNoRelayTakes(t *testing.T) {
	storagetest.Each(t, func(t *testing.T, st *storage.Store) {
		ctx := context.Background()
		if err := st.EnsureCatalog(ctx); err != nil {
			t.Fatal(err)
		}
		for id, email := range map[string]string{"ana": "ana@example.pt", "carol": "user@exämple.pt", "dave": "dave@[127.0.0.1]", "eve": "eve@localhost"} {
			if _, err := st.PutCustomer(ctx, storage.Customer{ID: id, Name: id, Email: email, Language: "pt-PT"}); err != nil {
				t.Fatal(err)
			}
		}
		var out strings.Builder
		n, err := checkAddresses(ctx, st, &out)
		if err != nil || n != 2 {
			t.Fatalf("%d unusable, %v; want 2\n%s", n, err, out.String())
		}
		for _, want := range []string{`customer dave: unusable address "dave@[127.0.0.1]"`, `customer eve: unusable address "eve@localhost"`,
			`customer carol: "user@exämple.pt" is sent as "user@xn--exmple-cua.pt"`, "unusable\n"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("the report lacks %q:\n%s", want, out.String())
			}
		}
		if strings.Contains(out.String(), "customer ana") {
			t.Errorf("the report names a usable address:\n%s", out.String())
		}
	})
}
