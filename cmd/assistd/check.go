package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/assistd/assistd/mail"
	"github.com/assistd/assistd/storage"
)

// checkAddresses lists the stored addresses no relay would take (stored before the address rule,
// or edited by hand in the database), so that they are corrected before mail to them fails,
// rather than found one failed email at a time. Mail to an internationalised domain, stored in
// its Unicode form, is listed with the IDNA form it is sent in but is not a fault.
func checkAddresses(ctx context.Context, st *storage.Store, out io.Writer) (unusable int, err error) {
	checked := 0
	err = st.EachAddress(ctx, func(a storage.StoredAddress) error {
		checked++
		canonical, err := mail.CanonicalAddress(a.Email)
		switch {
		case err != nil:
			unusable++
			_, err = fmt.Fprintf(out, "%s %s: unusable address %q\n", a.Owner, a.ID, a.Email)
		case canonical != a.Email:
			_, err = fmt.Fprintf(out, "%s %s: %q is sent as %q\n", a.Owner, a.ID, a.Email, canonical)
		}
		return err
	})
	if err != nil {
		return unusable, err
	}
	fmt.Fprintf(out, "%d address(es) checked, %d unusable\n", checked, unusable)
	return unusable, nil
}

func checkCommand(ctx context.Context, cfg config, args []string, out io.Writer) error {
	if len(args) != 1 || args[0] != "addresses" {
		return errors.New("usage: assistd check addresses")
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := checkAddresses(ctx, st, out)
	if err == nil && n > 0 {
		err = fmt.Errorf("%d unusable address(es): correct them (PUT /api/v1/customers/{cid}, assistd catalog import)", n)
	}
	return err
}
