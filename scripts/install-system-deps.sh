#!/usr/bin/env bash
# Installs, from Debian's packages, the tools the project and its tests use when they are missing:
# openssl (the cluster CA), python3-openstackclient (OpenStack client tests), iproute2 (network
# namespaces), and what the VM image needs to be built and booted (QEMU, genisoimage, cpio, ssh).
# The image builder downloads further packages with `apt-get download`, so apt's lists must be there.
set -euo pipefail
need=()
want() { command -v "$1" >/dev/null || need+=("$2"); }
want openssl openssl
want openstack python3-openstackclient
want ip iproute2
want qemu-system-x86_64 qemu-system-x86
want genisoimage genisoimage
want cpio cpio
want ssh openssh-client
want ssh-keygen openssh-client
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
