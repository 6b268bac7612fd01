package main

import (
	"context"
	"errors"
)

func demo(ctx context.Context) error { return errors.New("demo: not yet") }
