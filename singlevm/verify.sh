#!/usr/bin/env bash
# End-to-end check of the cluster in ~/local/demo.sh (sourced here when CIAO_* are not set).
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
if [ -z "${CIAO_CONTROLLER:-}" ] && [ -f "${CIAO_HOME:-$HOME/local}/demo.sh" ]; then
  # shellcheck disable=SC1091
  . "${CIAO_HOME:-$HOME/local}/demo.sh"
fi
exec node "$ROOT/singlevm/run-bundled.mjs" verify "$@"
