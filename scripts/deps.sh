#!/usr/bin/env bash
# Installs what building, running and testing sluice needs on a fresh Debian
# machine, skipping what is already there. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v mariadb >/dev/null 2>&1 || need+=(mariadb-client)
command -v sysbench >/dev/null 2>&1 || need+=(sysbench)
command -v pt-table-checksum >/dev/null 2>&1 || need+=(percona-toolkit)
if [ "${SLUICE_DEPS_BROWSER:-1}" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  # The console's Chinese pages need a CJK font in headless screenshots.
  dpkg -s fonts-noto-cjk >/dev/null 2>&1 || need+=(fonts-noto-cjk)
fi
command -v make >/dev/null 2>&1 || need+=(make)
command -v git >/dev/null 2>&1 || need+=(git)

if [ ${#need[@]} -gt 0 ]; then
  echo "deps: installing ${need[*]}"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  # The packaged mariadb service is not needed (tests start their own servers);
  # keep it from starting where policy-rc.d allows services.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
  echo "deps: Go 1.26 or newer is required (https://go.dev/dl/); install it to /usr/local/go" >&2
  exit 1
fi
export PATH="$PATH:/usr/local/go/bin"

# staticcheck, built from an exact version in a scratch module: the module
# proxy refuses @latest.
if [ ! -x bin/staticcheck ]; then
  echo "deps: building staticcheck v0.8.2"
  tmp=$(mktemp -d)
  (cd "$tmp" && printf 'module tools\ngo 1.26\n' > go.mod &&
    go mod edit -require=honnef.co/go/tools@v0.8.2 &&
    GOFLAGS=-mod=mod go build -o "$OLDPWD/bin/staticcheck" honnef.co/go/tools/cmd/staticcheck)
  rm -rf "$tmp"
fi
