#!/bin/sh
# bot4 lab image: one-time install boot. Runs as PID 1 (init=) the first and
# only time the freshly built disk is booted with QEMU -kernel/-initrd. It
# installs GRUB to the disk's MBR, writes grub.cfg, removes every per-machine
# identity the boot may have produced, and powers the VM off. From then on the
# disk boots through its own GRUB like a bare-metal server.
#
# It wipes machine identity (SSH host keys, machine-id, /tmp) and powers the
# machine off, so it refuses to run anywhere but as PID 1 of that install boot.
if [ "$$" -ne 1 ] || ! grep -qw "init=/usr/local/sbin/bot4-lab-image-install" /proc/cmdline 2>/dev/null; then
    echo "bot4-lab install boot script: runs only as init of the image's install boot; refusing" >&2
    exit 2
fi
export PATH=/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin
export LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive

mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mountpoint -q /run || mount -t tmpfs tmpfs /run
mount -o remount,rw /

finish() {
    sync
    # This script is still open (and deleted): if / refuses to go read-only,
    # force it with the emergency remount.
    if ! mount -o remount,ro / 2>/dev/null; then
        echo u > /proc/sysrq-trigger
        sleep 2
    fi
    echo "BOT4-LAB-INSTALL-RESULT: $1"
    echo o > /proc/sysrq-trigger
    sleep 60
}

set -x
root_uuid=$(blkid -s UUID -o value /dev/vda1)
if [ -n "$root_uuid" ] && [ ! -e "/dev/disk/by-uuid/$root_uuid" ]; then
    mkdir -p /dev/disk/by-uuid
    ln -s ../../vda1 "/dev/disk/by-uuid/$root_uuid"
fi
echo "grub-pc grub-pc/install_devices multiselect /dev/vda" | debconf-set-selections &&
    grub-install --target=i386-pc /dev/vda &&
    update-grub &&
    grep -q "root=UUID=$root_uuid" /boot/grub/grub.cfg
rc=$?

# nothing of this boot may identify the machines cloned from this disk
rm -f /etc/ssh/ssh_host_*
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id /var/lib/systemd/random-seed
rm -rf /root/.ssh /var/log/journal/* /tmp/* /var/tmp/*
rm -f "$0"
set +x

if [ "$rc" -eq 0 ]; then finish ok; else finish "failed rc=$rc"; fi
