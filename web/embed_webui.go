//go:build webui

package web

import (
	"embed"
	"io/fs"
)

// dist is the console's build output (scripts/web-build.sh).
//
//go:embed all:dist
var dist embed.FS

const built = true

func consoleFS() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		// fs.Sub fails only on an invalid name, and "dist" is valid; an
		// empty FS serves the "not built" page.
		return embed.FS{}
	}
	return sub
}
