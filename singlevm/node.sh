#!/usr/bin/env bash
# Add a node to, or remove one from, a running real cluster (docs/nodes.md).
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
"$ROOT/scripts/ensure-deps.sh" --prod
exec node --import tsx "$ROOT/singlevm/node-cli.ts" "$@"
