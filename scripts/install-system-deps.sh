#!/usr/bin/env bash
# Installs, from Debian's packages, the tools the project uses when they are missing.
#   --simulate  what the simulated cluster needs: openssl (the cluster CA), qemu-utils (volumes are
#               real qcow2 files even when the nodes are simulated)
#   --cluster   what the real cluster needs too: iproute2 (namespaces), QEMU + qemu-utils (VMs and
#               their disks), genisoimage + cpio (config drives, the initramfs), gcc + libc6-dev (the image's
#               static ciao-restore), dnsmasq-base (the
#               binary only: no host service) and dnsmasq-utils (dhcp_release: a deleted CNCI's
#               address goes back to the pool), iptables (NAT inside CNCI namespaces), busybox-static
#               (udhcpc for the CNCIs' legs), iputils-ping + openssh-client (verify's probes),
#               docker.io (dockerd is started off the host network when none answers), util-linux
#               (nsenter), e2fsprogs (the VM's root disk image), slirp4netns (--egress: the
#               user-mode network stack, docs/egress.md); the image builder downloads more packages with `apt-get download`, so
#               apt's package lists must be there
#   --nested    what ./singlevm/ccloudvm needs on the host: debootstrap (the nested VM's image),
#               QEMU, qemu-utils, e2fsprogs, genisoimage, openssh-client
#   --conformance  what bat/tempest.sh needs: Debian's tempest (33.0.0 on bookworm), subunit
#               (subunit2junitxml) and python3-junitxml (which subunit2junitxml needs to write JUnit)
#   --native-build  what `npm ci` needs to compile better-sqlite3 (g++, make, python3): on a machine
#               of this kind they are there; ensure-deps.sh asks for them only when they are not
#   (default)   what the tests use too: python3-openstackclient, tcpdump (no cluster packet on the
#               host's links: test/root/singlevm-e2e.test.ts), the nested VM's tools, and
#               Tempest (the smoke subset in test/root/conformance-smoke.test.ts)
# Several profiles may be given (their packages add up). --print lists the packages (installed or
# not) and installs nothing. An install prints one line per phase (apt's lists, the packages
# downloaded, then installed); apt's own output goes to the log whose path it prints.
set -euo pipefail
ROOT="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
profiles=() print=0
for arg in "$@"; do
  case "$arg" in
    --print) print=1 ;;
    --simulate|--cluster|--nested|--conformance|--test|--native-build) profiles+=("$arg") ;;
    *) echo "install-system-deps.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done
[ ${#profiles[@]} -gt 0 ] || profiles=(--test)
need=()
all=()
want() { all+=("$2"); command -v "$1" >/dev/null || need+=("$2"); }
# A Python module of Debian's python3 (not whichever python3 is first on PATH).
want_module() { all+=("$2"); /usr/bin/python3 -c "import $1" 2>/dev/null || need+=("$2"); }
# The packages of one profile: what `need` lacks of them goes into `need`, all of them into `all`.
add_profile() {
  local profile=$1
  if [ "$profile" = --native-build ]; then
    want g++ g++
    want make make
    want python3 python3
    return 0
  fi
  if [ "$profile" = --conformance ] || [ "$profile" = --test ]; then
    want tempest tempest
    want subunit2junitxml subunit
    want_module junitxml python3-junitxml
  fi
  if [ "$profile" != --conformance ]; then
    want openssl openssl
    want qemu-img qemu-utils
  fi
  if [ "$profile" = --nested ] || [ "$profile" = --test ]; then
    want debootstrap debootstrap
    want qemu-system-x86_64 qemu-system-x86
    want mke2fs e2fsprogs
    want genisoimage genisoimage
    want ssh openssh-client
    want ssh-keygen openssh-client
  fi
  if [ "$profile" != --simulate ] && [ "$profile" != --nested ] && [ "$profile" != --conformance ]; then
    want ip iproute2
    want bridge iproute2
    want qemu-system-x86_64 qemu-system-x86
    want mke2fs e2fsprogs
    want genisoimage genisoimage
    want cpio cpio
    # The VM image's ciao-restore (images/guest-restore.c) is compiled static: gcc and libc.a.
    want gcc gcc
    all+=(libc6-dev); [ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)
    want ssh openssh-client
    want ssh-keygen openssh-client
    want dockerd docker.io
    want nsenter util-linux
    want dnsmasq dnsmasq-base
    # dhcp_release: a deleted CNCI's address goes back to the cluster's dnsmasq (cnci/cnci-backend.ts).
    want dhcp_release dnsmasq-utils
    want iptables iptables
    want busybox busybox-static
    want ping iputils-ping
    want tar tar
    want slirp4netns slirp4netns
  fi
  if [ "$profile" = --test ]; then
    want openstack python3-openstackclient
    want tcpdump tcpdump
  fi
}
for profile in "${profiles[@]}"; do add_profile "$profile"; done
if [ "$print" = 1 ]; then
  printf '%s\n' "${all[@]}" | sort -u
  exit 0
fi
# apt's package lists are there (the image builder downloads packages by name): their files, not
# apt-cache, which takes a second to answer — setup on a healthy cluster must end in less.
lists_needed() {
  local p
  for p in "${profiles[@]}"; do case "$p" in --simulate|--conformance|--native-build) ;; *) return 0 ;; esac; done
  return 1
}
lists_ok() { ! lists_needed || compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; }
[ ${#need[@]} -eq 0 ] && lists_ok && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing ${need[*]:-apt package lists}: install with apt-get (needs root)" >&2
  exit 1
fi
mapfile -t need < <(printf '%s\n' "${need[@]}" | awk 'NF && !seen[$0]++')
# shellcheck source=lib/phases.sh
. "$ROOT/scripts/lib/phases.sh"
export DEBIAN_FRONTEND=noninteractive
# No translated descriptions: nothing here reads them, and they are a download of their own.
phase lists "apt package lists" apt-get update -o Acquire::Languages=none
[ ${#need[@]} -gt 0 ] || exit 0
# The VM image's packages come down and are unpacked while apt installs (setup then finds them in
# its cache), when the cluster is what this installs for and the JavaScript packages are there
# (ensure-deps.sh's stamps: it removes them before it installs them again).
prefetch_pid=
if printf '%s\n' "${profiles[@]}" | grep -qxE -- '--cluster|--test'  \
  && { [ -f "$ROOT/node_modules/.ciao-js-stamp" ] || [ -f "$ROOT/node_modules/.ciao-deps-stamp" ]; }; then
  (cd "$ROOT" && phase images "VM image's packages (ahead of setup)" node --import tsx images/prefetch-packages.ts) &
  prefetch_pid=$!
fi
# Downloaded first, then installed: two lines, so the log and the progress tell the network's
# share from dpkg's.
apt_install=(apt-get install -y --no-install-recommends -o Dpkg::Use-Pty=0)
# e.g. "214 packages (27 asked for), 187 MB"
note_debs() {
  local out; out=$(phase_output debs)
  printf '%s packages (%s asked for), %s' "$(sed -n 's/.* \([0-9][0-9]*\) newly installed.*/\1/p' <<<"$out" | head -n 1)" "${#need[@]}" \
    "$(sed -n 's/^Need to get \([0-9.,]* [kMG]*B\).*/\1/p' <<<"$out" | head -n 1)"
}
phase debs "Debian packages downloaded" "${apt_install[@]}" --download-only "${need[@]}"
phase dpkg "Debian packages installed" "${apt_install[@]}" "${need[@]}"
# Setup downloads them itself if this failed: its line said so, and it fails nothing.
[ -z "$prefetch_pid" ] || wait "$prefetch_pid" || true
