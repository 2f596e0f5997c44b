#!/usr/bin/env bash
# OpenStack Tempest against a simulated cluster (docs/conformance.md): installs what it needs, then
# bat/conformance/main.ts brings the cluster up, writes tempest.conf, runs and judges.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
for arg in "$@"; do case "$arg" in -h|--help) "$ROOT/scripts/ensure-deps.sh"; exec node --import tsx "$ROOT/bat/conformance/main.ts" --help ;; esac; done
"$ROOT/scripts/ensure-deps.sh" --system --conformance
exec node --import tsx "$ROOT/bat/conformance/main.ts" "$@"
