package main

import (
	"context"
	"errors"
)

func benchLag(ctx context.Context, args []string) error {
	return errors.New("not written yet")
}
