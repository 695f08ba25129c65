#!/usr/bin/env bash
# Tests the web console: unit tests (vitest), then the end-to-end test in
# headless Chromium against the real `sluice server` (built with the console
# embedded) and two throwaway MariaDB servers. A missing Chromium or mariadbd
# fails the run; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

missing=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing+=("mariadbd (apt-get install mariadb-server)")
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || missing+=("chromium at ${CHROMIUM:-/usr/bin/chromium} (apt-get install chromium)")
command -v npm >/dev/null 2>&1 || missing+=("npm (Node 20.19 or newer)")
if [ ${#missing[@]} -gt 0 ]; then
  printf 'web-test: missing %s\n' "${missing[@]}" >&2
  echo "web-test: run ./scripts/deps.sh to install them" >&2
  exit 1
fi

# The console is rebuilt when its sources are newer than the build, so that
# the end-to-end test never runs an old console.
if [ ! -f web/dist/index.html ] || [ -n "$(find web/src web/public web/index.html web/package-lock.json web/vite.config.ts -newer web/dist/index.html -print -quit)" ]; then
  ./scripts/web-build.sh
fi

(cd web && npm run --silent test)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -tags webui -o "$tmp/sluice" ./cmd/sluice
go build -o "$tmp/servers" ./web/e2e/servers
node web/e2e/run.mjs --sluice "$tmp/sluice" --servers "$tmp/servers"
