#!/usr/bin/env bash
# The BAT suites against the cluster in the CIAO_* variables (sourced from ~/local/demo.sh when unset).
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
"$ROOT/scripts/ensure-deps.sh"
if [ -z "${CIAO_CONTROLLER:-}" ] && [ -f "${CIAO_HOME:-$HOME/local}/demo.sh" ]; then
  # shellcheck disable=SC1091
  . "${CIAO_HOME:-$HOME/local}/demo.sh"
fi
# The runner from its bundle, as the singlevm scripts: it starts in half the time tsx takes.
exec node "$ROOT/singlevm/run-bundled.mjs" bat "$@"
