#!/usr/bin/env bash
# Builds the web console into web/dist, which `go build -tags webui` embeds.
# npm ci installs exactly what web/package-lock.json pins.
set -euo pipefail
cd "$(dirname "$0")/../web"

if ! command -v npm >/dev/null 2>&1; then
  echo "web-build: npm is required (Node 20.19 or newer)" >&2
  exit 1
fi
# npm ci is skipped when node_modules already matches the lock file, so that
# repeated builds do not download anything.
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.sluice-lock; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json node_modules/.sluice-lock
fi
# A go.mod makes node_modules a module of its own, so that `go vet ./...`
# and `go test ./...` never walk into it (an npm package may ship .go files).
[ -f node_modules/go.mod ] || printf 'module sluice.invalid/node_modules\n' > node_modules/go.mod
npm run --silent build
