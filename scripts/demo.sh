#!/usr/bin/env bash
# `npm run demo`: installs the npm dependencies on a fresh clone, then runs scripts/demo.ts.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-fund --no-audit >&2
exec node --import tsx scripts/demo.ts "$@"
