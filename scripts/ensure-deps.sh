#!/usr/bin/env bash
# Installs the project's npm dependencies when they are missing or older than package-lock.json,
# so the README's commands work on a fresh clone. The stamp names the Node binary the native module
# (better-sqlite3) was last loaded by: while it is that one, the check costs a few milliseconds (no
# Node started); another Node (an upgrade) is checked by loading the module, and rebuilt if need be.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$ROOT"
stamp=node_modules/.ciao-deps-stamp
node_bin="$(command -v node)" || { echo "node is not on PATH: Node.js 20 or newer is needed" >&2; exit 1; }
node_bin="$(readlink -f "$node_bin")"
want="node $node_bin $(stat -c %Y "$node_bin")"
have=
[ -f "$stamp" ] && read -r have <"$stamp" || true
if [ "$have" = "$want" ] && ! [ package-lock.json -nt "$stamp" ]; then
  exit 0
fi
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || ! node -e "new (require('better-sqlite3'))(':memory:')" 2>/dev/null; then
  echo "installing npm dependencies (better-sqlite3 compiles from source: about 2 minutes the first time)…" >&2
  npm ci --no-audit --no-fund >&2
  # tap builds its runner with its default plugins at install; ours drops the ts-node one (tsx loads TypeScript).
  npx tap build >&2
fi
echo "$want" >"$stamp"
