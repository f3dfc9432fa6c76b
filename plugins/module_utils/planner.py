# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""plan = f(profile, topology).

``plan(profile, topology)`` turns the user's ``hft_profile`` and the node's
``Topology`` into the one plan every role renders: CPU sets, kernel
arguments, hugepages per NUMA node, IRQ and housekeeping affinity, sysctls,
DPDK bindings, kubelet settings, power settings and the latency gate.

Pure and deterministic: no I/O, no clock, no randomness; the same input gives
the same plan (and the same JSON, byte for byte).  An invalid profile raises
``ProfileError`` listing every problem found, each as (field path, reason).
docs/profile.md documents the profile and the plan's shape.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from ansible_collections.bot4.hft.plugins.module_utils.cpuset import (
    format_cpulist,
    format_mask,
    parse_cpulist,
)
from ansible_collections.bot4.hft.plugins.module_utils.kernel_policy import PLANNED_SYSCTL
from ansible_collections.bot4.hft.plugins.module_utils.profile import (
    OWNED_ARG_HINTS,
    ROOT,
    ProfileError,
    check_profile,
    format_quantity,
    parse_quantity_bytes,
    parse_size_kb,
    size_name,
)
from ansible_collections.bot4.hft.plugins.module_utils.topology import PciNic, Topology

__all__ = ["plan", "ProfileError", "PLAN_FORMAT", "PER_NODE_HUGEPAGES_MIN_KERNEL", "plan_json"]

PLAN_FORMAT = 1

# hugepages=<node>:<count>[,<node>:<count>...] on the kernel command line was
# added by commit b5389086ad7b ("hugetlbfs: extend the definition of hugepages
# parameter to support node allocation"), merged for Linux 5.16.  Older
# kernels take only a total, which they spread over the nodes themselves.
PER_NODE_HUGEPAGES_MIN_KERNEL = (5, 16)

# Memory the planner keeps free of hugepages on every node, for the kernel
# and everything that is not a hugepage: the larger of 1 GiB and 10 %.
KERNEL_MARGIN_MIN_KB = 1024 * 1024
KERNEL_MARGIN_FRACTION = 0.10

# The CPU that boots the kernel.  The kernel drops it from nohz_full on x86
# (tick_nohz_init: "Clearing 0 from nohz_full range for timekeeping" when
# suspend support is built in, as in distribution kernels), so it can never
# be isolated as planned.
BOOT_CPU = 0

# Mainline kernels that first took each amd_pstate= mode: commit 202e683df37c
# (disable, passive) was merged for 6.2, the EPP driver (active) for 6.3 and
# guided autonomous mode for 6.4.  Distribution kernels backport them (RHEL
# 9.3 documents all four on 5.14), so the argument is always planned and an
# older kernel only gets a warning.
AMD_PSTATE_MIN_KERNEL = {"disable": (6, 2), "passive": (6, 2), "active": (6, 3), "guided": (6, 4)}

INTEL = ("GenuineIntel",)
AMD = ("AuthenticAMD", "HygonGenuine")


# systemd units the housekeeping role stops and disables where they are installed.
DISABLED_UNITS = (
    # fwupd's metadata refresh: its firmware calls can raise SMIs (latency
    # spikes of every CPU), as the Node Tuning Operator notes
    "fwupd-refresh.timer",
)


def plan(
    profile: Any,
    topology: Union[Topology, Dict[str, Any]],
    netdev_names: Optional[Dict[str, str]] = None,
    root: str = ROOT,
) -> Dict[str, Any]:
    """Compute the plan; raise ProfileError listing every problem.

    ``netdev_names`` maps PCI addresses to the interface names those devices
    had before they were bound to a DPDK driver (bound devices have no
    netdev in sysfs), so that ``interface:`` selectors keep resolving on
    re-runs.
    """
    if isinstance(topology, dict):
        topology = Topology.from_dict(topology)
    normalized, warnings, shape_errors = check_profile(profile, root)
    planner = _Planner(normalized, topology, netdev_names or {}, root, warnings)
    if not shape_errors:
        return planner.build()
    # Report the machine-dependent problems of the valid parts too, leaving
    # out those that depend on a field that is already wrong.
    tainted = set()
    for field, _unused in shape_errors:
        rel = field[len(root) + 1:] if field.startswith(root + ".") else ""
        for prefix, sections in _TAINTS:
            if rel == prefix or rel.startswith(prefix + ".") or rel.startswith(prefix + "["):
                tainted.update(sections)
    try:
        planner.build()
        more: List[Tuple[str, str]] = []
    except ProfileError as exc:
        more = exc.errors
    kept = []
    for field, reason in more:
        rel = field[len(root) + 1:] if field.startswith(root + ".") else field
        if not any(rel == t or rel.startswith(t + ".") or rel.startswith(t + "[") for t in tainted):
            kept.append((field, reason))
    raise ProfileError(list(shape_errors) + kept, root)


# A shape error in the first field makes the planner's own checks of these
# fields meaningless (they ran on defaults), so those are not reported.
_TAINTS = (
    ("cpu", ("cpu", "latency_gate", "kubelet")),
    ("numa", ("cpu", "dpdk")),
    ("dpdk", ("dpdk", "cpu", "hugepages")),
    ("hugepages", ("hugepages",)),
    ("kernel.iommu", ("dpdk",)),
    ("power", ("power",)),
    ("kubelet", ("kubelet",)),
    ("latency_gate", ("latency_gate",)),
)


def plan_json(result: Dict[str, Any]) -> str:
    """The canonical JSON text of a plan (what golden files hold)."""
    return json.dumps(result, indent=2, sort_keys=True) + "\n"


def profile_digest(normalized: Dict[str, Any]) -> str:
    text = json.dumps(normalized, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def kernel_version(release: str) -> Optional[Tuple[int, int]]:
    match = re.match(r"^([0-9]+)\.([0-9]+)", release or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


def _cl(cpus) -> str:
    return format_cpulist(cpus)


def _mib(kb: int) -> str:
    return "%d MiB" % (kb // 1024)


class _Planner:
    def __init__(self, prof, topo: Topology, netdev_names, root, warnings):
        self.p = prof
        self.t = topo
        self.netdev_names = {str(k).lower(): str(v) for k, v in netdev_names.items() if v}
        self.root = root
        self.errors: List[Tuple[str, str]] = []
        self.warnings: List[str] = list(warnings)

    # ------------------------------------------------------------ helpers
    def f(self, *parts) -> str:
        out = self.root
        for part in parts:
            out += "[%d]" % part if isinstance(part, int) else "." + part
        return out

    def fail(self, path: str, reason: str) -> None:
        self.errors.append((path, reason))

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    # -------------------------------------------------------------- build
    def build(self) -> Dict[str, Any]:
        t = self.t
        self.present = sorted(set(t.cpus_present) | set(t.cpus_online))
        self.known = set(self.present) | {c.id for c in t.cpus}
        # cpu.offline: taken offline at every boot by the applier, so the plan
        # is the same before (online now) and after (offline): the sets are
        # computed from the CPUs that stay online.
        self.offline_planned = self._offline_planned()
        self.online = sorted(set(t.cpus_online) - set(self.offline_planned))
        online_set = set(self.online)
        self.offline = sorted(set(self.present) - online_set)
        self.nbits = max(list(t.cpus_possible) + self.present + [0]) + 1
        self.memory_nodes = [
            n.id for n in t.nodes if n.mem_total_kb is None or n.mem_total_kb > 0
        ]
        self.single_node = len([n for n in t.nodes if n.cpus or n.mem_total_kb]) <= 1

        self._cpu_node_map()
        self._smt()
        devices = self._dpdk_devices()
        self.devices = devices
        self.nic_nodes = sorted({d["numa_node"] for d in devices if d["numa_node"] is not None})
        cpu = self._cpu_sets()
        hugepages, hp_boot, hp_args, mounts = self._hugepages(devices)
        dpdk = self._dpdk_block(devices)
        power, power_args = self._power()
        kernel_args = self._kernel_args(cpu, dpdk, hp_args, power_args)
        latency = self._latency_gate(cpu)
        kubelet = self._kubelet(cpu)

        if self.errors:
            raise ProfileError(self.errors, self.root)

        unplanned_offline = sorted(set(self.offline) - set(self.offline_planned))
        if unplanned_offline:
            self.warn(
                "CPUs %s are present but offline; they are in neither the reserved "
                "nor the isolated set" % _cl(unplanned_offline)
            )
        reserved = cpu["reserved_list"]
        isolated = cpu["isolated_list"]
        hk = self.p["housekeeping"]
        thp_mode = self.p["kernel"]["thp"]
        thp = {"enabled": thp_mode, "defrag": "never" if thp_mode == "never" else "madvise"}
        rps = {"cpus": _cl(reserved), "include": list(hk["rps_include"]), "exclude": list(hk["rps_exclude"])}
        sysctl = self._sysctl()
        return {
            "plan_format": PLAN_FORMAT,
            "profile_name": self.p["name"],
            "profile_digest": profile_digest(self.p),
            "topology_summary": self._summary(),
            "layout": self._layout(),
            "cpu": cpu["public"],
            "kernel_args": kernel_args,
            "kernel_arg_keys": sorted(OWNED_ARG_HINTS),
            # The kind of kernel the node boots: the distribution's PREEMPT_RT
            # kernel or a generic one (the kernel_cmdline module's `kernel`,
            # which makes it the GRUB default; verify reads `uname -v`).
            "kernel": {
                "realtime": self.p["kernel"]["realtime"],
                "flavour": "realtime" if self.p["kernel"]["realtime"] else "generic",
            },
            # kernel.realtime_scheduling: no RT throttling (sysctl) and stalld,
            # which boosts kernel threads starved by a busy-polling RT thread,
            # where the distribution packages it (the housekeeping role).
            "realtime_scheduling": {
                "enabled": self.p["kernel"]["realtime_scheduling"],
                "stalld": self.p["kernel"]["realtime_scheduling"],
            },
            "hugepages": hugepages,
            "hugepages_boot": hp_boot,
            "hugetlbfs_mounts": mounts,
            "irq": {
                "default_smp_affinity": format_mask(reserved, self.nbits),
                "housekeeping_cpus": _cl(reserved),
                "irqbalance_banned_cpulist": _cl(isolated),
                "irqbalance_banned_mask": format_mask(isolated, self.nbits),
                "irqbalance": hk["irqbalance"],
                "policy": hk["irq_policy"],
            },
            "rps": rps,
            # systemd slices confined to the reserved CPUs (AllowedCPUs=), by the
            # housekeeping role; verify reads their effective cpusets.
            "cpuset_slices": list(hk["cpuset_slices"]),
            "thp": thp,
            # systemd units stopped and disabled where installed (housekeeping)
            "disabled_units": list(DISABLED_UNITS),
            "sysctl": sysctl,
            "dpdk": dpdk,
            "kubelet": kubelet,
            "power": power,
            "latency_gate": latency,
            "runtime": self._runtime(reserved, isolated, sysctl, thp, rps, hugepages, dpdk, power),
            "warnings": list(self.warnings),
        }

    # ------------------------------------------------------------ runtime
    def _runtime(self, reserved, isolated, sysctl, thp, rps, hugepages, dpdk, power) -> Dict[str, Any]:
        """The node's runtime state, as the applier (bot4.hft.node_state and
        the boot unit) takes it: one entry per section it owns.  A section
        that the plan leaves to the machine (a power setting of null) is
        absent."""
        runtime: Dict[str, Any] = {
            "sysctl": dict(sysctl),
            "thp": dict(thp),
            # KSM stopped where the kernel has it: no ksmd scanning, no merged
            # pages to break with copy-on-write faults
            "ksm": {"run": "0"},
            "irq": {
                "default_cpus": _cl(reserved),
                "cpus": _cl(reserved),
                "policy": self.p["housekeeping"]["irq_policy"],
            },
            "workqueue": {"cpus": _cl(reserved)},
            # Kernel threads that may run anywhere (and accept it): onto the
            # reserved CPUs, as tuna --isolate does.
            "kthread": {"cpus": _cl(reserved)},
            # Running user-space threads off the isolated CPUs, once per tuning
            # run (the housekeeping role; not at boot): all but the kubelet's
            # pods and the deny list.
            "sweep": {"cpus": _cl(reserved), "keep_cgroups": ["kubepods"],
                      "deny": list(self.p["housekeeping"]["sweep_deny"])},
            "rps": dict(rps),
            "hugepages": {
                "pools": [dict(pool) for pool in hugepages],
                "release_unplanned": self.p["hugepages"]["release_unplanned"],
                "reclaim": True,
            },
            # Address, driver and PCI id per device, so that another card at
            # the same address is refused.
            "dpdk": {
                "devices": [
                    {"pci": d["pci"], "driver": d["target_driver"], "id": d["vendor_device"]}
                    for d in dpdk["devices"]
                ],
                "noiommu": bool(dpdk["noiommu"]),
            },
        }
        # cpu.offline: the CPUs taken offline at every boot, first of all sections
        if self.offline_planned:
            runtime["cpu_offline"] = {"cpus": _cl(self.offline_planned)}
        if power["governor"] is not None:
            runtime["cpufreq"] = {"governor": power["governor"], "cpus": power["cpus"]}
        # The C-state limit holds on the isolated CPUs, through each CPU's PM
        # QoS resume latency (the kernel arguments limit every CPU at boot).
        if (power["max_cstate"] is not None or power["idle_poll"]) and isolated:
            runtime["cpuidle"] = {
                "cpus": _cl(isolated),
                "max_cstate": power["max_cstate"],
                "poll_only": bool(power["idle_poll"]),
            }
        if power["energy_perf_bias"] is not None:
            runtime["energy_perf_bias"] = {"value": power["energy_perf_bias"], "cpus": power["cpus"]}
        # HWP's energy/performance preference, where the driver exposes it (active mode)
        if power["energy_performance_preference"] is not None:
            runtime["epp"] = {"value": power["energy_performance_preference"], "cpus": power["cpus"]}
        # intel_pstate's floor, a share of the highest performance
        if power["min_perf_pct"] is not None:
            runtime["min_perf_pct"] = {"value": power["min_perf_pct"]}
        return runtime

    # ---------------------------------------------------------- topology
    def _cpu_node_map(self) -> None:
        t = self.t
        self.cpu_node: Dict[int, int] = {}
        for c in t.cpus:
            if c.node is not None:
                self.cpu_node[c.id] = c.node
        for node in t.nodes:
            for cpu_id in node.cpus:
                self.cpu_node.setdefault(cpu_id, node.id)
        missing = [c for c in self.online if c not in self.cpu_node]
        if missing:
            fallback = t.nodes[0].id if t.nodes else 0
            for c in missing:
                self.cpu_node[c] = fallback
            if not self.single_node:
                self.warn(
                    "the NUMA node of CPUs %s is unknown; they are counted on node %d"
                    % (_cl(missing), fallback)
                )
        self.node_ids = sorted({n.id for n in t.nodes} | set(self.cpu_node.values()))

    def _offline_planned(self) -> List[int]:
        """cpu.offline, checked against the machine (CPU 0 and CPUs that do not
        exist are refused; the reserved set is checked in _check_explicit)."""
        text = self.p["cpu"]["offline"]
        if not text:
            return []
        cpus = parse_cpulist(text)
        path = self.f("cpu", "offline")
        if BOOT_CPU in cpus:
            self.fail(path, "holds CPU %d, the boot CPU: it cannot be taken offline" % BOOT_CPU)
            return []
        unknown = [c for c in cpus if c not in self.known]
        if unknown:
            self.fail(path, "CPUs %s do not exist on this node (present: %s)" % (_cl(unknown), _cl(self.present)))
            return []
        return cpus

    def _smt(self) -> None:
        # Cores as they stay online: without the CPUs of cpu.offline (a core
        # whose sibling is taken offline is a whole core of one thread).
        planned = set(self.offline_planned)
        cores = [kept for kept in ([c for c in core if c not in planned] for core in self.t.cores()) if kept]
        self.online_cores = cores
        self.smt_enabled = self.p["cpu"]["smt"] == "enabled"
        if not self.smt_enabled and all(len(core) == 1 for core in cores) and self.t.smt_active is not True:
            self.warn("cpu.smt is disabled but no core has a second online thread; nosmt changes nothing here")
        self.core_of: Dict[int, List[int]] = {}
        for core in cores:
            for c in core:
                self.core_of[c] = core
        if self.smt_enabled:
            self.secondaries: List[int] = []
            self.cores = cores
        else:
            self.secondaries = sorted(c for core in cores for c in core[1:])
            self.cores = [[core[0]] for core in cores]
        self.usable = sorted(c for core in self.cores for c in core)

    def _node_of_nic(self, nic: PciNic) -> Optional[int]:
        if nic.numa_node is not None:
            return nic.numa_node
        if self.single_node:
            return self.node_ids[0] if self.node_ids else 0
        return None

    # -------------------------------------------------------------- DPDK
    def _dpdk_devices(self) -> List[Dict[str, Any]]:
        t = self.t
        prof = self.p["dpdk"]
        nics = sorted(t.nics, key=lambda n: n.address)
        live_names = {}
        for nic in nics:
            for dev in nic.netdevs:
                live_names[dev.name] = nic
        hinted = {}
        for nic in nics:
            name = self.netdev_names.get(nic.address)
            if name and not nic.netdevs:
                hinted[name] = nic
        route = set(t.default_route_interfaces) | set(t.default_route_devices)

        def describe_all() -> str:
            if not nics:
                return "this node has no PCI network devices"
            return "network devices: " + ", ".join(
                "%s (%s%s)" % (n.address, n.vendor_device, ", " + n.netdevs[0].name if n.netdevs else "")
                for n in nics
            )

        resolved = []
        seen: Dict[str, int] = {}
        for index, sel in enumerate(prof["devices"]):
            path = self.f("dpdk", "devices", index)
            nic = None
            if "pci" in sel:
                nic = t.nic_by_address(sel["pci"])
                if nic is None:
                    self.fail(path + ".pci", "no network device at %s (%s)" % (sel["pci"], describe_all()))
                    continue
                selector = "pci: %s" % sel["pci"]
            elif "interface" in sel:
                nic = live_names.get(sel["interface"]) or hinted.get(sel["interface"])
                if nic is None:
                    known = sorted(set(live_names) | set(hinted))
                    self.fail(
                        path + ".interface",
                        "no network interface named %s on a PCI device (interfaces: %s); a device "
                        "already bound to a DPDK driver has no interface, select it by pci"
                        % (sel["interface"], ", ".join(known) if known else "none"),
                    )
                    continue
                selector = "interface: %s" % sel["interface"]
            else:
                matches = [n for n in nics if n.vendor_device == sel["id"]]
                if not matches:
                    ids = sorted({n.vendor_device for n in nics})
                    self.fail(
                        path + ".id",
                        "no network device with id %s (ids present: %s)"
                        % (sel["id"], ", ".join(ids) if ids else "none"),
                    )
                    continue
                if sel["index"] >= len(matches):
                    self.fail(
                        path + ".index",
                        "%s matches %d device%s (%s); index %d is out of range"
                        % (
                            sel["id"],
                            len(matches),
                            "" if len(matches) == 1 else "s",
                            ", ".join(n.address for n in matches),
                            sel["index"],
                        ),
                    )
                    continue
                nic = matches[sel["index"]]
                selector = "id: %s, index: %d" % (sel["id"], sel["index"])
            if nic.address in seen:
                self.fail(path, "selects %s again (already selected by %s)" % (
                    nic.address, self.f("dpdk", "devices", seen[nic.address])))
                continue
            seen[nic.address] = index
            target = sel.get("driver") or prof["driver"]
            netdev = nic.netdevs[0].name if nic.netdevs else self.netdev_names.get(nic.address)
            live = {d.name for d in nic.netdevs}
            if target != "kernel" and live & route:
                self.fail(
                    path,
                    "%s (%s) carries the default route: it looks like the management NIC, and "
                    "binding it to %s would cut this node off the network"
                    % (nic.address, ", ".join(sorted(live & route)), target),
                )
                continue
            node = self._node_of_nic(nic)
            resolved.append(
                {
                    "pci": nic.address,
                    "selector": selector,
                    "vendor_device": nic.vendor_device,
                    # (No current driver here: the plan is the desired state, and
                    # must be the same before and after the device is bound.)
                    "target_driver": target,
                    "numa_node": node,
                    "iommu_group": nic.iommu_group,
                    "iommu_group_devices": list(t.iommu_groups.get(nic.iommu_group, []))
                    if nic.iommu_group is not None
                    else [],
                    "netdev": netdev,
                    "_path": path,
                }
            )
        locality = self.p["numa"]["nic_locality"]
        for dev in resolved:
            if dev["numa_node"] is None and locality != "ignore":
                text = (
                    "the NUMA node of %s is unknown (its numa_node reads -1 on a machine with "
                    "%d NUMA nodes), so NIC locality cannot be checked" % (dev["pci"], len(self.node_ids))
                )
                if locality == "required":
                    self.fail(dev["_path"], text + "; set numa.nic_locality to preferred or ignore")
                else:
                    self.warn(text)
        return resolved

    def _dpdk_block(self, devices) -> Dict[str, Any]:
        prof = self.p["dpdk"]
        t = self.t
        vfio = any(d["target_driver"] == "vfio-pci" for d in devices)
        iommu_hw = t.iommu_active or t.iommu_firmware is not None
        mode = self.p["kernel"]["iommu"]
        x86 = t.cpu_vendor in INTEL + AMD
        if mode == "on":
            self.iommu_args = x86
            if not iommu_hw:
                self.warn(
                    "kernel.iommu is on but the firmware reports no IOMMU (no DMAR/IVRS ACPI table)"
                )
        elif mode == "off":
            self.iommu_args = False
        else:
            self.iommu_args = vfio and iommu_hw and x86
        # After the reboot the IOMMU is on if the plan turns it on, or if it is
        # on now without an owned argument (kernel default, e.g. AMD-Vi) that
        # the plan would drop.
        on_by_owned_arg = "intel_iommu=on" in t.cmdline.split()
        will_have_iommu = bool(self.iommu_args and iommu_hw) or (
            t.iommu_active and not (on_by_owned_arg and not self.iommu_args)
        )
        noiommu = False
        if vfio and not will_have_iommu:
            if prof["allow_noiommu"]:
                noiommu = True
                self.warn(
                    "vfio-pci runs in unsafe no-IOMMU mode (dpdk.allow_noiommu): devices get no "
                    "DMA isolation"
                )
            else:
                if mode == "off" and on_by_owned_arg:
                    why = (
                        "kernel.iommu is off (the IOMMU is on now only through intel_iommu=on, an "
                        "argument the collection owns and would remove)"
                    )
                elif mode == "off":
                    why = "kernel.iommu is off"
                else:
                    why = "this node has none (no IOMMU groups, no DMAR/IVRS ACPI table)"
                self.fail(
                    self.f("dpdk", "driver"),
                    "vfio-pci needs an IOMMU and %s; enable VT-d/AMD-Vi in the firmware, use "
                    "uio_pci_generic, or set dpdk.allow_noiommu: true for vfio's unsafe no-IOMMU mode" % why,
                )
        if vfio and will_have_iommu and not t.iommu_active:
            self.warn(
                "the running kernel has no IOMMU groups yet; vfio-pci binding works after the "
                "reboot that applies the planned IOMMU arguments"
            )
        selected = {d["pci"] for d in devices}
        for dev in devices:
            if dev["target_driver"] != "vfio-pci":
                continue
            others = [a for a in dev["iommu_group_devices"] if a not in selected]
            if others:
                self.warn(
                    "IOMMU group %s of %s also holds %s; vfio-pci needs every endpoint of a group "
                    "bound to vfio-pci or to no driver" % (dev["iommu_group"], dev["pci"], ", ".join(others))
                )
        public = []
        for dev in devices:
            entry = {k: v for k, v in dev.items() if not k.startswith("_")}
            public.append(entry)
        return {
            "driver": prof["driver"],
            "noiommu": noiommu,
            "iommu_active": t.iommu_active,
            "devices": public,
            "nic_nodes": list(self.nic_nodes),
        }

    # --------------------------------------------------------------- CPUs
    def _check_explicit(self, key: str, cpus: List[int]) -> List[int]:
        """Errors for CPUs that cannot be in an explicit set; returns the usable part."""
        path = self.f("cpu", key)
        online = set(self.online)
        unknown = [c for c in cpus if c not in self.known]
        if unknown:
            self.fail(path, "CPUs %s do not exist on this node (online: %s)" % (_cl(unknown), _cl(self.online)))
        planned = [c for c in cpus if c in self.offline_planned]
        if planned:
            self.fail(path, "CPUs %s are in cpu.offline, which takes them offline at every boot; %s"
                      % (_cl(planned), "a reserved CPU cannot be taken offline" if key == "reserved"
                         else "list only CPUs that stay online"))
            return [c for c in cpus if c in online and c not in self.secondaries]
        offline = [c for c in cpus if c in self.known and c not in online]
        if offline:
            self.fail(path, "CPUs %s are offline (online: %s)" % (_cl(offline), _cl(self.online)))
        secondary = [c for c in cpus if c in self.secondaries]
        if secondary:
            self.fail(
                path,
                "CPUs %s are SMT siblings that cpu.smt: disabled takes offline (nosmt); list only "
                "the first thread of each core (%s)" % (_cl(secondary), _cl(self.usable)),
            )
        if self.smt_enabled:
            chosen = set(cpus)
            halves = []
            for core in self.cores:
                inside = [c for c in core if c in chosen]
                if inside and len(inside) != len(core):
                    missing = [c for c in core if c not in chosen]
                    halves.append("%s without %s" % (_cl(inside), _cl(missing)))
            if halves:
                self.fail(
                    path,
                    "holds half cores: %s; with cpu.smt: enabled every set holds whole cores "
                    "(all SMT siblings), add the missing siblings or set cpu.smt: disabled"
                    % "; ".join(halves),
                )
        return [c for c in cpus if c in online and c not in self.secondaries]

    def _cores_by_node(self) -> Dict[int, List[List[int]]]:
        result: Dict[int, List[List[int]]] = {}
        for core in self.cores:
            result.setdefault(self.cpu_node[core[0]], []).append(core)
        return result

    def _auto_reserved(self) -> Optional[List[int]]:
        prof = self.p["cpu"]
        want = prof["reserved_cores"]
        spec = prof["reserved_numa"]
        by_node = self._cores_by_node()
        boot_node = self.cpu_node.get(BOOT_CPU)
        path_cores = self.f("cpu", "reserved_cores")
        reserved: List[int] = []
        if spec in ("spread",) or isinstance(spec, list):
            if spec == "spread":
                nodes = sorted(by_node)
            else:
                nodes = []
                path = self.f("cpu", "reserved_numa")
                for node in spec:
                    if node not in self.node_ids:
                        self.fail(path, "NUMA node %d does not exist (nodes: %s)" % (node, _cl(self.node_ids)))
                    elif node not in by_node:
                        self.fail(path, "NUMA node %d has no online CPUs" % node)
                    else:
                        nodes.append(node)
                if boot_node is not None and boot_node not in spec:
                    self.fail(
                        path,
                        "must include node %d, the node of boot CPU %d (the kernel keeps "
                        "timekeeping there, so it is always reserved)" % (boot_node, BOOT_CPU),
                    )
            short = [(node, len(by_node[node])) for node in nodes if want > len(by_node[node])]
            if short:
                node, have = short[0]
                self.fail(
                    path_cores,
                    "%d cores per node asked, but node %d has only %d online core%s%s"
                    % (want, node, have, "" if have == 1 else "s",
                       "".join(", node %d only %d" % other for other in short[1:])),
                )
                return None
            for node in nodes:
                for core in by_node[node][:want]:
                    reserved.extend(core)
            return sorted(reserved)
        # "first": as few nodes as possible, boot CPU's core first, then NIC-free nodes
        total = sum(len(v) for v in by_node.values())
        if want > total:
            self.fail(path_cores, "%d cores asked, but this node has only %d online cores" % (want, total))
            return None
        avoid = set(self.nic_nodes) if self.p["numa"]["nic_locality"] != "ignore" else set()
        order: List[List[int]] = []
        if BOOT_CPU in self.core_of and BOOT_CPU in self.usable:
            boot_core = [c for c in self.core_of[BOOT_CPU] if c in self.usable]
            order.append(boot_core)
        node_order = sorted(by_node, key=lambda n: (n in avoid, n != boot_node, n))
        for node in node_order:
            for core in by_node[node]:
                if core not in order:
                    order.append(core)
        for core in order[:want]:
            reserved.extend(core)
        return sorted(reserved)

    def _cpu_sets(self) -> Dict[str, Any]:
        prof = self.p["cpu"]
        usable = set(self.usable)
        reserved: Optional[List[int]] = None
        isolated: Optional[List[int]] = None
        explicit_ok = True
        if prof["reserved"] != "auto" and prof["isolated"] != "auto":
            both = sorted(set(parse_cpulist(prof["reserved"])) & set(parse_cpulist(prof["isolated"])))
            if both:
                # the one cause: half cores and the rest would follow from it
                self.fail(
                    self.f("cpu", "isolated"),
                    "CPUs %s are in both cpu.reserved and cpu.isolated" % _cl(both),
                )
                return {"reserved_list": [], "isolated_list": [], "public": {}}
        if prof["reserved"] != "auto":
            before = len(self.errors)
            reserved = self._check_explicit("reserved", parse_cpulist(prof["reserved"]))
            explicit_ok &= len(self.errors) == before
        if prof["isolated"] != "auto":
            before = len(self.errors)
            isolated = self._check_explicit("isolated", parse_cpulist(prof["isolated"]))
            explicit_ok &= len(self.errors) == before
        if reserved is None and isolated is None:
            before = len(self.errors)
            reserved = self._auto_reserved()
            if len(self.errors) > before:
                # the isolated set and CPU 0 would only repeat what went wrong here
                reserved = None
            if reserved is not None:
                isolated = sorted(usable - set(reserved))
        elif reserved is None:
            reserved = sorted(usable - set(isolated))
        elif isolated is None:
            isolated = sorted(usable - set(reserved))
        empty = {
            "reserved_list": [],
            "isolated_list": [],
            "public": {},
        }
        if reserved is None or isolated is None:
            return empty
        both = sorted(set(reserved) & set(isolated))
        if both:
            self.fail(
                self.f("cpu", "isolated"),
                "CPUs %s are in both cpu.reserved and cpu.isolated" % _cl(both),
            )
        if not explicit_ok:
            # the rules below would only repeat the problems already reported
            return empty
        if prof["reserved"] != "auto" and prof["isolated"] != "auto":
            left = sorted(usable - set(reserved) - set(isolated))
            if left:
                self.fail(
                    self.f("cpu"),
                    "CPUs %s are neither reserved nor isolated; every online CPU%s belongs to one "
                    "set (or set one of them to auto)"
                    % (_cl(left), "" if self.smt_enabled else " that stays online"),
                )
        # An empty set is the fault of the other set when only that one was given.
        derived_reserved = prof["reserved"] == "auto" and prof["isolated"] != "auto"
        derived_isolated = prof["isolated"] == "auto" and prof["reserved"] != "auto"
        if not reserved:
            self.fail(
                self.f("cpu", "isolated" if derived_reserved else "reserved"),
                "%s: the OS, kubelet and IRQs need at least one reserved CPU (isolated: %s, online: %s)"
                % ("leaves no housekeeping CPU" if derived_reserved else "no housekeeping CPU left",
                   _cl(isolated), _cl(self.online)),
            )
            # CPU 0 is then isolated too: a consequence, not reported
            return empty
        if not isolated:
            self.fail(
                self.f("cpu", "reserved" if derived_isolated else "isolated"),
                "%s (reserved: %s, online: %s)"
                % ("leaves no CPU to isolate" if derived_isolated else "no CPU left to isolate",
                   _cl(reserved), _cl(self.online)),
            )
            return empty
        if BOOT_CPU in isolated:
            self.fail(
                self.f("cpu", "reserved" if derived_isolated else "isolated"),
                "%sCPU %d is the boot CPU: the kernel keeps timekeeping on it and drops it from "
                "nohz_full, so it cannot be isolated; reserve it"
                % ("leaves CPU %d isolated, but " % BOOT_CPU if derived_isolated else "", BOOT_CPU),
            )
        by_node_iso: Dict[int, List[int]] = {}
        by_node_res: Dict[int, List[int]] = {}
        for c in isolated:
            by_node_iso.setdefault(self.cpu_node[c], []).append(c)
        for c in reserved:
            by_node_res.setdefault(self.cpu_node[c], []).append(c)
        locality = self.p["numa"]["nic_locality"]
        for node in self.nic_nodes:
            if by_node_iso.get(node):
                continue
            devs = ", ".join(d["pci"] for d in self.devices if d["numa_node"] == node)
            text = (
                "no isolated CPU on NUMA node %d, where DPDK device %s sits (isolated: %s)"
                % (node, devs, _cl(isolated) or "none")
            )
            if locality == "required":
                self.fail(self.f("cpu", "isolated"), text + "; numa.nic_locality is required")
            elif locality == "preferred":
                self.warn(text)
        cpu_nodes = sorted({self.cpu_node[c] for c in self.usable})

        def per_node(mapping):
            return [{"node": n, "cpus": _cl(mapping.get(n, []))} for n in cpu_nodes]

        preferred = []
        for node in self._node_preference(cpu_nodes):
            preferred.extend(by_node_iso.get(node, []))
        public = {
            "online": _cl(self.online),
            "offline": _cl(self.offline),
            "smt": prof["smt"],
            "isolation": prof["isolation"],
            "reserved": _cl(reserved),
            "isolated": _cl(isolated),
            "reserved_by_node": per_node(by_node_res),
            "isolated_by_node": per_node(by_node_iso),
            "isolated_preferred": preferred,
            "smt_siblings_offline": _cl(self.secondaries),
            # cpu.offline: taken offline at every boot, before the kubelet (runtime section cpu_offline)
            "offline_planned": _cl(self.offline_planned),
            "reserved_mask": format_mask(reserved, self.nbits),
            "isolated_mask": format_mask(isolated, self.nbits),
        }
        return {"reserved_list": reserved, "isolated_list": isolated, "public": public}

    def _node_preference(self, nodes: Sequence[int]) -> List[int]:
        """NIC nodes first, then the others by distance to the nearest NIC node."""
        nic = [n for n in self.nic_nodes if n in nodes]

        def key(node):
            if node in nic:
                return (0, 0, node)
            dists = [self.t.distance(n, node) for n in nic]
            dists = [d for d in dists if d is not None]
            return (1, min(dists) if dists else 0, node)

        return sorted(nodes, key=key)

    # ---------------------------------------------------------- hugepages
    def _hugepages(self, devices):
        t = self.t
        prof = self.p["hugepages"]
        supported = sorted(t.hugepage_sizes_kb)
        supported_names = ", ".join(size_name(s) for s in supported) or "none"
        default_kb = parse_size_kb(prof["default_size"])
        if default_kb not in supported:
            self.fail(
                self.f("hugepages", "default_size"),
                "%s pages are not supported by this machine (supported: %s)" % (prof["default_size"], supported_names),
            )
        memory_nodes = [n for n in self.memory_nodes if n in self.node_ids]
        wanted: Dict[Tuple[int, int], Tuple[int, int]] = {}  # (size_kb, node) -> (count, index)
        for index, page in enumerate(prof["pages"]):
            path = self.f("hugepages", "pages", index)
            size_kb = parse_size_kb(page["size"])
            ok = True
            if size_kb not in supported:
                self.fail(path + ".size", "%s pages are not supported by this machine (supported: %s)"
                          % (page["size"], supported_names))
                ok = False
            node = page["node"]
            if node == "all":
                nodes = memory_nodes
            elif node == "nic":
                if not devices:
                    self.fail(path + ".node", 'node: nic needs at least one dpdk.devices entry')
                    ok = False
                    nodes = []
                else:
                    unknown = [d["pci"] for d in devices if d["numa_node"] is None]
                    if unknown:
                        self.fail(path + ".node", "the NUMA node of %s is unknown, so node: nic cannot be "
                                  "resolved; give a node id" % ", ".join(unknown))
                        ok = False
                    nodes = list(self.nic_nodes)
            else:
                if node not in self.node_ids:
                    self.fail(path + ".node", "NUMA node %d does not exist (nodes: %s)" % (node, _cl(self.node_ids)))
                    ok = False
                nodes = [node]
            if not ok:
                continue
            for n in nodes:
                if (size_kb, n) in wanted:
                    other = wanted[(size_kb, n)][1]
                    self.fail(
                        path,
                        "asks for %s pages on node %d, which %s already does"
                        % (page["size"], n, self.f("hugepages", "pages", other)),
                    )
                    continue
                wanted[(size_kb, n)] = (page["count"], index)
        # fit check, per node
        for node in sorted({n for (_unused, n) in wanted}):
            info = t.node(node)
            if info is None or info.mem_total_kb is None:
                self.warn("memory size of NUMA node %d is unknown; hugepage fit not checked" % node)
                continue
            parts = []
            total_kb = 0
            for (size_kb, n), (count, index) in sorted(wanted.items(), key=lambda kv: (-kv[0][0], kv[0][1])):
                if n != node or count == 0:
                    continue
                total_kb += size_kb * count
                parts.append("%d x %s (pages[%d])" % (count, size_name(size_kb), index))
            mem = info.mem_total_kb
            margin = max(KERNEL_MARGIN_MIN_KB, int(mem * KERNEL_MARGIN_FRACTION))
            limit = max(mem - margin, 0)
            if total_kb > limit:
                self.fail(
                    self.f("hugepages", "pages"),
                    "node %d would get %s = %s of hugepages, but it has %s of memory and %s must stay "
                    "free for the kernel (the larger of 1 GiB and 10%%), so at most %s fit"
                    % (node, " + ".join(parts), _mib(total_kb), _mib(mem), _mib(margin), _mib(limit)),
                )
        # boot strategy
        release = t.kernel_release
        version = kernel_version(release)
        supports = version is not None and version >= PER_NODE_HUGEPAGES_MIN_KERNEL
        mode = prof["boot"]
        multi = len(memory_nodes) > 1
        if mode == "auto":
            mode = "per_node" if (supports and multi) else "total"
            reason = (
                "kernel %s %s per-node hugepages= (added in %d.%d)"
                % (release or "(unknown)", "supports" if supports else "predates",
                   PER_NODE_HUGEPAGES_MIN_KERNEL[0], PER_NODE_HUGEPAGES_MIN_KERNEL[1])
            )
            if not multi:
                reason = "single NUMA node: the total is the node's count"
        else:
            reason = "hugepages.boot: %s" % mode
            if mode == "per_node" and not supports:
                self.warn(
                    "hugepages.boot is per_node but kernel %s looks older than %d.%d, where per-node "
                    "hugepages= was added; it only works if the kernel has it backported"
                    % (release or "(unknown)", PER_NODE_HUGEPAGES_MIN_KERNEL[0], PER_NODE_HUGEPAGES_MIN_KERNEL[1])
                )
        entries = []
        sizes = sorted({s for (s, _unused) in wanted}, reverse=True)
        args: List[str] = ["default_hugepagesz=%s" % prof["default_size"]]
        for size_kb in sizes:
            # Every node with memory gets an entry (0 where nothing was asked),
            # so roles set and verify each node without deriving anything.
            counts = {n: 0 for n in memory_nodes}
            counts.update({n: c for (s, n), (c, _unused) in wanted.items() if s == size_kb})
            per_node = sorted(counts.items())
            total = sum(c for _unused, c in per_node)
            uniform = len({c for _unused, c in per_node}) == 1
            if mode == "per_node":
                at_boot = True
                spec = ",".join("%d:%d" % (n, c) for n, c in per_node if c > 0)
                if spec:
                    args += ["hugepagesz=%s" % size_name(size_kb), "hugepages=%s" % spec]
            elif mode == "total":
                at_boot = uniform or not multi
                if total > 0:
                    args += ["hugepagesz=%s" % size_name(size_kb), "hugepages=%d" % total]
            else:
                at_boot = False
            for n, c in per_node:
                entries.append(
                    {"size": size_name(size_kb), "size_kb": size_kb, "node": n, "count": c, "at_boot": at_boot}
                )
        boot = {
            "mode": mode,
            "reason": reason,
            "per_node_supported": supports,
            "runtime_allocation": any(not e["at_boot"] and e["count"] > 0 for e in entries),
        }
        used = sorted({e["size_kb"] for e in entries if e["count"] > 0} | {default_kb}, reverse=True)
        mounts = []
        for size_kb in sorted(used, key=lambda s: (s != default_kb, -s)):
            name = size_name(size_kb)
            mounts.append(
                {
                    "path": "/dev/hugepages" if size_kb == default_kb else "/dev/hugepages-%s" % name,
                    "pagesize": name,
                    "default": size_kb == default_kb,
                }
            )
        return entries, boot, args, mounts

    # -------------------------------------------------------------- power
    def _power(self):
        prof = self.p["power"]
        vendor = self.t.cpu_vendor
        args: List[str] = []
        if vendor not in INTEL + AMD and (prof["max_cstate"] is not None or prof["pstate"] is not None):
            self.warn(
                "CPU vendor %r is neither Intel nor AMD: power.max_cstate and power.pstate add no "
                "kernel arguments" % (vendor or "unknown")
            )
        if prof["max_cstate"] is not None:
            if vendor in INTEL:
                args.append("intel_idle.max_cstate=%d" % prof["max_cstate"])
            if vendor in INTEL + AMD:
                args.append("processor.max_cstate=%d" % prof["max_cstate"])
        if prof["idle_poll"]:
            args.append("idle=poll")
        if prof["pstate"] is not None:
            if vendor in INTEL:
                if prof["pstate"] == "guided":
                    self.fail(
                        self.f("power", "pstate"),
                        "guided is an amd_pstate mode; intel_pstate takes active, passive or disable",
                    )
                else:
                    args.append("intel_pstate=%s" % prof["pstate"])
            elif vendor in AMD:
                args.append("amd_pstate=%s" % prof["pstate"])
                need = AMD_PSTATE_MIN_KERNEL[prof["pstate"]]
                version = kernel_version(self.t.kernel_release)
                if version is not None and version < need:
                    self.warn(
                        "amd_pstate=%s needs kernel %d.%d or a backport; kernel %s without one ignores it"
                        % (prof["pstate"], need[0], need[1], self.t.kernel_release)
                    )
        power = {
            "governor": prof["governor"],
            "max_cstate": prof["max_cstate"],
            "idle_poll": prof["idle_poll"],
            "pstate": prof["pstate"],
            "pstate_driver": "intel_pstate" if vendor in INTEL else ("amd_pstate" if vendor in AMD else None),
            "energy_perf_bias": prof["energy_perf_bias"],
            "energy_performance_preference": prof["energy_performance_preference"],
            "min_perf_pct": prof["min_perf_pct"],
            "cpus": _cl(self.usable),
        }
        return power, args

    # ------------------------------------------------------- kernel args
    def _kernel_args(self, cpu, dpdk, hp_args, power_args) -> List[str]:
        k = self.p["kernel"]
        reserved = _cl(cpu["reserved_list"])
        isolated = _cl(cpu["isolated_list"])
        args: List[str] = []
        if isolated:
            flags = "managed_irq,domain" if self.p["cpu"]["isolation"] == "static" else "managed_irq"
            args += [
                "isolcpus=%s,%s" % (flags, isolated),
                "nohz=on",
                "nohz_full=%s" % isolated,
                "rcu_nocbs=%s" % isolated,
            ]
        if reserved:
            args += ["irqaffinity=%s" % reserved, "systemd.cpu_affinity=%s" % reserved]
        args.append("rcupdate.rcu_normal_after_boot=1")
        if getattr(self, "iommu_args", False):
            if self.t.cpu_vendor in INTEL:
                args.append("intel_iommu=on")
            # AMD-Vi is on by default when the firmware enables it; amd_iommu=
            # has no "on" value, so only passthrough is set there.
            args.append("iommu=pt")
        args += hp_args
        args.append("transparent_hugepage=%s" % k["thp"])
        if k["nosoftlockup"]:
            args.append("nosoftlockup")
        if not k["nmi_watchdog"]:
            args.append("nmi_watchdog=0")
        if k["skew_tick"]:
            args.append("skew_tick=1")
        if k["tsc_reliable"]:
            if self.t.cpu_vendor in INTEL + AMD:
                args.append("tsc=reliable")
            else:
                self.warn("kernel.tsc_reliable is x86 only; no tsc= argument for CPU vendor %r"
                          % (self.t.cpu_vendor or "unknown"))
        if k["mce_ignore_ce"]:
            # The boot argument rather than machinecheck*/ignore_ce at runtime:
            # the kernel's switch is one for all CPUs (mca_cfg.ignore_ce), in
            # force before the first polling timer is armed and for every CPU
            # brought online later, and it needs no machine-check sysfs (absent
            # on virtual machines without MCE).
            if self.t.cpu_vendor in INTEL + AMD:
                args.append("mce=ignore_ce")
            else:
                self.warn("kernel.mce_ignore_ce is x86 only; no mce= argument for CPU vendor %r"
                          % (self.t.cpu_vendor or "unknown"))
        args += power_args
        if not self.smt_enabled:
            args.append("nosmt")
        args += k["extra_args"]
        return args

    # ------------------------------------------------------------ kubelet
    def _kubelet(self, cpu) -> Dict[str, Any]:
        k = self.p["kubelet"]
        numa = self.p["numa"]
        reserved = cpu["reserved_list"]
        static = k["cpu_manager_policy"] == "static"
        result = {
            # The none policy takes no options (the kubelet refuses to start with any).
            "cpuManagerPolicy": k["cpu_manager_policy"],
            "cpuManagerPolicyOptions": dict(k["cpu_manager_policy_options"]) if static else {},
            "reservedSystemCPUs": _cl(reserved),
            "topologyManagerPolicy": numa["topology_policy"],
            "topologyManagerScope": numa["topology_scope"],
            "topologyManagerPolicyOptions": dict(numa["topology_policy_options"]),
            "memoryManagerPolicy": k["memory_manager_policy"],
            "systemReserved": {"memory": k["system_reserved_memory"]},
            "kubeReserved": {"memory": k["kube_reserved_memory"]},
            "evictionHard": {"memory.available": k["eviction_hard_memory"]},
            "reservedMemory": [],
        }
        if k["memory_manager_policy"] == "Static":
            total = sum(
                parse_quantity_bytes(k[key])
                for key in ("system_reserved_memory", "kube_reserved_memory", "eviction_hard_memory")
            )
            if total == 0:
                self.fail(
                    self.f("kubelet", "memory_manager_policy"),
                    "Static needs some reserved memory; system_reserved_memory, kube_reserved_memory "
                    "and eviction_hard_memory are all zero",
                )
            node = self.cpu_node.get(reserved[0], 0) if reserved else 0
            result["reservedMemory"] = [{"numaNode": node, "limits": {"memory": format_quantity(total)}}]
        return result

    # -------------------------------------------------------------- misc
    def _sysctl(self) -> Dict[str, str]:
        values = dict(PLANNED_SYSCTL)
        if not self.p["kernel"]["nmi_watchdog"]:
            values["kernel.nmi_watchdog"] = "0"
        if self.p["kernel"]["realtime_scheduling"]:
            # no RT throttling: a SCHED_FIFO busy-poll thread keeps its CPU the
            # whole second instead of leaving 5% to lower classes
            values["kernel.sched_rt_runtime_us"] = "-1"
        values.update(self.p["sysctl"])
        return dict(sorted(values.items()))

    def _latency_gate(self, cpu) -> Dict[str, Any]:
        gate = self.p["latency_gate"]
        isolated = cpu["isolated_list"]
        cpus = isolated
        if gate["cpus"] != "auto":
            cpus = parse_cpulist(gate["cpus"])
            outside = sorted(set(cpus) - set(isolated))
            if outside and isolated:
                self.fail(
                    self.f("latency_gate", "cpus"),
                    "CPUs %s are not isolated (isolated: %s); the gate measures isolated CPUs"
                    % (_cl(outside), _cl(isolated)),
                )
        return {
            "enabled": gate["enabled"],
            "tool": gate["tool"],
            "duration_s": gate["duration_s"],
            "max_us": gate["max_us"],
            "cpus": _cl(cpus),
        }

    def _layout(self) -> Dict[str, Any]:
        """Where every CPU sits: each physical core with its socket, NUMA node
        and threads (online ones, and offline ones whose core the kernel still
        shows), and each NUMA node with its memory and its CPUs (an offline CPU
        whose core is unknown is only in its node's list).  The node picture
        draws this; nothing is decided from it."""
        t = self.t
        online = set(self.online)
        # The cores as they stay online (without cpu.offline's CPUs, which are
        # only in their node's list: the same before and after they go offline).
        cores = [list(core) for core in self.online_cores]
        planned = set(self.offline_planned)
        key_of = {}
        for core in cores:
            first = t.cpu(core[0])
            if first is not None and first.package is not None and first.core is not None:
                key_of[(first.package, first.die, first.core)] = core
        for cpu_id in self.offline:
            cpu = t.cpu(cpu_id)
            if cpu_id in planned:
                continue
            if cpu is not None and cpu.package is not None and cpu.core is not None:
                core = key_of.get((cpu.package, cpu.die, cpu.core))
                if core is None:
                    core = key_of[(cpu.package, cpu.die, cpu.core)] = []
                    cores.append(core)
                core.append(cpu_id)
        cpu_node = dict(self.cpu_node)
        for cpu_id in self.offline:
            cpu = t.cpu(cpu_id)
            if cpu is not None and cpu.node is not None:
                cpu_node.setdefault(cpu_id, cpu.node)
        rows = []
        for core in sorted((sorted(c) for c in cores), key=lambda c: c[0]):
            anchor = next((c for c in core if c in online), core[0])
            cpu = t.cpu(anchor)
            rows.append({
                "socket": cpu.package if cpu is not None else None,
                "node": cpu_node.get(anchor),
                "cpus": _cl(core),
            })
        nodes = []
        for node_id in self.node_ids:
            info = t.node(node_id)
            mem_kb = info.mem_total_kb if info is not None else None
            nodes.append({
                "node": node_id,
                "memory_mib": None if mem_kb is None else mem_kb // 1024,
                "cpus": _cl(c for c, n in cpu_node.items() if n == node_id),
            })
        return {"cores": rows, "nodes": nodes}

    def _summary(self) -> Dict[str, Any]:
        t = self.t
        online = set(self.online)
        packages = sorted({c.package for c in t.cpus if c.id in online and c.package is not None})
        core_sizes = [len(core) for core in self.online_cores]
        return {
            "kernel_release": t.kernel_release,
            "cpu_vendor": t.cpu_vendor,
            "sockets": len(packages),
            "numa_nodes": list(self.node_ids),
            "numa_sysfs": t.numa_sysfs,
            "cores_online": len(core_sizes),
            "threads_per_core": max(core_sizes) if core_sizes else 0,
            "cpus_online": len(self.online),
            "cpus_possible": _cl(t.cpus_possible),
            "smt_active": t.smt_active,
            "smt_active_source": t.smt_active_source,
            "hugepage_sizes": [size_name(s) for s in sorted(t.hugepage_sizes_kb)],
            "iommu_active": t.iommu_active,
            "iommu_firmware_table": t.iommu_firmware,
            "network_devices": [n.address for n in sorted(t.nics, key=lambda n: n.address)],
            "default_route_interfaces": list(t.default_route_interfaces),
        }
