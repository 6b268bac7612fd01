package api

import "testing"

func TestSignInOnlyRedirectsWithinTheSite(t *testing.T) {
	for next, want := range map[string]string{
		"/tickets/12345678":    "/tickets/12345678",
		"/tickets?status=open": "/tickets?status=open",
		"//evil.example":       "/tickets",
		"/\\evil.example":      "/tickets",
		"/\t/evil.example":     "/tickets",
		"/\n/evil.example":     "/tickets",
		"/ /evil.example":      "/tickets",
		"https://evil.example": "/tickets",
		"evil.example":         "/tickets",
		"":                     "/tickets",
	} {
		if got := localPath(next, "/tickets"); got != want {
			t.Errorf("localPath(%q) = %q, want %q", next, got, want)
		}
	}
}
