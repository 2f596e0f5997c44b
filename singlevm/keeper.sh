#!/bin/sh
# The keeper of a daemon that clients reach (the controller, identity; docs/lifecycle.md, "The
# controller's keeper"): it holds the daemon's listening socket, which setup bound and handed to it
# as fd 4, and runs the daemon with it. When the daemon fails (killed, crashed: any end but exit 0),
# it starts it again at once, on the same socket: meanwhile the kernel queues new connections on
# that socket (its backlog) instead of refusing them, and the new daemon answers them. A daemon that
# fails again within 10 s of its start waits 1, 2, 4 … 30 s before the next. An exit 0 (the daemon
# stopped on SIGTERM) or a SIGTERM to the keeper (passed on to the daemon) ends the keeper too.
# A POSIX shell (dash: 1.7 MB; bash 3.2 MB, a node process 40 MB): it only waits, and the control
# plane's memory has a target (issue 15).
#   keeper.sh NAME PID_FILE -- COMMAND [ARGS…]   (COMMAND's own pid goes in PID_FILE at each start)
set -u
name=$1 pid_file=$2
shift 3

stopping=0 child=''
stop() {
  stopping=1
  [ -n "$child" ] && kill -TERM "$child" 2>/dev/null
}
trap stop TERM INT

# Seconds since boot, whole: no process to start for it.
uptime_s() {
  read -r up _ < /proc/uptime
  echo "${up%.*}"
}

quick=0
while :; do
  # A stop that came before the start, or in its middle (before `child` was set), is seen here.
  [ "$stopping" = 1 ] && exit 0
  started=$(uptime_s)
  "$@" &
  child=$!
  [ "$stopping" = 1 ] && kill -TERM "$child"
  echo "$child" > "$pid_file.part" && mv -f "$pid_file.part" "$pid_file"
  # The first daemon tells setup it is ready over the channel setup opened (fd 3): a daemon
  # started again has nobody waiting for it.
  if [ -n "${NODE_CHANNEL_FD:-}" ]; then
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
  if [ "$stopping" = 1 ] || [ "$status" = 0 ]; then exit 0; fi
  # Failures in a row, each within 10 s of its start: the first is started again at once, then 1, 2, 4 … 30 s.
  if [ $(( $(uptime_s) - started )) -lt 10 ]; then quick=$(( quick + 1 )); else quick=1; fi
  delay=0
  [ "$quick" -ge 2 ] && delay=$(( 1 << (quick > 7 ? 5 : quick - 2) ))
  [ "$delay" -gt 30 ] && delay=30
  why="code $status"
  [ "$status" -gt 128 ] && why="signal $(kill -l "$status" 2>/dev/null || echo $(( status - 128 )))"
  later=''
  [ "$delay" -gt 0 ] && later=" in $delay s"
  echo "$(date -u +%FT%TZ) $name-keeper: the $name (pid $ended) ended with $why: started again$later"
  if [ "$delay" -gt 0 ]; then
    # Without the socket: a stop must not leave it held by a sleep.
    sleep "$delay" 4>&- &
    wait $!
    if [ "$stopping" = 1 ]; then
      kill $! 2>/dev/null
      exit 0
    fi
  fi
done
