package assembly

import "runtime/debug"

// GCPercent is the collector's target where GOGC is not set. A process's live heap is small (a
// worker's resident memory peaks at 44 MB with Go's default of 100), and letting the heap grow
// to three times the live data rather than twice halves the collections: with 200, a worker
// peaked at 51–57 MB, and `assistd bench` spent 4 % less CPU in assistd and posted 2,459–2,540
// tickets/s instead of 2,361–2,424 (three alternated pairs). GOGC, and GOMEMLIMIT, still decide
// where they are set.
const GCPercent = 200

// TuneGC applies GCPercent to this process unless the environment sets GOGC.
func TuneGC(lookup func(string) (string, bool)) {
	if _, set := lookup("GOGC"); !set {
		debug.SetGCPercent(GCPercent)
	}
}
