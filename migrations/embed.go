// Package migrations holds the SQL schema of assistd, one directory per dialect, embedded in the
// binary so that `assistd migrate` and `assistd serve` need nothing beside it.
package migrations

import "embed"

// Postgres holds the migrations for PostgreSQL, in postgres/.
//
//go:embed postgres/*.sql
var Postgres embed.FS

// SQLite holds the migrations for SQLite, in sqlite/.
//
//go:embed sqlite/*.sql
var SQLite embed.FS
