#!/usr/bin/env bash
# Installs, from Debian's packages, the tools the project and its tests use when they are missing:
# openssl (the cluster CA) and python3-openstackclient (the OpenStack client compatibility tests).
set -euo pipefail
need=()
command -v openssl >/dev/null || need+=(openssl)
command -v openstack >/dev/null || need+=(python3-openstackclient)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing ${need[*]}: install them with apt-get (needs root)" >&2
    exit 1
  fi
  echo "installing ${need[*]} from Debian's packages…" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi
