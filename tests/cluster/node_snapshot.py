"""What a node looks like to the tuning, read on the node (python3, standard library only).

Printed as JSON: ``files`` (every path below the configuration trees the
collection may write, with its type, mode, owner and a hash of its content or
its link target), ``values`` (the kernel and sysfs values the tuning sets at
runtime or at boot) and ``sysctl`` (every readable value below /proc/sys/kernel
and /proc/sys/vm). The untune test takes one before the first tuning run and
one after untune, and compares them.
"""

import glob
import hashlib
import json
import os
import stat
import subprocess

# Trees the collection's roles write into (and the rest of /etc).
TREES = ["/etc", "/usr/local", "/var/lib/bot4-hft", "/boot/grub"]
FILES = ["/var/lib/kubelet/config.yaml"]
VALUES = [
    "/proc/cmdline",
    "/sys/devices/system/cpu/isolated",
    "/sys/devices/system/cpu/nohz_full",
    "/sys/kernel/mm/hugepages/hugepages-*/nr_hugepages",
    "/sys/devices/system/node/node*/hugepages/hugepages-*/nr_hugepages",
    "/sys/kernel/mm/transparent_hugepage/enabled",
    "/sys/kernel/mm/transparent_hugepage/defrag",
    "/proc/irq/default_smp_affinity",
    "/sys/devices/virtual/workqueue/cpumask",
    "/sys/bus/workqueue/devices/*/cpumask",
    "/sys/class/net/*/queues/rx-*/rps_cpus",
    "/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor",
    "/sys/devices/system/cpu/cpu*/cpuidle/state*/disable",
    "/sys/bus/pci/devices/*/driver_override",
    "/sys/fs/cgroup/system.slice/cpuset.cpus",
    "/sys/fs/cgroup/user.slice/cpuset.cpus",
]
LINKS = ["/sys/bus/pci/devices/*/driver"]


def describe(path):
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return ["link", os.readlink(path)]
    owner = ["%04o" % stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid]
    if stat.S_ISDIR(info.st_mode):
        return ["dir"] + owner
    if stat.S_ISREG(info.st_mode):
        try:
            with open(path, "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
        except OSError as exc:
            digest = "unreadable: %s" % exc.strerror
        return ["file"] + owner + [digest]
    return ["other"] + owner


def files():
    out = {}
    for tree in TREES:
        if os.path.lexists(tree):
            out[tree] = describe(tree)
        for base, dirs, names in os.walk(tree):
            for name in dirs + names:
                full = os.path.join(base, name)
                out[full] = describe(full)
    for path in FILES:
        out[path] = describe(path) if os.path.lexists(path) else ["absent"]
    return out


def read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError as exc:
        return "unreadable: %s" % exc.strerror


def values():
    out = {}
    for pattern in VALUES:
        for path in sorted(glob.glob(pattern)):
            out[path] = read(path)
    for pattern in LINKS:
        for path in sorted(glob.glob(pattern)):
            out[path] = os.path.basename(os.readlink(path))
    # A running irqbalance moves IRQs by load: their affinities are then its
    # decisions of the moment, and what is compared is its state (the service
    # here, its configuration with the files).
    out["irqbalance"] = subprocess.run(["systemctl", "is-active", "irqbalance.service"],
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                       universal_newlines=True, check=False).stdout.strip()
    # IRQ numbers are handed out in probe order, which differs from boot to
    # boot: an IRQ's affinity is keyed by its handlers' names (a device queue).
    # An IRQ without a handler serves no device.
    seen = {}
    irqs = [] if out["irqbalance"] == "active" else glob.glob("/proc/irq/*/smp_affinity_list")
    for path in sorted(irqs):
        number = path.split("/")[3]
        actions = read("/sys/kernel/irq/%s/actions" % number)
        if not actions or actions.startswith("unreadable"):
            continue
        seen[actions] = seen.get(actions, 0) + 1
        key = "irq %s" % actions if seen[actions] == 1 else "irq %s #%d" % (actions, seen[actions])
        out[key] = read(path)
    with open("/proc/1/status") as handle:
        out["pid1 Cpus_allowed_list"] = [line.split(":", 1)[1].strip() for line in handle
                                         if line.startswith("Cpus_allowed_list:")][0]
    return out


def sysctls():
    out = {}
    for tree in ("/proc/sys/kernel", "/proc/sys/vm"):
        for base, _unused, names in os.walk(tree):
            for name in names:
                full = os.path.join(base, name)
                if os.access(full, os.R_OK):
                    out[os.path.relpath(full, "/proc/sys").replace("/", ".")] = read(full)
    return out


print(json.dumps({"files": files(), "values": values(), "sysctl": sysctls()}, sort_keys=True))
