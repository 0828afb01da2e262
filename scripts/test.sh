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
echo "== tests";     npx ava "$@"
