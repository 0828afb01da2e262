#!/usr/bin/env bash
# The whole test suite: system packages, type check, lint, circular imports, build, ava.
# This is the README's test command (`npm test`) and what .ci/run executes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system-packages.sh
[ -d node_modules ] || npm ci --no-fund --no-audit
echo "== typecheck"; npx tsc -p tsconfig.check.json
echo "== lint";      npx eslint . --max-warnings=0
echo "== circular";  npx madge --circular --extensions ts --ts-config tsconfig.json src
echo "== build";     npm run --silent build
echo "== tests"
# A marker for "made during this run": what the tests leave in the temp directory is named after.
marker=$(mktemp "${TMPDIR:-/tmp}/dvdi-test-run-XXXXXX")
status=0
npx ava "$@" || status=$?
# Every test removes what it made; anything newer than the marker was left by this run (or by
# something else running meanwhile, a benchmark say): named, not failed on.
left=$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'dvdi-test-*' -newer "$marker" ! -path "$marker" 2>/dev/null | sort || true)
rm -f "$marker"
if [ -n "$left" ]; then echo "== temp directories left behind by this run:"; echo "$left"; fi
exit "$status"
