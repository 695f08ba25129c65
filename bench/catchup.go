package main

import (
	"context"
	"errors"
)

func benchCatchup(ctx context.Context, args []string) error {
	return errors.New("not written yet")
}
