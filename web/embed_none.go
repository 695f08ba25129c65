//go:build !webui

package web

import (
	"embed"
	"io/fs"
)

// Without -tags webui the binary carries no console: every page says how to
// build it, so that `go build` and `go test` work without node.
const built = false

func consoleFS() fs.FS { return embed.FS{} }
