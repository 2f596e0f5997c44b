#!/usr/bin/env bash
# Build, configure and start a ciao cluster on this machine; writes ~/local/demo.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
"$ROOT/scripts/ensure-deps.sh"
"$ROOT/scripts/install-system-deps.sh" --simulate
exec node --import tsx "$ROOT/singlevm/setup.ts" "$@"
