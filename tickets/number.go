package tickets

import (
	"crypto/rand"
	"math/big"
)

var numberSpace = big.NewInt(90_000_000)

// NewNumber draws a ticket number: 8 random digits, never starting with 0, so that numbers
// reveal neither volume nor order and cannot be guessed from one another. Uniqueness is the
// database's job; callers draw again on a collision.
func NewNumber() string {
	n, err := rand.Int(rand.Reader, numberSpace)
	if err != nil {
		panic("tickets: no randomness: " + err.Error()) // crypto/rand never fails on supported systems
	}
	return n.Add(n, big.NewInt(10_000_000)).String()
}
