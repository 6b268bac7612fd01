package storage_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/assistd/assistd/storage"
)

func TestRefusedIsTheDatabaseRefusingDataNotBeingAway(t *testing.T) {
	for code, want := range map[string]bool{
		"22021": true,  // invalid byte sequence for encoding
		"22001": true,  // value too long
		"54000": true,  // index row size exceeds the maximum
		"P0001": true,  // raised by a trigger
		"08006": false, // connection failure
		"57P01": false, // server shutting down
		"23505": false, // unique violation: a conflict, not the data
		"40001": false, // serialization failure: worth retrying as it is
	} {
		err := fmt.Errorf("storage: insert inbound: %w", &pgconn.PgError{Code: code})
		if got := storage.Refused(err); got != want {
			t.Errorf("%s: Refused = %v, want %v", code, got, want)
		}
	}
	if storage.Refused(nil) || storage.Refused(errors.New("some error")) || storage.Refused(storage.ErrUnavailable) {
		t.Error("an error that is not the database's answer counts as a refusal")
	}
}
