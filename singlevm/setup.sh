#!/usr/bin/env bash
# Build, configure and start a ciao cluster on this machine; writes ~/local/demo.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
profile=--cluster
# --export-join acts on a cluster that runs: it installs nothing (singlevm/join-export.ts).
for arg in "$@"; do case "$arg" in --export-join|--export-join=*) exec node --import tsx "$ROOT/singlevm/join-export.ts" "$@";; esac; done
for arg in "$@"; do [ "$arg" = --simulate ] && profile=--simulate; done
# npm's packages and Debian's at the same time (one progress line per install phase, when any);
# better-sqlite3's compile goes on beside setup's first steps (its "better-sqlite3 compiled" step).
"$ROOT/scripts/ensure-deps.sh" --prod --system "$profile" --native-background
exec node "$ROOT/singlevm/run-bundled.mjs" setup "$@"
