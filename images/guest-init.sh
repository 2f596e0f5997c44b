#!/bin/busybox sh
# /init of the ciao VM image: busybox, the virtio modules, a cloud-init "config-2" config drive
# (hostname from meta_data.json, users and SSH keys from user_data), DHCP, then dropbear on port 22.
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
for m in $(cat /lib/modules/load-order); do
  [ -d "/sys/module/$m" ] || insmod "/lib/modules/$m.ko" || echo "ciao-vm: cannot load $m"
done

# What needs no identity is done before a snapshot template parks, so a restored VM does not
# repeat it: the DHCP client's script, the base accounts, the loopback.
cat > /etc/udhcpc.script <<'SCRIPT'
#!/bin/sh
[ "$1" = bound ] || [ "$1" = renew ] || exit 0
# A restored VM has its address already (the identity line's): it is kept, not flushed and set again.
if [ "$(cat /run/ciao-address)" != "$ip" ]; then
  ip addr flush dev "$interface"
  ip addr add "$ip/${mask:-24}" dev "$interface"
fi
[ -n "$router" ] && ip route replace default via "${router%% *}" dev "$interface"
# A resolver comes only from a cluster with egress (docs/egress.md): the tenant gateway's dnsmasq.
[ -n "$dns" ] && for d in $dns; do echo "nameserver $d"; done > /etc/resolv.conf
echo "$ip" > /run/ciao-address
echo "ciao-vm: address $ip/${mask:-24}"
exit 0
SCRIPT
chmod +x /etc/udhcpc.script
echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd
echo 'root:x:0:' > /etc/group
echo /bin/sh > /etc/shells
mkdir -p /etc/dropbear
# The address the identity line set (a restored VM's), kept by DHCP: none yet. "/" may be a root
# volume that kept the last boot's file; one a restored initramfs switched to has its address there.
[ "$2" = restored ] || : > /run/ciao-address
ip link set lo up

# "ciao-vm: WHAT (uptime SECONDS)": the guest's side of a start's timeline (docs/vm-snapshots.md,
# "Where the time goes"), without a process of its own.
stamp() { read -r up _ </proc/uptime; echo "ciao-vm: $1 (uptime $up)"; }
# Polls (every 10 ms, 10 s at most) until the command succeeds.
until_ok() {
  waited=0
  until "$@"; do
    [ $waited -ge 1000 ] && return 1
    sleep 0.01
    waited=$((waited + 1))
  done
}
# Whether the guest has at least $1 virtio disks; whether one is read-only (the config drive). No process.
disks_at_least() { want=$1; set -- /sys/block/vd*; [ -e "$1" ] && [ $# -ge "$want" ]; }
config_drive_there() {
  for b in /sys/block/vd*; do
    [ -e "$b/ro" ] && read -r ro <"$b/ro" && [ "$ro" = 1 ] && return 0
  done
  return 1
}

# A snapshot template (docs/vm-snapshots.md): with "ciao.snapshot" on the kernel command line the
# boot parks here, and the launcher saves the machine. Each VM restored from it has its own config
# drive, disk and tap where the template had stand-ins (its volumes are hot-plugged), then one line
# on ttyS1: "ciao-identity SECONDS.NANOSECONDS BLOCKDEVICES HEXSEED MAC ADDRESS/BITS GATEWAY ROOT"
# (the host's clock, how many disks to wait for, fresh random bytes, its NIC's MAC (it woke with the
# template's), the address and gateway its DHCP lease has, the serial of the volume that is its
# "/" or "-": the kernel command line the template booted with names none), answered "ciao-identity-taken" (the
# launcher gives up on a guest that does not answer): from there it boots on as any VM does, from
# its own config drive. Its address is set at once: a peer that tries it early (SSH) finds it, and
# DHCP, which still runs (the lease, a resolver), keeps it.
restored=""
if grep -q 'ciao\.snapshot' /proc/cmdline && [ "$1" != rooted ]; then
  stty -F /dev/ttyS1 raw -echo
  exec 3<>/dev/ttyS1
  echo "ciao-vm: parked for a snapshot"
  identity=""
  until [ "${identity%% *}" = ciao-identity ]; do read -r identity <&3; done
  set -- $identity
  # The clock, the seed, the disks' cached blocks (what the template read of its stand-ins: a
  # restart's disk holds what the instance wrote), and eth0's MAC, address and route, in one process
  # (ciao-restore's ioctls).
  if ! ciao-restore "$2" "$4" eth0 "$5" "$6" "$7"; then
    echo "ciao-vm: cannot apply the whole identity: its disks and network again with blockdev and ip"
    for b in /sys/block/vd*; do
      blockdev --flushbufs "/dev/${b##*/}"
      [ "$(cat "$b/ro")" = 0 ] && blockdev --rereadpt "/dev/${b##*/}"
    done
    ip link set eth0 address "$5" up
    ip addr add "$6" dev eth0
    ip route add default via "$7" dev eth0
  fi
  echo "${6%/*}" > /run/ciao-address
  # Answered once the address is set: the instance is active from then on, and a peer that knew
  # this address's MAC (a VM that had it before) gets an answer, not a silence it retries in a second.
  echo ciao-identity-taken >&3
  exec 3<&-
  stamp "identity taken"
  # A peer that asked for this address before it was set waits out its ARP's retry (a second) otherwise.
  arping -U -c 1 -I eth0 "${6%/*}" >/dev/null 2>&1 &
  echo "ciao-vm: address $6"
  restored=$3
  [ "${8:--}" = - ] || restored_root=$8
  set --
fi

# Boot from a volume: "ciao.root=<serial>" on the kernel command line names the virtio disk that
# becomes "/" (the same tree as this initramfs, as ext4). This script runs again from there, as "rooted".
# A restored VM's root volume is named by its identity line, and hot-plugged: it is waited for.
root_serial=${restored_root:-$(sed -n 's/.*ciao\.root=\([^ ]*\).*/\1/p' /proc/cmdline)}
if [ -n "$root_serial" ] && [ "$1" != rooted ]; then
  [ -n "$restored" ] && { until_ok disks_at_least "$restored" || echo "ciao-vm: the disks (volumes: hot-plugged) did not all come"; }
  for b in /sys/block/vd*; do
    [ "$(cat "$b/serial" 2>/dev/null)" = "$root_serial" ] || continue
    mkdir -p /newroot
    if mount -t ext4 "/dev/${b##*/}" /newroot && [ -x /newroot/init ]; then
      echo "ciao-vm: root is /dev/${b##*/} (volume $root_serial)"
      umount /dev/pts /dev /sys /proc
      # A restored guest has its address already: the next init keeps it (DHCP confirms it).
      [ -n "$restored" ] && cp /run/ciao-address /newroot/run/ciao-address && exec switch_root /newroot /init rooted restored
      exec switch_root /newroot /init rooted
    fi
  done
  echo "ciao-vm: cannot boot from volume $root_serial: staying in the initramfs"
fi

# The network: DHCP (the address; a resolver with egress). A cold boot runs it beside the config
# drive's work (its round trips overlap that work); SSH starts without waiting for it, and the boot
# ends once both are done. A restored VM has its address already: its DHCP (the lease, a resolver)
# starts once SSH listens, not to take the guest's one CPU from the steps before.
network_up() {
  (
    until_ok [ -e /sys/class/net/eth0 ] || echo "ciao-vm: no NIC came"
    ip link set eth0 up
    udhcpc -i eth0 -s /etc/udhcpc.script -q -n -t 20 -T 1
  ) &
  network=$!
}
[ -n "$restored" ] || network_up

if [ -n "$restored" ]; then
  # The config drive (read-only) is all the next steps need; volumes (hot-plugged) are waited for
  # before the disk's owner is set.
  [ "$restored" -gt 0 ] && { until_ok config_drive_there || echo "ciao-vm: the config drive did not come"; }
  stamp "restored from a snapshot"
fi

for dev in /dev/vd? /dev/sr?; do
  [ -b "$dev" ] || continue
  if mount -t iso9660 -o ro "$dev" /mnt/config 2>/dev/null; then
    [ -f /mnt/config/openstack/latest/meta_data.json ] && break
    umount /mnt/config
  fi
done
meta=/mnt/config/openstack/latest/meta_data.json
userdata=/mnt/config/openstack/latest/user_data
[ -f "$meta" ] || echo "ciao-vm: no config drive found"

# meta_data.json is one line (JSON.stringify's): read and matched by the shell itself, as each
# process started costs a TCG guest milliseconds.
metaline=""
[ -f "$meta" ] && read -r metaline <"$meta"
host=""
case "$metaline" in *'"hostname":"'*) host=${metaline#*\"hostname\":\"}; host=${host%%\"*} ;; esac
[ -n "$host" ] && echo "$host" > /proc/sys/kernel/hostname

# user_data (#cloud-config): every "- name: X" is a user, the "- ssh-…" lines below it its keys.
if [ -f "$userdata" ]; then
  user=""
  uid=1000
  first=""
  while IFS= read -r line; do
    case "$line" in
      *"- name:"*)
        # The name without spaces or quotes around it (the shell's own patterns: no process).
        user=${line#*name:}
        user=${user#"${user%%[! ]*}"}
        user=${user%"${user##*[! ]}"}
        user=${user#[\"\']}
        user=${user%[\"\']}
        echo "$user:*:$uid:$uid::/home/$user:/bin/sh" >> /etc/passwd
        echo "$user:x:$uid:" >> /etc/group
        mkdir -p -m 700 "/home/$user/.ssh"
        umask 077
        : >> "/home/$user/.ssh/authorized_keys"
        umask 022
        chown -R "$uid:$uid" "/home/$user"
        [ $uid = 1000 ] && first=$user
        uid=$((uid + 1))
        ;;
      *"- ssh-"* | *"- ecdsa-"*)
        [ -n "$user" ] && echo "${line#*- }" >> "/home/$user/.ssh/authorized_keys"
        ;;
    esac
  done < "$userdata"
fi
# meta_data.json's public_keys (the Compute keypair, as cloud-init does) go to the first user
# user_data names (its default user), or to root when it names none.
keys_home=${first:+/home/$first}
keys_home=${keys_home:-/root}
case "$metaline" in *'"public_keys"'*)
  grep -o '"public_keys": *{[^}]*}' "$meta" 2>/dev/null | grep -o '"\(ssh-\|ecdsa-\)[^"]*"' | tr -d '"' | while IFS= read -r key; do
    mkdir -p "$keys_home/.ssh" && chmod 700 "$keys_home/.ssh"
    echo "$key" >> "$keys_home/.ssh/authorized_keys"
    chmod 600 "$keys_home/.ssh/authorized_keys"
    [ -n "$first" ] && chown -R 1000:1000 "$keys_home/.ssh"
  done
esac
if [ -n "$restored" ] && [ "$restored" -gt 0 ]; then
  until_ok disks_at_least "$restored" || echo "ciao-vm: the disks (volumes: hot-plugged) did not all come"
  stamp "disks plugged"
fi
# The instance's own disk (writable, with no serial: volumes have one, the config drive is read-only)
# is the default user's, as a data disk of a cloud image is usable by it: what it writes there
# outlives reboots, stops and shelves (BAT actions checks the unshelve with it).
if [ -n "$first" ]; then
  for b in /sys/block/vd*; do
    [ -e "$b/ro" ] || continue
    ro=1 serial=""
    read -r ro <"$b/ro"
    [ -e "$b/serial" ] && read -r serial <"$b/serial"
    [ "$ro" = 0 ] && [ -z "$serial" ] && chown 1000:1000 "/dev/${b##*/}"
  done
fi

# meta_data.json's files (Nova's personality): each path gets its content file from the drive.
# The controller and the node allow no quote, backslash or control character in a path.
case "$metaline" in *'"content_path"'*)
  grep -o '"path": *"[^"]*", *"content_path": *"[^"]*"' "$meta" 2>/dev/null | while IFS= read -r entry; do
    path=$(echo "$entry" | sed 's/"path": *"\([^"]*\)".*/\1/')
    content=$(echo "$entry" | sed 's/.*"content_path": *"\([^"]*\)"/\1/')
    mkdir -p "$(dirname "$path")" && cp "/mnt/config/openstack$content" "$path" || echo "ciao-vm: cannot write injected file $path"
  done
esac

# ciao/environment (KEY=VALUE lines; the proxies of a cluster with egress, docs/egress.md): in
# /etc/environment, and exported to login shells through /etc/profile.d.
envfile=/mnt/config/ciao/environment
if [ -f "$envfile" ]; then
  cp "$envfile" /etc/environment
  mkdir -p /etc/profile.d
  sed -n "s/^\([A-Za-z_][A-Za-z0-9_]*\)=\([^'\\]*\)$/export \1='\2'/p" "$envfile" > /etc/profile.d/ciao-environment.sh
fi
[ -f /etc/profile ] || printf '%s\n' 'for f in /etc/profile.d/*.sh; do [ -r "$f" ] && . "$f"; done' > /etc/profile

dropbear -R -E -p 22 2>/var/log/dropbear.log
stamp "SSH listens"
[ -n "$restored" ] && network_up
wait $network
# Once SSH listens, tell the segment where this address is (unsolicited ARP): a peer that already
# tried to reach it while the VM had no address waits out its failed ARP (seconds) otherwise.
addr=""
[ -f /run/ciao-address ] && read -r addr </run/ciao-address
[ -n "$addr" ] && arping -U -c 1 -I eth0 "$addr" >/dev/null 2>&1 &
stamp "ready, hostname ${host:-$(hostname)}"
while true; do sleep 3600; done
