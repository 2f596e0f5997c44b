#!/usr/bin/env bash
# Stop a ciao cluster and keep its state; setup.sh brings it back (docs/lifecycle.md).
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
"$ROOT/scripts/ensure-deps.sh" --js --prod
exec node "$ROOT/singlevm/run-bundled.mjs" stop "$@"
