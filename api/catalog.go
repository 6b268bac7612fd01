package api

import (
	"context"
	"sync"
	"time"

	"github.com/assistd/assistd/storage"
)

// catalogTTL is how long the subject list is reused: a catalog import shows within it.
const catalogTTL = 30 * time.Second

// catalogCache keeps the subjects in memory: every ticket checks its subject, and the catalog
// changes only on `assistd catalog import`.
type catalogCache struct {
	mu       sync.Mutex
	loadedAt time.Time
	byID     map[string]storage.Subject
}

// subject returns a subject of the catalog, or storage.ErrNotFound.
func (s *Server) subject(ctx context.Context, id string) (storage.Subject, error) {
	if !storable(id) {
		return storage.Subject{}, storage.ErrNotFound
	}
	c := &s.catalog
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.loadedAt) > catalogTTL {
		all, err := s.store.Subjects(ctx)
		if err != nil {
			return storage.Subject{}, err
		}
		c.byID = make(map[string]storage.Subject, len(all))
		for _, sub := range all {
			c.byID[sub.ID] = sub
		}
		c.loadedAt = time.Now()
	}
	sub, ok := c.byID[id]
	if !ok {
		// A subject imported since the last load is found on the next one; until then, ask.
		return s.store.SubjectByID(ctx, id)
	}
	return sub, nil
}
