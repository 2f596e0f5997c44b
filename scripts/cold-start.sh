#!/usr/bin/env bash
# Issue 15's cold-start row end to end: the README's first command
#   ./singlevm/cleanup.sh && ./singlevm/setup.sh && ./singlevm/verify.sh
# on a fresh machine of this kind (Debian 12, root, Node 20 with npm, python3, make, g++, nothing else:
# no QEMU, Docker, dnsmasq, no npm packages, empty caches), timed from outside, N times.
#   scripts/cold-start.sh [--runs N] [--first K] [--commit REF] [--out DIR] [--json FILE] [--keep-base] [--no-lock]
#   --runs N      fresh machines, one after another (default 1)
#   --first K     number the runs from K (default 1; A/B series of one run each into one --out)
#   --commit REF  the tree that runs (`git archive REF`, as a fresh clone has it; default HEAD)
#   --out DIR     each run's logs (default bench-results/cold-start)
#   --json FILE   the runs and their phases (default OUT/cold-start.json; `npm run bench:singlevm --
#                 --cold-start FILE` shows it as the table's cold-start row)
#   --keep-base   keep the fresh machine's tarball (WORK/base.tar, ~700 MB) for the next call
#   --no-lock     do not take the heavy-work lock (~/.cache/ciao/heavy.lock) around each timed run
# The fresh machine is a privileged container of a dockerd of this script's own (own socket, data
# root, exec root, cgroup parent; no bridge, no iptables, no ip_forward) with a network namespace of
# its own: slirp4netns gives it a route to the workplace's proxy (apt's and npm's downloads) through
# ordinary sockets of this host, so nothing is added to the host's links, addresses, routes or
# firewall. The cluster's namespaces, its dockerd and its QEMU live inside the container and end with
# it. The host's network state is compared before and after (a difference fails the script).
# Needs root, debootstrap, docker.io, slirp4netns; docs/cold-start.md says what differs from a real
# fresh machine.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
runs=1 first=1 commit=HEAD out="$ROOT/bench-results/cold-start" json= keep_base=0 lock=1
# Heavy timed work takes it one at a time. In the cache, not /tmp: a lock file stays, and it is kept
# with what is meant to stay.
heavy_lock="${XDG_CACHE_HOME:-$HOME/.cache}/ciao/heavy.lock"
mkdir -p "$(dirname "$heavy_lock")"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=${2:?}; shift ;;
    --first) first=${2:?}; shift ;;
    --commit) commit=${2:?}; shift ;;
    --out) out=${2:?}; shift ;;
    --json) json=${2:?}; shift ;;
    --keep-base) keep_base=1 ;;
    --no-lock) lock=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "cold-start.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] && [[ "$first" =~ ^[1-9][0-9]*$ ]] || { echo "cold-start.sh: --runs and --first need a positive number" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "cold-start.sh: needs root (a dockerd and a privileged container)" >&2; exit 1; }
for tool in debootstrap dockerd docker slirp4netns git; do
  command -v "$tool" >/dev/null || { echo "cold-start.sh: $tool is missing" >&2; exit 1; }
done
json=${json:-$out/cold-start.json}
WORK=/var/tmp/ciao-cold-start
SOCK="unix://$WORK/docker.sock"
IMAGE=ciao-cold-start:base
NAME=ciao-cold-start
mkdir -p "$WORK" "$out"
dk() { docker -H "$SOCK" "$@"; }
log() { echo "cold-start: $*" >&2; }

# What must be the same after: the host's own links, addresses, routes, firewall, forwarding.
host_net_state() {
  ip -o link | sed 's/ state [A-Z]* / /'
  ip -o addr; ip route; ip -6 route
  iptables-save | sed '/^#/d; s/\[[0-9]*:[0-9]*\]//'
  ip6tables-save | sed '/^#/d; s/\[[0-9]*:[0-9]*\]//'
  if command -v nft >/dev/null; then nft list ruleset | sed 's/counter packets [0-9]* bytes [0-9]*/counter/'; fi
  sysctl net.ipv4.ip_forward net.ipv6.conf.all.forwarding
}
host_net_state >"$WORK/host-before.txt"

dockerd_pid= slirp_pid= container=
finish() {
  local rc=$?
  [ -z "$container" ] || dk rm -f "$container" >/dev/null 2>&1 || true
  [ -z "$slirp_pid" ] || kill "$slirp_pid" 2>/dev/null || true
  if [ -n "$dockerd_pid" ]; then
    [ "$keep_base" = 1 ] || dk rmi -f "$IMAGE" >/dev/null 2>&1 || true
    kill "$dockerd_pid" 2>/dev/null || true
    while kill -0 "$dockerd_pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -rf "$WORK/data" "$WORK/exec" "$WORK/run" "$WORK/src.tar"
  [ "$keep_base" = 1 ] || rm -rf "$WORK/base.tar" "$WORK/rootfs"
  host_net_state >"$WORK/host-after.txt"
  if ! diff -u "$WORK/host-before.txt" "$WORK/host-after.txt" >&2; then
    log "the host's network state changed (diff above)"
    rc=1
  fi
  exit "$rc"
}
trap finish EXIT

# The fresh machine, once: Debian 12 from the mirror apt uses here, with the compilers, this host's
# Node 20 and npm, its npmrc files and CA certificates (the proxy's), apt's sources; apt's lists and
# caches empty; no service started by a package (no systemd in a container: docs/cold-start.md).
if [ ! -f "$WORK/base.tar" ]; then
  t0=$EPOCHREALTIME
  if [ ! -f "$WORK/rootfs/.debootstrapped" ]; then
    rm -rf "$WORK/rootfs"
    log "debootstrap bookworm (about 1.5 min)"
    debootstrap --include=ca-certificates,python3,make,g++ bookworm "$WORK/rootfs" http://deb.debian.org/debian >"$WORK/debootstrap.log" 2>&1 \
      || { tail -n 20 "$WORK/debootstrap.log" >&2; exit 1; }
    touch "$WORK/rootfs/.debootstrapped"
  fi
  r=$WORK/rootfs
  cp -a /usr/bin/node "$r/usr/bin/node"
  rm -rf "$r/usr/lib/node_modules" "$r/usr/include/node"
  mkdir -p "$r/usr/lib" "$r/usr/include" "$r/usr/etc" "$r/root"
  cp -a /usr/lib/node_modules "$r/usr/lib/"
  cp -a /usr/include/node "$r/usr/include/"
  ln -sfn ../lib/node_modules/npm/bin/npm-cli.js "$r/usr/bin/npm"
  ln -sfn ../lib/node_modules/npm/bin/npx-cli.js "$r/usr/bin/npx"
  for f in /etc/npmrc /usr/etc/npmrc /root/.npmrc; do [ ! -f "$f" ] || cp -a "$f" "$r$f"; done
  cp -a /usr/local/share/ca-certificates/. "$r/usr/local/share/ca-certificates/"
  cp -a /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/ca-certificates.crt"
  rm -f "$r/etc/apt/sources.list"; rm -rf "$r/etc/apt/sources.list.d"
  cp -a /etc/apt/sources.list.d "$r/etc/apt/"
  [ ! -f /etc/apt/sources.list ] || cp -a /etc/apt/sources.list "$r/etc/apt/"
  find "$r/var/lib/apt/lists" -maxdepth 1 -type f ! -name lock -delete
  rm -f "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb
  printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"; chmod +x "$r/usr/sbin/policy-rc.d"
  rm -f "$r/.debootstrapped.tmp"
  tar -C "$r" --exclude=./.debootstrapped -cf "$WORK/base.tar.tmp" . && mv "$WORK/base.tar.tmp" "$WORK/base.tar"
  log "fresh machine's tarball made in $(bc <<<"$EPOCHREALTIME - $t0") s"
fi

# A dockerd of our own: nothing of it on the host's network (no bridge, no NAT, no forwarding), its
# containers under a cgroup of their own (their CPU time is read from there).
mkdir -p "$WORK/data" "$WORK/exec"
dockerd --data-root "$WORK/data" --exec-root "$WORK/exec" --host "$SOCK" --pidfile "$WORK/dockerd.pid" \
  --bridge=none --iptables=false --ip6tables=false --ip-masq=false --ip-forward=false \
  --cgroup-parent=/ciao-cold-start >"$WORK/dockerd.log" 2>&1 &
dockerd_pid=$!
for _ in $(seq 300); do dk version >/dev/null 2>&1 && break; sleep 0.1; done
dk version >/dev/null || { tail -n 20 "$WORK/dockerd.log" >&2; exit 1; }
dk image inspect "$IMAGE" >/dev/null 2>&1 || dk import "$WORK/base.tar" "$IMAGE" >/dev/null
git -C "$ROOT" archive --format=tar "$commit" >"$WORK/src.tar"
rev=$(git -C "$ROOT" rev-parse --short "$commit")

# What a root shell on a machine may do. Not --privileged: this host's own capabilities lack
# CAP_SYS_RESOURCE, which --privileged asks for (runc fails), so: every other capability, no seccomp
# or AppArmor profile, every device (/dev/net/tun for QEMU's taps, /dev/kvm where there is one), /proc
# unmasked; /sys and the container's cgroups (its own cgroup namespace, mounted again) made writable
# by its init,
# for `ip netns exec` and the cluster's dockerd. Its own network namespace (only lo until slirp4netns).
MACHINE_OPTS=(--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined --security-opt apparmor=unconfined
  --security-opt systempaths=unconfined --device-cgroup-rule 'a *:* rwm' --device /dev/net/tun
  --cgroupns private --network none --init --shm-size 4g --tmpfs /run)
[ ! -e /dev/kvm ] || MACHINE_OPTS+=(--device /dev/kvm)
MACHINE_INIT='set -e; mount -o remount,rw /sys
  for d in /sys/fs/cgroup/*; do s=${d##*/}; o=$s; [ "$s" != systemd ] || o=none,name=systemd
    umount "$d"; mount -t cgroup -o "$o" cgroup "$d"; done
  exec sleep infinity'

# Prints each line of stdin with the seconds since $1 (bash's clock) in front.
stamp() {
  local t0=${1/[.,]/} line now
  while IFS= read -r line; do
    now=${EPOCHREALTIME/[.,]/}
    printf '%d.%03d %s\n' $(((now - t0) / 1000000)) $((((now - t0) / 1000) % 1000)) "$line"
  done
}
cpu_ns() { cat "/sys/fs/cgroup/cpuacct/ciao-cold-start/$1/cpuacct.usage" 2>/dev/null || echo 0; }
# The README's first command, with a mark as each script ends.
README_CMD='exec 2>&1; m() { echo "@@cold-start $1 done"; }; ./singlevm/cleanup.sh && m cleanup.sh && ./singlevm/setup.sh && m setup.sh && ./singlevm/verify.sh && m verify.sh'

run_one() {
  local i=$1 dir="$out/run-$i" id pid t0 t1 rc load0 load1 cpu0 cpu1
  rm -rf "$dir"; mkdir -p "$dir" "$WORK/run/$i"
  # /var/lib/docker on the host's ext4 as on a real machine (the cluster's dockerd uses overlay2,
  # which cannot stack on the container's own overlay root).
  container=$NAME-$i
  id=$(dk run -d --name "$container" --hostname fresh "${MACHINE_OPTS[@]}" -v "$WORK/run/$i:/var/lib/docker" \
    "$IMAGE" sh -c "$MACHINE_INIT")
  dk exec -i "$container" sh -c 'mkdir /root/ciao && tar -x -C /root/ciao' <"$WORK/src.tar"
  pid=$(dk inspect -f '{{.State.Pid}}' "$container")
  slirp4netns --configure --mtu=65520 --disable-host-loopback "$pid" tap0 >"$dir/slirp4netns.log" 2>&1 &
  slirp_pid=$!
  # Ready once slirp4netns has set the default route through tap0, its last step. (A tap's operstate
  # is "up" on some kernels and "unknown" on others, 6.18 among them: not a signal to wait on.)
  tap_ready() { dk exec "$container" grep -q '^tap0[[:space:]]00000000' /proc/net/route 2>/dev/null; }
  for _ in $(seq 100); do tap_ready && break; sleep 0.1; done
  tap_ready || { echo "cold-start: run $i: slirp4netns's tap0 did not come up in 10 s; its log:" >&2; tail -n 20 "$dir/slirp4netns.log" >&2; exit 1; }
  dk exec "$container" sh -c 'echo "nameserver 10.0.2.3" >/etc/resolv.conf'
  [ "$lock" = 0 ] || { exec 9>"$heavy_lock"; log "run $i: waiting for $heavy_lock"; flock 9; }
  read -r load0 _ </proc/loadavg
  cpu0=$(cpu_ns "$id")
  log "run $i (load $load0): $rev's README command in a fresh container"
  t0=$EPOCHREALTIME
  set +e
  dk exec -w /root/ciao "$container" bash -c "$README_CMD" | stamp "$t0" | tee "$dir/out.log" | sed -u "s/^/  [$i] /" >&2
  rc=${PIPESTATUS[0]}
  set -e
  t1=$EPOCHREALTIME
  cpu1=$(cpu_ns "$id")
  read -r load1 _ </proc/loadavg
  [ "$lock" = 0 ] || exec 9>&-
  dk exec "$container" sh -c 'cat ~/.cache/ciao/install-logs/*.log' >"$dir/install.log" 2>/dev/null || true
  jq -n --argjson run "$i" --arg commit "$rev" --argjson exit_code "$rc" --arg started "$(date -u -d "@${t0%[.,]*}" +%FT%TZ)" \
    --argjson seconds "$(bc <<<"$t1 - $t0")" --argjson cpu_seconds "$(bc <<<"scale=2; ($cpu1 - $cpu0) / 1000000000")" \
    --argjson load_start "$load0" --argjson load_end "$load1" \
    '{run: $run, commit: $commit, exit_code: $exit_code, started: $started, seconds: $seconds, cpu_seconds: $cpu_seconds, load_start: $load_start, load_end: $load_end}' >"$dir/meta.json"
  log "run $i: exit $rc after $(bc <<<"$t1 - $t0") s (load $load0 → $load1)"
  dk rm -f "$container" >/dev/null; container=
  kill "$slirp_pid" 2>/dev/null || true; wait "$slirp_pid" 2>/dev/null || true; slirp_pid=
  rm -rf "$WORK/run/$i"
}

for i in $(seq "$first" $((first + runs - 1))); do run_one "$i"; done
node --import tsx "$ROOT/scripts/cold-start-report.ts" --json "$json" "$out"/run-*/
