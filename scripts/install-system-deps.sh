#!/usr/bin/env bash
# Installs, from Debian's packages, the tools the project uses when they are missing.
#   --simulate  what the simulated cluster needs: openssl (the cluster CA), qemu-utils (volumes are
#               real qcow2 files even when the nodes are simulated)
#   --cluster   what the real cluster needs too: iproute2 (namespaces), QEMU + qemu-utils (VMs and
#               their disks), genisoimage + cpio (config drives, the initramfs), gcc + libc6-dev (the image's
#               static ciao-restore), dnsmasq-base (the
#               binary only: no host service), iptables (NAT inside CNCI namespaces), busybox-static
#               (udhcpc for the CNCIs' legs), iputils-ping + openssh-client (verify's probes),
#               docker.io (dockerd is started off the host network when none answers), util-linux
#               (nsenter), e2fsprogs (the VM's root disk image), slirp4netns (--egress: the
#               user-mode network stack, docs/egress.md); the image builder downloads more packages with `apt-get download`, so
#               apt's package lists must be there
#   --nested    what ./singlevm/ccloudvm needs on the host: debootstrap (the nested VM's image),
#               QEMU, qemu-utils, e2fsprogs, genisoimage, openssh-client
#   --conformance  what bat/tempest.sh needs: Debian's tempest (33.0.0 on bookworm), subunit
#               (subunit2junitxml) and python3-junitxml (which subunit2junitxml needs to write JUnit)
#   (default)   what the tests use too: python3-openstackclient, tcpdump (no cluster packet on the
#               host's links: test/root/singlevm-e2e.test.ts), the nested VM's tools, and
#               Tempest (the smoke subset in test/root/conformance-smoke.test.ts)
# A second argument --print lists the profile's packages (installed or not) and installs nothing.
set -euo pipefail
profile=${1:---test}
need=()
all=()
want() { all+=("$2"); command -v "$1" >/dev/null || need+=("$2"); }
# A Python module of Debian's python3 (not whichever python3 is first on PATH).
want_module() { all+=("$2"); /usr/bin/python3 -c "import $1" 2>/dev/null || need+=("$2"); }
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
if [ "${2:-}" = --print ]; then
  printf '%s\n' "${all[@]}" | sort -u
  exit 0
fi
# apt's package lists are there (the image builder downloads packages by name): their files, not
# apt-cache, which takes a second to answer — setup on a healthy cluster must end in less.
lists_ok() { [ "$profile" = --simulate ] || [ "$profile" = --conformance ] && return 0; compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; }
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
