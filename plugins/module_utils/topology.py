# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Hardware topology of one node, read from sysfs and procfs.

``read_topology(root)`` is the only function here that does I/O; every path
it reads is below ``root`` so that tests can point it at a fixture tree.  The
result is a ``Topology`` dataclass; ``to_dict()`` gives plain JSON (ints,
strings, lists, cpulists as strings) and ``Topology.from_dict()`` rebuilds
the object, so a plan can be computed from a saved topology.

Files read (relative to root), and nothing else:

- ``sys/devices/system/cpu/{online,offline,present,possible}``
- ``sys/devices/system/cpu/cpuN/topology/{physical_package_id,die_id,core_id,
  thread_siblings_list}`` (offline CPUs usually have no ``topology/``)
- ``sys/devices/system/cpu/cpuN/nodeM`` (symlink; node of an offline CPU)
- ``sys/devices/system/cpu/smt/active``; where it is missing (older kernels,
  some virtual machines), SMT counts as active when an online CPU's
  ``thread_siblings_list`` names a second thread (``smt_active_source`` says
  which of the two was read)
- ``sys/devices/system/node/{online,possible}``, ``nodeN/{cpulist,meminfo,
  distance}``, ``nodeN/hugepages/hugepages-*kB/{nr,free,surplus}_hugepages``
- ``sys/kernel/mm/hugepages/hugepages-*kB/{nr,free,surplus}_hugepages``
- ``sys/bus/pci/devices/*/{class,vendor,device,numa_node}``, the ``driver``
  and ``iommu_group`` symlinks, ``net/*/{address,operstate}`` and
  ``virtio*/net/*/{address,operstate}`` (virtio-net puts its netdev there)
- ``sys/kernel/iommu_groups/*/devices/*``
- ``sys/firmware/acpi/tables/{DMAR,IVRS}`` (existence only)
- ``sys/class/net/*/lower_*`` (bond, bridge and VLAN members)
- ``proc/cmdline``, ``proc/sys/kernel/osrelease``, ``proc/cpuinfo``,
  ``proc/meminfo``, ``proc/net/route``, ``proc/net/ipv6_route``

A machine without NUMA sysfs (``CONFIG_NUMA=n``) is one node 0 holding every
online CPU and the memory of ``/proc/meminfo``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from ansible_collections.bot4.hft.plugins.module_utils.cpuset import (
    format_cpulist,
    parse_cpulist,
)

__all__ = [
    "Cpu",
    "HugepageCount",
    "NetDev",
    "Node",
    "PciNic",
    "Topology",
    "TopologyError",
    "read_topology",
    "TOPOLOGY_FORMAT",
]

TOPOLOGY_FORMAT = 1

_HUGEPAGE_DIR_RE = re.compile(r"^hugepages-([0-9]+)kB$")
_NODE_DIR_RE = re.compile(r"^node([0-9]+)$")
_CPU_DIR_RE = re.compile(r"^cpu([0-9]+)$")
_MEMINFO_RE = re.compile(r"^(?:Node\s+[0-9]+\s+)?([A-Za-z_()0-9]+):\s+([0-9]+)(?:\s+kB)?\s*$")

# RTF_UP and RTF_REJECT from <linux/route.h> / <linux/ipv6_route.h>
_RTF_UP = 0x0001
_RTF_REJECT = 0x0200


class TopologyError(Exception):
    """The tree under root is not a readable sysfs/procfs (e.g. wrong root)."""


@dataclass
class Cpu:
    id: int
    online: bool
    package: Optional[int] = None
    die: Optional[int] = None
    core: Optional[int] = None
    # thread_siblings_list as the kernel prints it: online siblings incl. itself.
    # Empty when unknown (offline CPU without topology/).
    siblings: List[int] = field(default_factory=list)
    node: Optional[int] = None

    def to_dict(self) -> Dict[str, Any]:
        return {
            "id": self.id,
            "online": self.online,
            "package": self.package,
            "die": self.die,
            "core": self.core,
            "siblings": format_cpulist(self.siblings),
            "node": self.node,
        }

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Cpu":
        return cls(
            id=int(data["id"]),
            online=bool(data["online"]),
            package=data.get("package"),
            die=data.get("die"),
            core=data.get("core"),
            siblings=parse_cpulist(data.get("siblings") or ""),
            node=data.get("node"),
        )


@dataclass
class HugepageCount:
    size_kb: int
    nr: int = 0
    free: int = 0
    surplus: int = 0

    def to_dict(self) -> Dict[str, Any]:
        return {"size_kb": self.size_kb, "nr": self.nr, "free": self.free, "surplus": self.surplus}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "HugepageCount":
        return cls(
            size_kb=int(data["size_kb"]),
            nr=int(data.get("nr", 0)),
            free=int(data.get("free", 0)),
            surplus=int(data.get("surplus", 0)),
        )


@dataclass
class Node:
    id: int
    cpus: List[int] = field(default_factory=list)
    mem_total_kb: Optional[int] = None
    mem_free_kb: Optional[int] = None
    # Distance to each node of Topology.nodes_online, in that order.
    distances: List[int] = field(default_factory=list)
    hugepages: List[HugepageCount] = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "id": self.id,
            "cpus": format_cpulist(self.cpus),
            "mem_total_kb": self.mem_total_kb,
            "mem_free_kb": self.mem_free_kb,
            "distances": list(self.distances),
            "hugepages": [h.to_dict() for h in self.hugepages],
        }

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Node":
        return cls(
            id=int(data["id"]),
            cpus=parse_cpulist(data.get("cpus") or ""),
            mem_total_kb=data.get("mem_total_kb"),
            mem_free_kb=data.get("mem_free_kb"),
            distances=[int(d) for d in data.get("distances") or []],
            hugepages=[HugepageCount.from_dict(h) for h in data.get("hugepages") or []],
        )


@dataclass
class NetDev:
    name: str
    mac: Optional[str] = None
    operstate: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, "mac": self.mac, "operstate": self.operstate}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "NetDev":
        return cls(name=data["name"], mac=data.get("mac"), operstate=data.get("operstate"))


@dataclass
class PciNic:
    address: str
    vendor: str
    device: str
    pci_class: str
    driver: Optional[str] = None
    numa_node: Optional[int] = None
    iommu_group: Optional[int] = None
    netdevs: List[NetDev] = field(default_factory=list)

    @property
    def vendor_device(self) -> str:
        return "%s:%s" % (self.vendor, self.device)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "address": self.address,
            "vendor": self.vendor,
            "device": self.device,
            "class": self.pci_class,
            "driver": self.driver,
            "numa_node": self.numa_node,
            "iommu_group": self.iommu_group,
            "netdevs": [n.to_dict() for n in self.netdevs],
        }

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "PciNic":
        return cls(
            address=data["address"],
            vendor=data["vendor"],
            device=data["device"],
            pci_class=data.get("class", "0x020000"),
            driver=data.get("driver"),
            numa_node=data.get("numa_node"),
            iommu_group=data.get("iommu_group"),
            netdevs=[NetDev.from_dict(n) for n in data.get("netdevs") or []],
        )


@dataclass
class Topology:
    cpus_online: List[int]
    cpus_offline: List[int] = field(default_factory=list)
    cpus_present: List[int] = field(default_factory=list)
    cpus_possible: List[int] = field(default_factory=list)
    smt_active: Optional[bool] = None
    # Where smt_active comes from: "smt/active" (the kernel's own file),
    # "thread_siblings" (derived: a core with two online threads) or None.
    smt_active_source: Optional[str] = None
    cpus: List[Cpu] = field(default_factory=list)
    numa_sysfs: bool = True
    nodes_online: List[int] = field(default_factory=list)
    nodes_possible: List[int] = field(default_factory=list)
    nodes: List[Node] = field(default_factory=list)
    hugepage_sizes_kb: List[int] = field(default_factory=list)
    nics: List[PciNic] = field(default_factory=list)
    iommu_groups: Dict[int, List[str]] = field(default_factory=dict)
    iommu_firmware: Optional[str] = None
    cmdline: str = ""
    kernel_release: str = ""
    cpu_vendor: str = ""
    default_route_interfaces: List[str] = field(default_factory=list)
    default_route_devices: List[str] = field(default_factory=list)

    # ----------------------------------------------------------------- queries
    @property
    def iommu_active(self) -> bool:
        """The kernel runs with an IOMMU (it created IOMMU groups)."""
        return bool(self.iommu_groups)

    def cpu(self, cpu_id: int) -> Optional[Cpu]:
        for cpu in self.cpus:
            if cpu.id == cpu_id:
                return cpu
        return None

    def node(self, node_id: int) -> Optional[Node]:
        for node in self.nodes:
            if node.id == node_id:
                return node
        return None

    def node_of_cpu(self, cpu_id: int) -> Optional[int]:
        cpu = self.cpu(cpu_id)
        return cpu.node if cpu else None

    def distance(self, node_a: int, node_b: int) -> Optional[int]:
        node = self.node(node_a)
        if node is None or node_b not in self.nodes_online:
            return None
        index = self.nodes_online.index(node_b)
        if index >= len(node.distances):
            return None
        return node.distances[index]

    def cores(self) -> List[List[int]]:
        """Online CPUs grouped into physical cores (SMT siblings together).

        Sorted by the lowest CPU of each core.  A CPU whose siblings are
        unknown is a core of its own.
        """
        online = set(self.cpus_online)
        parent = {cpu: cpu for cpu in online}

        def find(cpu):
            while parent[cpu] != cpu:
                parent[cpu] = parent[parent[cpu]]
                cpu = parent[cpu]
            return cpu

        for cpu in self.cpus:
            if cpu.id not in online:
                continue
            for sibling in cpu.siblings:
                if sibling in online:
                    root_a, root_b = find(cpu.id), find(sibling)
                    if root_a != root_b:
                        parent[max(root_a, root_b)] = min(root_a, root_b)
        groups: Dict[int, List[int]] = {}
        for cpu in sorted(online):
            groups.setdefault(find(cpu), []).append(cpu)
        return sorted(groups.values(), key=lambda g: g[0])

    def nic_by_address(self, address: str) -> Optional[PciNic]:
        for nic in self.nics:
            if nic.address == address:
                return nic
        return None

    # ---------------------------------------------------------- serialisation
    def to_dict(self) -> Dict[str, Any]:
        return {
            "format": TOPOLOGY_FORMAT,
            "kernel_release": self.kernel_release,
            "cmdline": self.cmdline,
            "cpu_vendor": self.cpu_vendor,
            "cpus": {
                "online": format_cpulist(self.cpus_online),
                "offline": format_cpulist(self.cpus_offline),
                "present": format_cpulist(self.cpus_present),
                "possible": format_cpulist(self.cpus_possible),
                "smt_active": self.smt_active,
                "smt_active_source": self.smt_active_source,
                "list": [cpu.to_dict() for cpu in self.cpus],
            },
            "numa": {
                "sysfs": self.numa_sysfs,
                "online": format_cpulist(self.nodes_online),
                "possible": format_cpulist(self.nodes_possible),
                "nodes": [node.to_dict() for node in self.nodes],
            },
            "hugepage_sizes_kb": list(self.hugepage_sizes_kb),
            "iommu": {
                "active": self.iommu_active,
                "firmware_table": self.iommu_firmware,
                "groups": [
                    {"group": group, "devices": list(devices)}
                    for group, devices in sorted(self.iommu_groups.items())
                ],
            },
            "nics": [nic.to_dict() for nic in self.nics],
            "default_route": {
                "interfaces": list(self.default_route_interfaces),
                "devices": list(self.default_route_devices),
            },
        }

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Topology":
        if not isinstance(data, dict):
            raise TopologyError("a saved topology must be a mapping")
        fmt = data.get("format")
        if fmt != TOPOLOGY_FORMAT:
            raise TopologyError(
                "saved topology has format %r, this collection reads format %d"
                % (fmt, TOPOLOGY_FORMAT)
            )
        try:
            cpus = data["cpus"]
            numa = data["numa"]
            iommu = data.get("iommu") or {}
            route = data.get("default_route") or {}
            return cls(
                cpus_online=parse_cpulist(cpus["online"]),
                cpus_offline=parse_cpulist(cpus.get("offline") or ""),
                cpus_present=parse_cpulist(cpus.get("present") or ""),
                cpus_possible=parse_cpulist(cpus.get("possible") or ""),
                smt_active=cpus.get("smt_active"),
                smt_active_source=cpus.get("smt_active_source"),
                cpus=[Cpu.from_dict(c) for c in cpus.get("list") or []],
                numa_sysfs=bool(numa.get("sysfs", True)),
                nodes_online=parse_cpulist(numa.get("online") or ""),
                nodes_possible=parse_cpulist(numa.get("possible") or ""),
                nodes=[Node.from_dict(n) for n in numa.get("nodes") or []],
                hugepage_sizes_kb=[int(s) for s in data.get("hugepage_sizes_kb") or []],
                nics=[PciNic.from_dict(n) for n in data.get("nics") or []],
                iommu_groups={
                    int(g["group"]): list(g.get("devices") or []) for g in iommu.get("groups") or []
                },
                iommu_firmware=iommu.get("firmware_table"),
                cmdline=data.get("cmdline", ""),
                kernel_release=data.get("kernel_release", ""),
                cpu_vendor=data.get("cpu_vendor", ""),
                default_route_interfaces=list(route.get("interfaces") or []),
                default_route_devices=list(route.get("devices") or []),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TopologyError("saved topology is malformed: %s" % exc)


# --------------------------------------------------------------------- reading
class _Reader:
    def __init__(self, root: str):
        self.root = root

    def path(self, rel: str) -> str:
        return os.path.join(self.root, rel.lstrip("/"))

    def text(self, rel: str) -> Optional[str]:
        try:
            with open(self.path(rel), "r", encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except (FileNotFoundError, NotADirectoryError, PermissionError, IsADirectoryError):
            return None
        except OSError:
            # sysfs attributes can fail to read (EIO, ENODEV) on odd hardware
            return None

    def line(self, rel: str) -> Optional[str]:
        content = self.text(rel)
        return None if content is None else content.strip()

    def integer(self, rel: str) -> Optional[int]:
        content = self.line(rel)
        if content is None or content == "":
            return None
        try:
            return int(content, 0) if content.lower().startswith("0x") else int(content)
        except ValueError:
            return None

    def cpulist(self, rel: str) -> Optional[List[int]]:
        content = self.text(rel)
        if content is None:
            return None
        try:
            return parse_cpulist(content)
        except ValueError:
            return None

    def listdir(self, rel: str) -> List[str]:
        try:
            return sorted(os.listdir(self.path(rel)))
        except OSError:
            return []

    def isdir(self, rel: str) -> bool:
        return os.path.isdir(self.path(rel))

    def exists(self, rel: str) -> bool:
        return os.path.lexists(self.path(rel))

    def link_name(self, rel: str) -> Optional[str]:
        """Basename of a symlink's target, without following it."""
        try:
            target = os.readlink(self.path(rel))
        except OSError:
            return None
        return os.path.basename(target.rstrip("/")) or None


def read_topology(root: str = "/") -> Topology:
    """Read the topology of the machine whose filesystem is mounted at root."""
    reader = _Reader(root)
    cpu_base = "sys/devices/system/cpu"
    online = reader.cpulist(cpu_base + "/online")
    if online is None:
        raise TopologyError(
            "%s is not readable: is %r the root of a Linux system with sysfs mounted?"
            % (reader.path(cpu_base + "/online"), root)
        )
    present = reader.cpulist(cpu_base + "/present")
    possible = reader.cpulist(cpu_base + "/possible")
    cpu_dirs = sorted(
        int(m.group(1)) for m in (_CPU_DIR_RE.match(n) for n in reader.listdir(cpu_base)) if m
    )
    if present is None:
        present = sorted(set(cpu_dirs) | set(online))
    if possible is None:
        possible = sorted(set(present) | set(online))
    offline = reader.cpulist(cpu_base + "/offline")
    if offline is None:
        offline = sorted(set(possible) - set(online))
    smt = reader.line(cpu_base + "/smt/active")
    smt_active = None if smt in (None, "") else smt == "1"
    smt_source = None if smt_active is None else "smt/active"

    nodes_online, nodes_possible, nodes, numa_sysfs = _read_nodes(reader, online)
    cpu_node = {}
    for node in nodes:
        for cpu_id in node.cpus:
            cpu_node[cpu_id] = node.id

    online_set = set(online)
    cpus = []
    for cpu_id in sorted(set(present) | online_set | set(cpu_dirs)):
        topo = "%s/cpu%d/topology/" % (cpu_base, cpu_id)
        siblings = reader.cpulist(topo + "thread_siblings_list") or []
        node_id = cpu_node.get(cpu_id)
        if node_id is None:
            node_id = _cpu_node_link(reader, "%s/cpu%d" % (cpu_base, cpu_id))
        if node_id is None and not numa_sysfs:
            node_id = 0
        cpus.append(
            Cpu(
                id=cpu_id,
                online=cpu_id in online_set,
                package=reader.integer(topo + "physical_package_id"),
                die=reader.integer(topo + "die_id"),
                core=reader.integer(topo + "core_id"),
                siblings=siblings,
                node=node_id,
            )
        )

    if smt_active is None:
        listed = [c.siblings for c in cpus if c.online and c.siblings]
        if listed:
            smt_active = any(len(s) > 1 for s in listed)
            smt_source = "thread_siblings"

    hugepage_sizes = sorted(
        int(m.group(1))
        for m in (_HUGEPAGE_DIR_RE.match(n) for n in reader.listdir("sys/kernel/mm/hugepages"))
        if m
    )
    if not numa_sysfs:
        nodes[0].hugepages = [
            _hugepage_count(reader, "sys/kernel/mm/hugepages/hugepages-%dkB" % size, size)
            for size in hugepage_sizes
        ]

    iommu_groups = {}
    for name in reader.listdir("sys/kernel/iommu_groups"):
        if name.isdigit():
            iommu_groups[int(name)] = reader.listdir("sys/kernel/iommu_groups/%s/devices" % name)
    iommu_firmware = None
    for table in ("DMAR", "IVRS"):
        if reader.exists("sys/firmware/acpi/tables/" + table):
            iommu_firmware = table
            break

    route_ifaces = _default_route_interfaces(reader)
    return Topology(
        cpus_online=online,
        cpus_offline=offline,
        cpus_present=present,
        cpus_possible=possible,
        smt_active=smt_active,
        smt_active_source=smt_source,
        cpus=cpus,
        numa_sysfs=numa_sysfs,
        nodes_online=nodes_online,
        nodes_possible=nodes_possible,
        nodes=nodes,
        hugepage_sizes_kb=hugepage_sizes,
        nics=_read_nics(reader),
        iommu_groups=iommu_groups,
        iommu_firmware=iommu_firmware,
        cmdline=(reader.line("proc/cmdline") or ""),
        kernel_release=(reader.line("proc/sys/kernel/osrelease") or ""),
        cpu_vendor=_cpu_vendor(reader.text("proc/cpuinfo") or ""),
        default_route_interfaces=route_ifaces,
        default_route_devices=sorted(
            name for name, lowers in lower_devices(reader.listdir, route_ifaces).items() if not lowers
        ),
    )


def _read_nodes(reader: _Reader, online_cpus: List[int]):
    base = "sys/devices/system/node"
    node_ids = sorted(
        int(m.group(1)) for m in (_NODE_DIR_RE.match(n) for n in reader.listdir(base)) if m
    )
    if not node_ids:
        meminfo = _parse_meminfo(reader.text("proc/meminfo") or "")
        node = Node(
            id=0,
            cpus=list(online_cpus),
            mem_total_kb=meminfo.get("MemTotal"),
            mem_free_kb=meminfo.get("MemFree"),
            distances=[10],
        )
        return [0], [0], [node], False
    nodes_online = reader.cpulist(base + "/online") or node_ids
    nodes_possible = reader.cpulist(base + "/possible") or nodes_online
    nodes = []
    for node_id in node_ids:
        node_dir = "%s/node%d" % (base, node_id)
        meminfo = _parse_meminfo(reader.text(node_dir + "/meminfo") or "")
        distances = []
        for word in (reader.line(node_dir + "/distance") or "").split():
            if word.isdigit():
                distances.append(int(word))
        hugepages = []
        for name in reader.listdir(node_dir + "/hugepages"):
            match = _HUGEPAGE_DIR_RE.match(name)
            if match:
                size = int(match.group(1))
                hugepages.append(_hugepage_count(reader, "%s/hugepages/%s" % (node_dir, name), size))
        hugepages.sort(key=lambda h: h.size_kb)
        nodes.append(
            Node(
                id=node_id,
                cpus=reader.cpulist(node_dir + "/cpulist") or [],
                mem_total_kb=meminfo.get("MemTotal"),
                mem_free_kb=meminfo.get("MemFree"),
                distances=distances,
                hugepages=hugepages,
            )
        )
    return nodes_online, nodes_possible, nodes, True


def _hugepage_count(reader: _Reader, rel: str, size_kb: int) -> HugepageCount:
    return HugepageCount(
        size_kb=size_kb,
        nr=reader.integer(rel + "/nr_hugepages") or 0,
        free=reader.integer(rel + "/free_hugepages") or 0,
        surplus=reader.integer(rel + "/surplus_hugepages") or 0,
    )


def _parse_meminfo(text: str) -> Dict[str, int]:
    values = {}
    for line in text.splitlines():
        match = _MEMINFO_RE.match(line.strip())
        if match:
            values[match.group(1)] = int(match.group(2))
    return values


def _cpu_node_link(reader: _Reader, cpu_dir: str) -> Optional[int]:
    for name in reader.listdir(cpu_dir):
        match = _NODE_DIR_RE.match(name)
        if match:
            return int(match.group(1))
    return None


def _read_nics(reader: _Reader) -> List[PciNic]:
    base = "sys/bus/pci/devices"
    nics = []
    for address in reader.listdir(base):
        dev = "%s/%s" % (base, address)
        pci_class = reader.line(dev + "/class")
        if not pci_class:
            continue
        try:
            class_code = int(pci_class, 16)
        except ValueError:
            continue
        if class_code >> 16 != 0x02:  # PCI base class 02h: network controller
            continue
        numa_node = reader.integer(dev + "/numa_node")
        if numa_node is not None and numa_node < 0:
            numa_node = None
        group = reader.link_name(dev + "/iommu_group")
        netdevs = []
        net_dirs = [dev + "/net"] + [
            "%s/%s/net" % (dev, sub) for sub in reader.listdir(dev) if sub.startswith("virtio")
        ]
        for net_dir in net_dirs:
            for name in reader.listdir(net_dir):
                mac = reader.line("%s/%s/address" % (net_dir, name))
                state = reader.line("%s/%s/operstate" % (net_dir, name))
                netdevs.append(NetDev(name=name, mac=mac or None, operstate=state or None))
        nics.append(
            PciNic(
                address=address,
                vendor=_hex4(reader.line(dev + "/vendor")),
                device=_hex4(reader.line(dev + "/device")),
                pci_class="0x%06x" % class_code,
                driver=reader.link_name(dev + "/driver"),
                numa_node=numa_node,
                iommu_group=int(group) if group and group.isdigit() else None,
                netdevs=sorted(netdevs, key=lambda n: n.name),
            )
        )
    return nics


def _hex4(value: Optional[str]) -> str:
    if not value:
        return "????"
    text = value.lower()
    if text.startswith("0x"):
        text = text[2:]
    return text.zfill(4)


def _cpu_vendor(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        key, _unused, value = line.partition(":")
        if key.strip() == "vendor_id":
            return value.strip()
    return ""


def _default_route_interfaces(reader: _Reader) -> List[str]:
    return default_route_names(reader.text("proc/net/route") or "", reader.text("proc/net/ipv6_route") or "")


def default_route_names(route: str, ipv6_route: str) -> List[str]:
    """Interfaces that carry a usable default route, from the text of
    /proc/net/route and /proc/net/ipv6_route (pure; the node applier uses it too)."""
    names = set()
    for line in route.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 8:
            continue
        try:
            flags = int(cols[3], 16)
        except ValueError:
            continue
        if cols[1] == "00000000" and cols[7] == "00000000" and flags & _RTF_UP:
            names.add(cols[0])
    for line in ipv6_route.splitlines():
        cols = line.split()
        if len(cols) < 10:
            continue
        try:
            flags = int(cols[8], 16)
        except ValueError:
            continue
        if (
            cols[0] == "0" * 32
            and cols[1] == "00"
            and flags & _RTF_UP
            and not flags & _RTF_REJECT
            and cols[9] != "lo"
        ):
            names.add(cols[9])
    return sorted(names)


def lower_devices(listdir, names: List[str]) -> Dict[str, List[str]]:
    """{name: [its lower devices]} for ``names`` and every network device below
    them, following the ``lower_*`` entries of /sys/class/net/<name> (bond
    slaves, bridge ports, VLAN parents).  ``listdir(path)`` lists a directory
    given as an absolute path, [] when it is missing: read_topology passes its
    reader's, the node applier (dpdk: what carries the default route) its
    Context's."""
    tree: Dict[str, List[str]] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in tree:
            continue
        tree[name] = sorted(
            entry[len("lower_"):] for entry in listdir("/sys/class/net/%s" % name) if entry.startswith("lower_")
        )
        todo.extend(tree[name])
    return tree
