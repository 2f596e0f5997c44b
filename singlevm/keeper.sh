#!/usr/bin/env bash
# The keeper of a daemon that clients reach (the controller; docs/lifecycle.md, "The controller's
# keeper"): it holds the daemon's listening socket, which setup bound and handed to it as fd 4, and
# runs the daemon with it. When the daemon fails (killed, crashed: any end but exit 0), it starts
# it again at once, on the same socket: meanwhile the kernel queues new connections on that socket
# (its backlog) instead of refusing them, and the new daemon answers them. A daemon that fails
# again within 10 s of its start waits 1, 2, 4 … 30 s before the next. An exit 0 (the daemon
# stopped on SIGTERM) or a SIGTERM to the keeper (passed on to the daemon) ends the keeper too.
# A bash process (3–4 MB) rather than a node one (40 MB): it only waits.
#   keeper.sh NAME PID_FILE -- COMMAND [ARGS…]   (COMMAND's own pid goes in PID_FILE at each start)
set -u
name=$1 pid_file=$2
shift 3

stopping=0 child=''
stop() {
  stopping=1
  [[ -n $child ]] && kill -TERM "$child" 2>/dev/null
}
trap stop TERM INT

quick=0
while :; do
  # A stop that came before the start, or in its middle (before `child` was set), is seen here.
  (( stopping )) && exit 0
  started=$SECONDS
  "$@" &
  child=$!
  (( stopping )) && kill -TERM "$child"
  echo "$child" > "$pid_file.part" && mv -f "$pid_file.part" "$pid_file"
  # The first daemon tells setup it is ready over the channel setup opened (fd 3): a daemon
  # started again has nobody waiting for it.
  if [[ -n ${NODE_CHANNEL_FD:-} ]]; then
    exec 3>&-
    unset NODE_CHANNEL_FD NODE_CHANNEL_SERIALIZATION_MODE
  fi
  # A signal cuts `wait` short: wait again until the daemon has ended.
  while :; do
    wait "$child"
    status=$?
    kill -0 "$child" 2>/dev/null || break
  done
  ended=$child child=''
  if (( stopping || status == 0 )); then exit 0; fi
  # Failures in a row, each within 10 s of its start: the first is started again at once, then 1, 2, 4 … 30 s.
  if (( SECONDS - started < 10 )); then (( quick++ )); else quick=1; fi
  delay=$(( quick < 2 ? 0 : 1 << (quick - 2) ))
  (( delay > 30 )) && delay=30
  why="code $status"
  (( status > 128 )) && why="signal $(kill -l $(( status - 128 )) 2>/dev/null || echo $(( status - 128 )))"
  echo "$(date -u +%FT%TZ) $name-keeper: the $name (pid $ended) ended with $why: started again$( (( delay )) && echo " in $delay s")"
  if (( delay )); then
    # Without the socket: a stop must not leave it held by a sleep.
    sleep "$delay" 4>&- &
    wait $!
    if (( stopping )); then
      kill $! 2>/dev/null
      exit 0
    fi
  fi
done
