#!/usr/bin/env bash
# Join this machine to a ciao cluster as one more node, from a bundle `setup.sh --export-join` wrote
# on the cluster's machine (docs/singlevm-network.md, "A second machine joins"); --leave undoes it.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
for arg in "$@"; do case "$arg" in --leave|--help|-h) "$ROOT/scripts/ensure-deps.sh" --prod; exec node --import tsx "$ROOT/singlevm/join.ts" "$@";; esac; done
"$ROOT/scripts/ensure-deps.sh" --prod --system --cluster
exec node --import tsx "$ROOT/singlevm/join.ts" "$@"
