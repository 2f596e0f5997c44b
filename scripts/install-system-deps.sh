#!/usr/bin/env bash
# Installs, from Debian's packages, the tools the project uses when they are missing.
#   --simulate  only what the simulated cluster needs: openssl (the cluster CA)
#   (default)   also what the tests use: python3-openstackclient, iproute2 (network namespaces),
#               what the VM image needs to be built and booted (QEMU, genisoimage, cpio, ssh), and the
#               Docker engine (docker.io; tests start dockerd off the host network when none answers),
#               and dnsmasq-base (the binary only: no host service);
#               the image builder downloads more packages with `apt-get download`, so apt's lists must be there.
set -euo pipefail
need=()
want() { command -v "$1" >/dev/null || need+=("$2"); }
want openssl openssl
if [ "${1:-}" = --simulate ]; then
  if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || { echo "missing ${need[*]}: install it with apt-get (needs root)" >&2; exit 1; }
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  fi
  exit 0
fi
want openstack python3-openstackclient
want ip iproute2
want qemu-system-x86_64 qemu-system-x86
want genisoimage genisoimage
want cpio cpio
want ssh openssh-client
want ssh-keygen openssh-client
want dockerd docker.io
want nsenter util-linux
want dnsmasq dnsmasq-base
want iptables iptables
lists_ok() { local p; p=$(apt-cache policy busybox-static 2>/dev/null); [[ $p == *"Candidate: "[0-9]* ]]; }
if [ ${#need[@]} -gt 0 ] || ! lists_ok; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing ${need[*]:-apt package lists}: install with apt-get (needs root)" >&2
    exit 1
  fi
  echo "installing ${need[*]:-nothing, refreshing apt lists} from Debian's packages…" >&2
  apt-get update -qq >&2
  if [ ${#need[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  fi
fi
