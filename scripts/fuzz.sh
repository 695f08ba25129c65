#!/usr/bin/env bash
# Runs every fuzz target in the repository for a short time each
# (FUZZTIME, default 30s). Targets are the `func FuzzXxx(f *testing.F)` in
# _test.go files; their corpora are seeded in code (from the binlog
# fixtures) and anything the fuzzer finds is kept in testdata/fuzz/.
#
#   scripts/fuzz.sh                 # every target, 30s each
#   FUZZTIME=5m scripts/fuzz.sh     # longer
#   scripts/fuzz.sh ./mysql/binlog  # the targets of one package
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
FUZZTIME="${FUZZTIME:-30s}"
dirs=("${@:-.}")

failed=0
while IFS= read -r line; do
	file="${line%%:*}"
	name="$(sed -E 's/^.*func (Fuzz[A-Za-z0-9_]*)\(.*/\1/' <<<"$line")"
	pkg="./$(dirname "$file")"
	echo "== $pkg $name ($FUZZTIME)"
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg"; then
		echo "FAIL: $pkg $name" >&2
		failed=1
	fi
done < <(grep -rEn --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' "${dirs[@]}" | sed 's#^\./##' | sort)

exit "$failed"
