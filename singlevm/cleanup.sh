#!/usr/bin/env bash
# Tear down a ciao cluster (idempotent; works after a crash). --dry-run lists what would go.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
"$ROOT/scripts/ensure-deps.sh" --js --prod
exec node "$ROOT/singlevm/run-bundled.mjs" cleanup "$@"
