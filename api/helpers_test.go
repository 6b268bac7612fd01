package api_test

import (
	"testing"

	"github.com/assistd/assistd/storage/storagetest"
)

func systemtestSQLite(t *testing.T) storagetest.Backend { return storagetest.Backends(t)[0] }
