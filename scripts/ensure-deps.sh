#!/usr/bin/env bash
# Installs the project's npm dependencies when they are missing or older than package-lock.json,
# so the README's commands work on a fresh clone.
#   ensure-deps.sh [--prod] [--js] [--tap] [--system PROFILE] [--native-background]
#   --prod            the runtime packages are enough (package.json's dependencies, not its
#                     devDependencies: no tap, no TypeScript compiler); a later call without it
#                     installs the rest
#   --js              no native module (cleanup, stop and logs load none): a fresh machine's first
#                     command does not wait for one to compile
#   --tap             also tap's runner built with this project's plugins (what `npm test` uses)
#   --system PROFILE  also the Debian packages of that install-system-deps.sh profile, at the same
#                     time: apt's lists and packages download and install while npm installs and
#                     better-sqlite3 compiles (the build tools join apt's packages when missing)
#   --native-background  better-sqlite3's compile goes on after this returns (once npm's and
#                     Debian's packages are in): setup's steps run beside it, and what loads the
#                     module first waits for it with `ensure-deps.sh --prod` (setup's "better-sqlite3
#                     compiled" step, while node_modules/.ciao-native-pending is there). A compile
#                     holds node_modules/.ciao-native.lock: a second one waits for it, then finds
#                     the module built; an `npm ci` waits for it too. (Not when the compilers come
#                     with Debian's packages.)
# `npm ci --ignore-scripts` installs the packages; of their install scripts only the ones needed run:
# esbuild's (it checks its binary) and better-sqlite3's compile — once per better-sqlite3 version
# and Node ABI: the module is kept in ~/.cache/ciao/native, so a later `npm ci` (a fresh clone, a
# new lock) copies it instead of compiling again. ssh2's and cpu-features' optional bindings (SSH,
# which Docker on its socket does not use) are not compiled.
# The stamp names the Node binary the native module was last loaded by, by its size and time (not
# its path: ccloudvm's VM runs the host's Node, copied with its time to /usr/local/bin, on the
# host's node_modules): while it is that one, the check costs a few milliseconds (no Node started);
# another Node (an upgrade) is checked by loading the module, and rebuilt if need be. Each phase
# prints one line; the output goes to a log.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
cd "$ROOT"
js_only=0 tap=0 system= set=all background=0
while [ $# -gt 0 ]; do
  case "$1" in
    --js) js_only=1 ;;
    --prod) set=prod ;;
    --tap) tap=1 ;;
    --system) system=${2:?--system needs a profile (see install-system-deps.sh)}; shift ;;
    --native-background) background=1 ;;
    *) echo "ensure-deps.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
stamp=node_modules/.ciao-deps-stamp         # JS packages and the native module, for this Node
js_stamp=node_modules/.ciao-js-stamp        # JS packages (npm ci --ignore-scripts): "prod" or "all"
tap_stamp=node_modules/.ciao-tap-stamp      # tap's runner built
native_lock=node_modules/.ciao-native.lock  # held while better-sqlite3 compiles
pending=node_modules/.ciao-native-pending   # a compile went on in the background (--native-background)
node_bin="$(command -v node)" || { echo "node is not on PATH: Node.js 20 or newer is needed" >&2; exit 1; }
node_bin="$(readlink -f "$node_bin")"
want="node $(stat -c '%s %Y' "$node_bin")"
have=
[ -f "$stamp" ] && read -r have <"$stamp" || true
fresh() { [ -f "$1" ] && ! [ package-lock.json -nt "$1" ]; }
[ "$tap" = 1 ] && set=all
need_js=1 need_native=1 need_tap=0
if fresh "$stamp" || fresh "$js_stamp"; then need_js=0; fi
# Installed by an older ensure-deps.sh (no js stamp): all of them.
installed=all
[ -f "$js_stamp" ] && read -r installed <"$js_stamp"
[ "$set" = all ] && [ "$installed" = prod ] && need_js=1
# (npm ci starts from an empty node_modules: the native module goes with it.)
if [ $need_js = 0 ] && [ "$have" = "$want" ] && fresh "$stamp"; then need_native=0; fi
[ "$js_only" = 1 ] && need_native=0
build_tools_missing() { ! command -v g++ >/dev/null || ! command -v make >/dev/null || ! command -v python3 >/dev/null; }
# A compile to leave going needs the compilers: without them (and no Debian packages asked for) it
# is left to the next call that asks for the packages (setup's).
[ "$background" = 1 ] && [ -z "$system" ] && build_tools_missing && need_native=0
[ "$tap" = 1 ] && ! { fresh "$tap_stamp" && ! [ package.json -nt "$tap_stamp" ]; } && need_tap=1
if [ -z "$system" ] && [ $need_js = 0 ] && [ $need_native = 0 ] && [ $need_tap = 0 ]; then
  exit 0
fi
# The packages are there but the stamp names another Node: the module may load all the same.
if [ $need_js = 0 ] && [ $need_native = 1 ] && fresh "$stamp" && node -e "new (require('better-sqlite3'))(':memory:')" 2>/dev/null; then
  echo "$want" >"$stamp"
  need_native=0
fi
# shellcheck source=lib/phases.sh
. "$ROOT/scripts/lib/phases.sh"

# Gone until the packages are in again (install-system-deps.sh reads them too).
[ $need_js = 0 ] || rm -f "$stamp" "$js_stamp" "$tap_stamp"
# Debian's packages, side by side with npm's (their own phase lines); the compilers join them
# when the native module needs building and they are missing.
system_pid= tools_from_system=0
if [ -n "$system" ] || { [ $need_native = 1 ] && build_tools_missing; }; then
  profiles=()
  [ -n "$system" ] && profiles+=("$system")
  if [ $need_native = 1 ] && build_tools_missing; then profiles+=(--native-build); tools_from_system=1; fi
  if [ $need_js = 1 ] || [ $need_native = 1 ] || [ $need_tap = 1 ]; then deps_log; fi
  "$ROOT/scripts/install-system-deps.sh" "${profiles[@]}" &
  system_pid=$!
fi
wait_system() {
  [ -n "$system_pid" ] || return 0
  local rc=0
  wait "$system_pid" || rc=$?
  system_pid=
  return $rc
}

# Where a built better-sqlite3 is kept: by its version and the Node ABI it was built for.
native_cache() {
  node -e '
    const v = require("./node_modules/better-sqlite3/package.json").version;
    const dir = process.env.XDG_CACHE_HOME || require("node:os").homedir() + "/.cache";
    console.log(`${dir}/ciao/native/better-sqlite3-${v}-abi${process.versions.modules}-${process.platform}-${process.arch}`);'
}
# better-sqlite3's own SQLite (its amalgamation, its compile-time options) less the extensions
# nothing here uses: full-text search (FTS3/4/5), R-tree and Geopoly, dbstat, soundex, percentile.
# sqlite3.c at -O3 is the critical path of a fresh machine: 42 CPU-s in full, 30 without them
# (docs/cold-start.md). better-sqlite3 compiles a "custom amalgamation" from a folder (its
# `sqlite3` gyp variable, npm_config_sqlite3): ours holds a sqlite3.c that sets the options and
# includes the original. Prints the folder; fails when the package has no amalgamation to include.
LEAN_OUT='ENABLE_FTS3|ENABLE_FTS3_PARENTHESIS|ENABLE_FTS4|ENABLE_FTS5|ENABLE_RTREE|ENABLE_GEOPOLY|ENABLE_DBSTAT_VTAB|SOUNDEX|ENABLE_PERCENTILE'
lean_sqlite() {
  local deps=node_modules/better-sqlite3/deps dir=node_modules/.ciao-sqlite3
  [ -f "$deps/sqlite3/sqlite3.c" ] && [ -f "$deps/sqlite3/sqlite3.h" ] && [ -f "$deps/defines.gypi" ] || return 1
  rm -rf "$dir" && mkdir -p "$dir" || return 1
  {
    echo "/* better-sqlite3's SQLite less the extensions ciao does not use (scripts/ensure-deps.sh) */"
    grep -o "'[A-Z][A-Z0-9_]*\(=[^']*\)\{0,1\}'" "$deps/defines.gypi" | tr -d "'" \
      | grep -vE "^SQLITE_($LEAN_OUT)(=|\$)" | awk -F= '{ print "#define " $1 " " ($2 == "" ? 1 : $2) }'
    echo "#include \"$PWD/$deps/sqlite3/sqlite3.c\""
  } >"$dir/sqlite3.c" && cp "$deps/sqlite3/sqlite3.h" "$dir/" && echo "$PWD/$dir"
}
# (Phases run in an `if`, where bash's -e is off: each step says `|| return`.)
build_native() {
  local cache built=node_modules/better-sqlite3/build/Release/better_sqlite3.node
  cache=$(native_cache) || return
  if [ -f "$cache/better_sqlite3.node" ]; then
    echo "copying the module built before from $cache"
    mkdir -p "$(dirname "$built")" && cp "$cache/better_sqlite3.node" "$built" || return
  else
    # From source: the prebuilt download (GitHub) is out of reach here; both cores compile.
    local lean
    lean=$(lean_sqlite) || lean=
    env ${lean:+npm_config_sqlite3="$lean"} npm_config_build_from_source=true JOBS=max npm rebuild better-sqlite3 --foreground-scripts || return
    mkdir -p "$cache" && cp "$built" "$cache/better_sqlite3.node.$$" && mv "$cache/better_sqlite3.node.$$" "$cache/better_sqlite3.node" || return
  fi
  node -e "new (require('better-sqlite3'))(':memory:')"
}
npm_install() {
  # npm ci empties node_modules: not under a compile left going.
  if [ -e "$native_lock" ]; then flock "$native_lock" true; fi
  npm ci --ignore-scripts --no-audit --no-fund ${1:+"$1"} || return
  npm rebuild esbuild --foreground-scripts
}
# Under the native lock (fd 8): another ensure-deps.sh may have built the module meanwhile.
native_phase() {
  flock 8
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && fresh "$stamp"; then return 0; fi
  phase native "better-sqlite3 (native module)" build_native || return
  echo "$want" >"$stamp"
  rm -f "$pending"
}
note_native() { phase_output native | grep -q '^copying the module built before' && echo 'kept from an earlier build' || echo compiled; }
note_npm() { phase_output npm | sed -n 's/^added \([0-9]*\) packages.*/\1 packages/p' | head -n 1; }

rc=0
if [ $need_js = 1 ]; then
  if [ "$set" = prod ]; then
    phase npm "npm packages (runtime)" npm_install --omit=dev || { wait_system || true; exit 1; }
  else
    phase npm "npm packages" npm_install || { wait_system || true; exit 1; }
  fi
  echo "$set" >"$js_stamp"
fi
if [ $need_native = 1 ]; then
  # The compilers come with Debian's packages: wait for those first.
  if [ $tools_from_system = 1 ]; then wait_system || rc=$?; fi
  if [ $rc = 0 ] && [ $background = 1 ] && [ $tools_from_system = 0 ]; then
    # Locked here, before this script returns: whoever waits for the module finds the lock taken.
    # Taken already: a compile left going by an earlier call (cleanup.sh's) goes on.
    exec 8>"$native_lock"
    if flock -n 8; then
      touch "$pending"
      native_phase &
    fi
    exec 8>&-
  elif [ $rc = 0 ]; then
    native_phase 8>"$native_lock" || rc=1
  fi
fi
if [ $need_tap = 1 ] && [ $rc = 0 ]; then
  # tap builds its runner with its default plugins; ours drops the ts-node one (tsx loads TypeScript).
  if phase tap "tap's runner built" npx tap build; then touch "$tap_stamp"; else rc=1; fi
fi
wait_system || rc=$?
exit $rc
