package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/assistd/assistd/storage"
)

const customerUsage = "usage: assistd customer export CID > FILE.json | assistd customer erase CID"

// customerCommand answers a customer's data-rights request from the command line: the export
// written to standard output, or the erasure recorded and carried out to its end in this process.
func customerCommand(ctx context.Context, cfg config, log *slog.Logger, args []string) error {
	if len(args) != 2 || (args[0] != "export" && args[0] != "erase") {
		return errors.New(customerUsage)
	}
	sys, err := openSystem(ctx, cfg, log, false, "")
	if err != nil {
		return err
	}
	defer sys.Close()
	cid := args[1]
	if args[0] == "export" {
		out := bufio.NewWriterSize(os.Stdout, 64<<10)
		if err := sys.NewAPI().Export(ctx, out, cid); err != nil {
			return notFoundCustomer(cid, err)
		}
		return out.Flush()
	}
	e, err := sys.Store.EraseCustomer(ctx, cid)
	if err != nil {
		return notFoundCustomer(cid, err)
	}
	if err := sys.Deps.RunErasure(ctx, e.ID); err != nil {
		return fmt.Errorf("customer erase: recorded, not yet carried out (the worker's sweep will finish it): %w", err)
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]storage.Erased{"erased": e})
}

func notFoundCustomer(cid string, err error) error {
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("customer %q: no such customer", cid)
	}
	return err
}
