#!/usr/bin/env bash
# Tear down a ciao cluster (idempotent; works after a crash). --dry-run lists what would go.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
# On a fresh clone: npm's runtime packages, and better-sqlite3's compile started and left going
# (cleanup loads no native module; setup, next in the README, waits for it where it needs it).
"$ROOT/scripts/ensure-deps.sh" --prod --native-background
exec node "$ROOT/singlevm/run-bundled.mjs" cleanup "$@"
