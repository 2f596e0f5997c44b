# Sourced by the install scripts (ensure-deps.sh, install-system-deps.sh): each install phase prints
# one line when it ends (what, how long) while its whole output goes to one log file, each line
# tagged with its phase; a phase that fails prints its last lines from there. Phases of one run, also
# of scripts that run side by side, share the log: the first to need it makes it and names it.
#   phase TAG "what it does" COMMAND…   TAG: [a-z_]+; a function note_TAG, if defined, adds a note
#                                       (printed in parentheses) once the phase has succeeded.

# The log: ~/.cache/ciao/install-logs/<time>.log, the newest 20 kept.
deps_log() {
  [ -n "${CIAO_DEPS_LOG:-}" ] && return 0
  local dir="${XDG_CACHE_HOME:-$HOME/.cache}/ciao/install-logs"
  mkdir -p "$dir"
  CIAO_DEPS_LOG="$dir/$(date -u +%Y%m%dT%H%M%SZ)-$$.log"
  export CIAO_DEPS_LOG
  : >"$CIAO_DEPS_LOG"
  ls -1t "$dir"/*.log 2>/dev/null | tail -n +21 | xargs -r rm -f --
  echo "installing what is missing (the full output goes to $CIAO_DEPS_LOG)" >&2
}

# Microseconds since the epoch (bash's clock: no process started).
now_us() { local t=${EPOCHREALTIME/[.,]/}; echo "${t}"; }

# Seconds since START_US (microseconds), with one decimal.
since() { local d=$(( ($(now_us) - $1) / 100000 )); echo "$((d / 10)).$((d % 10))"; }

# This phase's lines of the log, untagged.
phase_output() { awk -v p="[$1] " 'index($0, p) == 1 { print substr($0, length(p) + 1) }' "$CIAO_DEPS_LOG"; }

phase() {
  local tag=$1 what=$2 start rc note=
  shift 2
  deps_log
  start=$(now_us)
  echo "[$tag] \$ $* (started $(date -u +%T))" >>"$CIAO_DEPS_LOG"
  if "$@" </dev/null 2>&1 | awk -v p="[$tag] " '{ print p $0; fflush() }' >>"$CIAO_DEPS_LOG"; then
    rc=0
  else
    rc=${PIPESTATUS[0]}
  fi
  echo "[$tag] exit $rc after $(since "$start") s" >>"$CIAO_DEPS_LOG"
  if [ "$rc" -ne 0 ]; then
    printf '  %-44s failed after %5s s (exit %s); its last lines (all of them in %s):\n' "$what" "$(since "$start")" "$rc" "$CIAO_DEPS_LOG" >&2
    phase_output "$tag" | tail -n 25 | sed 's/^/    | /' >&2
    return "$rc"
  fi
  if declare -F "note_$tag" >/dev/null; then note=$("note_$tag" 2>/dev/null || true); fi
  printf '  %-44s %5s s%s\n' "$what" "$(since "$start")" "${note:+  ($note)}" >&2
}
