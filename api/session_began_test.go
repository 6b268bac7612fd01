package api

import (
	"testing"
	"time"
)

// A session says when it began; a cookie from before sessions said so is taken to have begun a
// full lifetime before its expiry, so that signing out everywhere catches it too.
func TestASessionBeganWhenItSaysOrALifetimeBeforeItsExpiry(t *testing.T) {
	at := time.Date(2026, 11, 26, 10, 0, 0, 123456000, time.UTC)
	expires := at.Add(customerLifetime).Unix()
	if got := (session{Kind: kindCustomer, Expires: expires, Began: at.UnixMicro()}).began(); !got.Equal(at) {
		t.Errorf("began = %v, want %v", got, at)
	}
	if got, want := (session{Kind: kindCustomer, Expires: expires}).began(), at.Truncate(time.Second); !got.Equal(want) {
		t.Errorf("customer cookie without a start: began = %v, want %v", got, want)
	}
	staffExpires := at.Add(staffLifetime).Unix()
	if got, want := (session{Kind: kindStaff, Expires: staffExpires}).began(), at.Truncate(time.Second); !got.Equal(want) {
		t.Errorf("staff cookie without a start: began = %v, want %v", got, want)
	}
}
