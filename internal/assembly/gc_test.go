package assembly

import (
	"runtime/debug"
	"testing"
)

func TestTheCollectorTargetIsRaisedUnlessGOGCIsSet(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	TuneGC(func(string) (string, bool) { return "", false })
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Errorf("without GOGC the target is %d, want %d", got, GCPercent)
	}
	TuneGC(func(k string) (string, bool) { return "50", k == "GOGC" })
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set the target became %d; the environment's must stand", got)
	}
}
