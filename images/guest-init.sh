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

# A snapshot template (docs/vm-snapshots.md): with "ciao.snapshot" on the kernel command line the
# boot parks here, and the launcher saves the machine. Each VM restored from it gets its NIC and
# disks hot-plugged, then one line on ttyS1: "ciao-identity SECONDS.NANOSECONDS BLOCKDEVICES HEXSEED"
# (the host's clock, how many disks to wait for, fresh random bytes): from there it boots on as any
# VM does, from its own config drive.
if grep -q 'ciao\.snapshot' /proc/cmdline && [ "$1" != rooted ]; then
  stty -F /dev/ttyS1 raw -echo
  exec 3</dev/ttyS1
  echo "ciao-vm: parked for a snapshot"
  identity=""
  until [ "${identity%% *}" = ciao-identity ]; do read -r identity <&3; done
  exec 3<&-
  set -- $identity
  ciao-restore "$2" "$4" || echo "ciao-vm: cannot set the clock and seed from the identity"
  waited=0
  until [ -e /sys/class/net/eth0 ] && [ "$(ls -d /sys/block/vd* 2>/dev/null | wc -l)" -ge "$3" ]; do
    [ $waited -ge 1000 ] && echo "ciao-vm: the hot-plugged NIC or disks did not come" && break
    sleep 0.01
    waited=$((waited + 1))
  done
  set --
  echo "ciao-vm: restored from a snapshot"
fi

# Boot from a volume: "ciao.root=<serial>" on the kernel command line names the virtio disk that
# becomes "/" (the same tree as this initramfs, as ext4). This script runs again from there, as "rooted".
root_serial=$(sed -n 's/.*ciao\.root=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -n "$root_serial" ] && [ "$1" != rooted ]; then
  for b in /sys/block/vd*; do
    [ "$(cat "$b/serial" 2>/dev/null)" = "$root_serial" ] || continue
    mkdir -p /newroot
    if mount -t ext4 "/dev/${b##*/}" /newroot && [ -x /newroot/init ]; then
      echo "ciao-vm: root is /dev/${b##*/} (volume $root_serial)"
      umount /dev/pts /dev /sys /proc
      exec switch_root /newroot /init rooted
    fi
  done
  echo "ciao-vm: cannot boot from volume $root_serial: staying in the initramfs"
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

host=$(sed -n 's/.*"hostname" *: *"\([^"]*\)".*/\1/p' "$meta" 2>/dev/null)
[ -n "$host" ] && hostname "$host"

echo 'root:x:0:0:root:/root:/bin/sh' > /etc/passwd
echo 'root:x:0:' > /etc/group
echo /bin/sh > /etc/shells
# user_data (#cloud-config): every "- name: X" is a user, the "- ssh-…" lines below it its keys.
if [ -f "$userdata" ]; then
  user=""
  uid=1000
  while IFS= read -r line; do
    case "$line" in
      *"- name:"*)
        user=$(echo "${line#*name:}" | tr -d " \"'")
        echo "$user:*:$uid:$uid::/home/$user:/bin/sh" >> /etc/passwd
        echo "$user:x:$uid:" >> /etc/group
        mkdir -p "/home/$user/.ssh"
        touch "/home/$user/.ssh/authorized_keys"
        chmod 700 "/home/$user/.ssh"
        chmod 600 "/home/$user/.ssh/authorized_keys"
        chown -R "$uid:$uid" "/home/$user"
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
first=$(sed -n 's/^\([^:]*\):\*:1000:.*/\1/p' /etc/passwd)
keys_home=${first:+/home/$first}
keys_home=${keys_home:-/root}
grep -o '"public_keys": *{[^}]*}' "$meta" 2>/dev/null | grep -o '"\(ssh-\|ecdsa-\)[^"]*"' | tr -d '"' | while IFS= read -r key; do
  mkdir -p "$keys_home/.ssh" && chmod 700 "$keys_home/.ssh"
  echo "$key" >> "$keys_home/.ssh/authorized_keys"
  chmod 600 "$keys_home/.ssh/authorized_keys"
  [ -n "$first" ] && chown -R 1000:1000 "$keys_home/.ssh"
done
# The instance's own disk (writable, with no serial: volumes have one, the config drive is read-only)
# is the default user's, as a data disk of a cloud image is usable by it: what it writes there
# outlives reboots, stops and shelves (BAT actions checks the unshelve with it).
if [ -n "$first" ]; then
  for b in /sys/block/vd*; do
    [ "$(cat "$b/ro")" = 0 ] && [ -z "$(cat "$b/serial" 2>/dev/null)" ] && chown 1000:1000 "/dev/${b##*/}"
  done
fi

# meta_data.json's files (Nova's personality): each path gets its content file from the drive.
# The controller and the node allow no quote, backslash or control character in a path.
grep -o '"path": *"[^"]*", *"content_path": *"[^"]*"' "$meta" 2>/dev/null | while IFS= read -r entry; do
  path=$(echo "$entry" | sed 's/"path": *"\([^"]*\)".*/\1/')
  content=$(echo "$entry" | sed 's/.*"content_path": *"\([^"]*\)"/\1/')
  mkdir -p "$(dirname "$path")" && cp "/mnt/config/openstack$content" "$path" || echo "ciao-vm: cannot write injected file $path"
done

# ciao/environment (KEY=VALUE lines; the proxies of a cluster with egress, docs/egress.md): in
# /etc/environment, and exported to login shells through /etc/profile.d.
envfile=/mnt/config/ciao/environment
if [ -f "$envfile" ]; then
  cp "$envfile" /etc/environment
  mkdir -p /etc/profile.d
  sed -n "s/^\([A-Za-z_][A-Za-z0-9_]*\)=\([^'\\]*\)$/export \1='\2'/p" "$envfile" > /etc/profile.d/ciao-environment.sh
fi
[ -f /etc/profile ] || printf '%s\n' 'for f in /etc/profile.d/*.sh; do [ -r "$f" ] && . "$f"; done' > /etc/profile

cat > /etc/udhcpc.script <<'SCRIPT'
#!/bin/sh
[ "$1" = bound ] || [ "$1" = renew ] || exit 0
ip addr flush dev "$interface"
ip addr add "$ip/${mask:-24}" dev "$interface"
[ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
# A resolver comes only from a cluster with egress (docs/egress.md): the tenant gateway's dnsmasq.
[ -n "$dns" ] && for d in $dns; do echo "nameserver $d"; done > /etc/resolv.conf
exit 0
SCRIPT
chmod +x /etc/udhcpc.script
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -s /etc/udhcpc.script -q -n -t 20 -T 1 && echo "ciao-vm: address $(ip -4 -o addr show eth0 | awk '{print $4}')"

mkdir -p /etc/dropbear
dropbear -R -E -p 22 2>/var/log/dropbear.log
# Once SSH listens, tell the segment where this address is (unsolicited ARP): a peer that already
# tried to reach it while the VM had no address waits out its failed ARP (seconds) otherwise.
addr=$(ip -4 -o addr show eth0 | awk '{print $4}')
[ -n "$addr" ] && arping -U -c 1 -I eth0 "${addr%/*}" >/dev/null 2>&1 &
echo "ciao-vm: ready, hostname $(hostname)"
while true; do sleep 3600; done
