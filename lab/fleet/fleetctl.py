#!/usr/bin/env python3
# Copyright: bot4 platform team
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""A simulated fleet of HFT nodes: one scratch root per node, an inventory that
reaches them, and (optionally) kwok Nodes of the same names in a lab cluster.

Each node is a directory holding the files a real node shows below ``/``
(``sys``, ``proc``, ``etc``, ``var``, ``usr/local``) for one of a few real
machine shapes (``tests/unit/fixtures/sysfs_builder.py``): a two-socket Xeon
with SMT, a single-socket machine without SMT, and the lab VM's shape with a
CPU-less NUMA node. The inventory puts every node on Ansible's ``local``
connection with ``hft_node_root`` set to its directory: every node-side module
and role reads and writes below that root (docs/fleet.md).

    fleetctl.py build --nodes 10 --dir .lab/fleet [--cluster NAME]
    fleetctl.py cluster --dir .lab/fleet --cluster NAME     kwok Nodes + pods
    fleetctl.py reboot --root DIR [--fault never-back]      the simulated reboot
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "unit" / "fixtures"))

import sysfs_builder  # noqa: E402  (the fixtures' machine shapes)

# The shapes of the fleet, in the order nodes take them round-robin.
SHAPES = ("xeon2s", "single8", "lab_memnode")
NAME_PREFIX = "fleet-node-"
# Written once per node, beside its tree: what the simulation knows that a
# node's files do not (its shape, its boot counter, the faults injected).
SIM_FILE = "var/lib/bot4-fleet/sim.json"

OS_RELEASE = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
"""
GRUB_DEFAULT = """GRUB_DEFAULT=0
GRUB_TIMEOUT=5
GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX=""
"""


def node_name(index: int) -> str:
    return "%s%03d" % (NAME_PREFIX, index)


def _write(root: Path, rel: str, content: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)


def build_node(root: Path, shape_name: str) -> dict:
    """Write one node's tree below ``root``; return its simulation record."""
    shape = sysfs_builder.SHAPES[shape_name]()
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    sysfs_builder.build(shape, str(root))
    cpus = sorted(shape.online)
    everything = sysfs_builder.cpulist(cpus)
    nbits = max(shape.possible) + 1
    # What a booted Debian node shows beside its topology: the OS, the
    # bootloader's defaults, PID 1 and the slices on every CPU, the kernel's
    # isolation files empty, THP and the sysctls the plans set at their
    # kernel defaults, every IRQ and workqueue on every CPU.
    _write(root, "etc/os-release", OS_RELEASE)
    _write(root, "etc/default/grub", GRUB_DEFAULT)
    (root / "etc/default/grub.d").mkdir(parents=True, exist_ok=True)
    _write(root, "sys/devices/system/cpu/nohz_full", "(null)\n")
    _write(root, "proc/1/status", "Name:\tsystemd\nPid:\t1\nCpus_allowed_list:\t%s\n" % everything)
    _write(root, "proc/1/comm", "systemd\n")
    _write(root, "proc/1/cmdline", "/sbin/init\0")
    _write(root, "proc/1/cgroup", "0::/init.scope\n")
    for name in ("system.slice", "user.slice", "init.scope"):
        _write(root, "sys/fs/cgroup/%s/cpuset.cpus.effective" % name, everything + "\n")
    _write(root, "sys/kernel/mm/transparent_hugepage/enabled", "[always] madvise never\n")
    _write(root, "sys/kernel/mm/transparent_hugepage/defrag", "always defer defer+madvise [madvise] never\n")
    mask = sysfs_builder.hexmask(cpus, nbits)
    _write(root, "sys/devices/virtual/workqueue/cpumask", mask + "\n")
    _write(root, "proc/irq/default_smp_affinity", mask + "\n")
    for irq in range(0, 16):
        _write(root, "proc/irq/%d/smp_affinity_list" % irq, everything + "\n")
    for name, value in (("kernel/numa_balancing", "1"), ("kernel/timer_migration", "1"),
                        ("vm/stat_interval", "1"), ("kernel/sched_rt_runtime_us", "950000"),
                        ("kernel/watchdog_thresh", "10"), ("kernel/nmi_watchdog", "1"),
                        ("vm/compact_memory", ""), ("vm/drop_caches", "0")):
        _write(root, "proc/sys/" + name, value + "\n")
    record = {"shape": shape_name, "description": shape.description, "boots": 1,
              "cmdline": shape.cmdline, "faults": {}}
    _write(root, SIM_FILE, json.dumps(record, indent=2) + "\n")
    return record


def inventory(directory: Path, names: list[str], kubeconfig: str | None) -> dict:
    hosts = {}
    for name in names:
        hosts[name] = {"hft_node_root": str(directory / "nodes" / name)}
    group_vars = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "hft_profile": FLEET_PROFILE,
    }
    if kubeconfig:
        group_vars["hft_kubeconfig"] = kubeconfig
    return {"all": {"children": {"hft_nodes": {"hosts": hosts, "vars": group_vars}}}}


# One profile for the whole fleet: every shape plans it (auto CPU sets, the
# 2 MiB pages on node 0, allocated at runtime; no DPDK device, which a
# simulated node cannot bind).
FLEET_PROFILE = {
    "cpu": {"reserved": "auto", "isolated": "auto", "reserved_cores": 1, "isolation": "static"},
    "hugepages": {"default_size": "2M", "pages": [{"size": "2M", "count": 64, "node": 0}]},
}


def cmd_build(args: argparse.Namespace) -> int:
    directory = Path(args.dir).resolve()
    names = [node_name(i) for i in range(1, args.nodes + 1)]
    if (directory / "nodes").exists():
        shutil.rmtree(directory / "nodes")
    for index, name in enumerate(names):
        build_node(directory / "nodes" / name, SHAPES[index % len(SHAPES)])
    hosts = directory / "hosts.yml"
    hosts.write_text(json.dumps(inventory(directory, names, args.kubeconfig), indent=2) + "\n")
    print(hosts)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="the nodes' trees and the inventory")
    build.add_argument("--nodes", type=int, required=True)
    build.add_argument("--dir", required=True)
    build.add_argument("--kubeconfig", help="the cluster the inventory's hft_kubeconfig points at")
    build.set_defaults(func=cmd_build)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
