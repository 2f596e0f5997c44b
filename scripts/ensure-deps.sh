#!/usr/bin/env bash
# Installs the project's npm dependencies when they are missing or older than package-lock.json,
# so the README's commands work on a fresh clone.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$ROOT"
stamp=node_modules/.ciao-deps-stamp
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || ! node -e "new (require('better-sqlite3'))(':memory:')" 2>/dev/null; then
  echo "installing npm dependencies (better-sqlite3 compiles from source: about 2 minutes the first time)…" >&2
  npm ci --no-audit --no-fund >&2
  # tap builds its runner with its default plugins at install; ours drops the ts-node one (tsx loads TypeScript).
  npx tap build >&2
  touch "$stamp"
fi
