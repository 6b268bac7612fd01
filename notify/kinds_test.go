package notify

import (
	"slices"
	"testing"

	"github.com/assistd/assistd/storage"
)

// The emails to staff are left out of a customer's export by their kinds: the list storage keeps
// must be exactly the staff kinds named here.
func TestTheStaffEmailKindsAreThoseTheExportLeavesOut(t *testing.T) {
	staff := []string{KindDepartment, KindCustomerReply, KindSLAWarning, KindSLABreach, KindTransfer}
	got := slices.Clone(storage.StaffEmailKinds)
	slices.Sort(got)
	slices.Sort(staff)
	if !slices.Equal(got, staff) {
		t.Fatalf("storage.StaffEmailKinds = %v, want %v", got, staff)
	}
}
