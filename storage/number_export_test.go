package storage

// DrawNumbersFrom makes the store draw ticket numbers from f, so that tests can force collisions.
func (s *Store) DrawNumbersFrom(f func() string) { s.newNumber = f }
