#!/usr/bin/env bash
# Collect a cluster's logs, guest consoles and network state into one archive for a bug report.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
"$ROOT/scripts/ensure-deps.sh" --js --prod
exec node "$ROOT/singlevm/run-bundled.mjs" logs "$@"
