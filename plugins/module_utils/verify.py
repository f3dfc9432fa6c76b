# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""verify(plan, state) -> differences: the node's live state against its plan.

A pure function (no I/O): ``state`` is what bot4.hft.node_state_info read on
the node in one pass.  Each difference is an item ``{area, item, expected,
actual}``; no item means the node is in its plan.  The verify role, drift.yml
and the tuning run's fast path all use it (through the filter
bot4.hft.node_differences), and the unit tests run it on recorded states.

Parts (each can be left out with ``parts``):

  kernel    /proc/cmdline against the planned arguments (every owned key the
            plan does not give must be absent), the kernel's isolated and
            nohz_full sets, the CPUs of cpu.offline offline, what the bootloader would change
            (``state.bootloader``: the kernel_cmdline module's actions in
            check mode), and the kind of kernel running (``state.kernel``:
            ``uname -v`` says PREEMPT_RT exactly when the plan wants the
            real-time kernel; a generic plan owns the choice too, so a node
            running a PREEMPT_RT kernel under it differs)
  runtime   the applier and its boot unit installed, its configuration equal to
            the plan's runtime sections, and nothing the applier would change
  affinity  PID 1, the confined slices' cpusets and every user-space process
            outside the kubelet's pods on the reserved CPUs (what the sweep
            left: a process whose name matches its deny list is no stray)
  kubelet   the kubelet's settings and checkpoints (``state.kubelet``) against
            the plan's (``kubelet.py``); nothing on a node without a kubelet

node_status(items, record, boot_id, plan_sha256) tells a node pending a reboot
(a tuning run in hft_tune_mode=deferred wrote its boot-time state during the
boot running now) from one that differs: the differences a reboot resolves
apart from those in the boot-time state itself.
"""

from __future__ import annotations

import fnmatch
from typing import Any, Dict, Iterable, List, Optional

from ansible_collections.bot4.hft.plugins.module_utils.cpuset import parse_cpulist
from ansible_collections.bot4.hft.plugins.module_utils.kernel_cmdline import (
    arg_value,
    missing_and_unexpected,
    owned_keys_for,
)
from ansible_collections.bot4.hft.plugins.module_utils.kubelet import compare as compare_kubelet

PARTS = ("kernel", "runtime", "affinity", "kubelet")
# How many stray processes are listed one by one (the rest are counted).
MAX_STRAYS = 10
APPLIER = "/usr/local/sbin/bot4-hft-runtime"
UNIT = "bot4-hft-runtime.service"
CONFIG_DIR = "/etc/bot4-hft/runtime.d"


def _item(area: str, item: str, expected: Any, actual: Any) -> Dict[str, Any]:
    return {"area": area, "item": item, "expected": expected, "actual": actual}


def _cpus(text: Optional[str]) -> List[int]:
    try:
        return parse_cpulist(text or "")
    except ValueError:
        return [-1]  # unreadable: never equal to a planned set


def _kernel(plan: Dict[str, Any], state: Dict[str, Any]) -> List[Dict[str, Any]]:
    bootloader = state.get("bootloader") or {}
    items = [_item("kernel args", "bootloader configuration", "the planned arguments", action)
             for action in bootloader.get("actions") or []]
    cmdline = state.get("cmdline") or []
    owned = owned_keys_for(plan["kernel_args"], plan["kernel_arg_keys"])
    missing, unexpected = missing_and_unexpected(cmdline, plan["kernel_args"], owned)
    items += [_item("kernel args", arg, "in /proc/cmdline", "missing") for arg in missing]
    items += [_item("kernel args", arg, "not in /proc/cmdline", "present") for arg in unexpected]
    static = plan["cpu"].get("isolation", "static") == "static"
    want = plan["cpu"]["isolated"] if static else ""
    if _cpus(want) != _cpus(state.get("isolated")):
        items.append(_item("isolated set", "/sys/devices/system/cpu/isolated", want, state.get("isolated")))
    nohz = arg_value(plan["kernel_args"], "nohz_full", "")
    if _cpus(nohz) != _cpus(state.get("nohz_full")):
        items.append(_item("isolated set", "/sys/devices/system/cpu/nohz_full", nohz, state.get("nohz_full")))
    items += _offline(plan, state)
    items += _kernel_kind(plan, state)
    return items


def _offline(plan: Dict[str, Any], state: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The CPUs of cpu.offline are offline (a state read without ``offline``,
    by an older node_state_info, gives no item)."""
    want = plan["cpu"].get("offline_planned") or ""
    if not want or "offline" not in state:
        return []
    online = sorted(set(_cpus(want)) - set(_cpus(state.get("offline"))))
    if not online:
        return []
    return [_item("offline CPUs", "/sys/devices/system/cpu/offline", "holds %s" % want,
                  "%s (CPUs %s online)" % (state.get("offline") or "", ",".join(str(c) for c in online)))]


def _kernel_kind(plan: Dict[str, Any], state: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The running kernel's kind against ``plan.kernel.realtime`` (a state read
    without ``kernel``, by an older node_state_info, gives no item)."""
    kernel = state.get("kernel")
    if kernel is None or "kernel" not in plan:
        return []
    want = bool(plan["kernel"]["realtime"])
    if bool(kernel.get("realtime")) == want:
        return []
    expected = "PREEMPT_RT" if want else "a kernel without PREEMPT_RT"
    actual = "%s (%s)" % (kernel.get("release") or "?", kernel.get("version") or "?")
    return [_item("kernel", "running kernel (uname -v)", expected, actual)]


def _runtime(plan: Dict[str, Any], state: Dict[str, Any]) -> List[Dict[str, Any]]:
    runtime = state.get("runtime") or {}
    items = []
    # A configuration that cannot be read is there, but gives no report.
    if not runtime.get("installed") or (runtime.get("config") is None and not runtime.get("error")):
        items.append(_item("runtime", APPLIER, "installed, with %s" % CONFIG_DIR, "missing"))
    else:
        planned = plan.get("runtime") or {}
        for name, config in sorted((runtime.get("config") or {}).items()):
            if name in planned and planned[name] != config:
                items.append(_item("runtime", "%s: section %s" % (CONFIG_DIR, name), planned[name], config))
        report = runtime.get("report")
        if report is None:
            items.append(_item("runtime", "bot4-hft-runtime --check", "a report", runtime.get("error") or ""))
        else:
            for name, section in report.get("sections", {}).items():
                items += [_item(name, change["path"], change["after"], change["before"])
                          for change in section.get("changes", [])]
                items += [_item(name, "error", "none", error) for error in section.get("errors", [])]
    unit = state.get("unit") or {}
    if unit.get("UnitFileState") != "enabled":
        items.append(_item("runtime", UNIT, "enabled", unit.get("UnitFileState") or "missing"))
    if unit.get("Result") not in ("success", "", None):
        items.append(_item("runtime", UNIT + " at boot", "success", unit.get("Result")))
    return items


def _affinity(plan: Dict[str, Any], state: Dict[str, Any]) -> List[Dict[str, Any]]:
    affinity = state.get("affinity") or {}
    reserved_text = plan["cpu"]["reserved"]
    reserved = _cpus(reserved_text)
    items = []
    # systemd puts itself on systemd.cpu_affinity= when the kernel booted with it.
    pid1_want = arg_value(state.get("cmdline") or [], "systemd.cpu_affinity") or reserved_text
    if _cpus(affinity.get("pid1")) != _cpus(pid1_want):
        items.append(_item("affinity", "PID 1", pid1_want, affinity.get("pid1")))
    for name, cpus in sorted((affinity.get("slices") or {}).items()):
        if _cpus(cpus) != reserved:
            items.append(_item("affinity", "/sys/fs/cgroup/%s/cpuset.cpus.effective" % name, reserved_text, cpus))
    # what the sweep leaves on purpose (housekeeping.sweep_deny) is no stray
    deny = ((plan.get("runtime") or {}).get("sweep") or {}).get("deny") or []
    strays = [p for p in affinity.get("processes") or [] if set(_cpus(p.get("cpus"))) - set(reserved)
              and not any(fnmatch.fnmatchcase(p.get("comm") or "", pattern) for pattern in deny)]
    for proc in strays[:MAX_STRAYS]:
        items.append(_item("affinity", "pid %s (%s, %s)" % (proc.get("pid"), proc.get("comm"), proc.get("cgroup")),
                           reserved_text, proc.get("cpus")))
    if len(strays) > MAX_STRAYS:
        items.append(_item("affinity", "%d more processes" % (len(strays) - MAX_STRAYS), reserved_text,
                           "isolated CPUs allowed"))
    return items


def _kubelet(plan: Dict[str, Any], state: Dict[str, Any]) -> List[Dict[str, Any]]:
    if not state.get("kubelet"):
        return []
    differences = compare_kubelet(plan["kubelet"], state["kubelet"])["differences"]
    return [_item("kubelet", k["item"], k["expected"], k["actual"]) for k in differences]


def unmovable(state: Dict[str, Any]) -> List[Dict[str, Any]]:
    """What the kernel keeps where it is and the node's applier therefore left
    (not a difference; the runtime part's check report names them): IRQs the
    kernel manages per queue (isolcpus=managed_irq keeps their effective
    CPUs off the isolated ones where it can), and kernel threads that refuse a
    new affinity (unbound workqueue workers and rescuers, which follow the
    workqueue cpumasks).  Items ``{kind, item, cpus, effective}``."""
    report = (state.get("runtime") or {}).get("report") or {}
    sections = report.get("sections") or {}
    items = [{"kind": "managed IRQ", "item": "IRQ %d %s" % (q["irq"], q.get("name") or ""),
              "cpus": q.get("cpus"), "effective": q.get("effective")}
             for q in (sections.get("irq") or {}).get("unmovable_irqs") or []]
    items += [{"kind": "kernel-bound thread", "item": "%s (pid %d)" % (t["comm"], t["pid"]),
               "cpus": t.get("cpus"), "effective": None}
              for t in (sections.get("kthread") or {}).get("kthreads_kernel_bound") or []]
    return items


# What a tuning run in hft_tune_mode=deferred writes for the next boot
# (playbooks/tune_nodes.yml): a difference there is not one the reboot
# resolves.  Every other difference is the running system's (the kernel's
# command line and isolated sets, what the boot unit applies, the affinities
# systemd gives at boot, the kubelet's checkpoints), which the next boot
# brings in line from that boot-time state.
BOOT_STATE_ITEMS = (
    ("kernel args", "bootloader configuration"),
    ("runtime", APPLIER),
    ("runtime", UNIT),
    ("runtime", "bot4-hft-runtime --check"),
)
STATUS_IN_PLAN = "in plan"
STATUS_PENDING = "pending reboot"
STATUS_DIFFERS = "differs"


def boot_state_item(item: Dict[str, Any]) -> bool:
    """Whether the difference ``item`` is in the boot-time state a deferred
    run writes (the bootloader, the applier, its configuration and boot unit,
    the kubelet's configuration), which a reboot does not change."""
    area, name = item.get("area"), str(item.get("item") or "")
    if (area, name) in BOOT_STATE_ITEMS:
        return True
    if area == "runtime" and name.startswith(CONFIG_DIR + ":"):
        return True
    return area == "kubelet" and name != "checkpoints"


def pending_reboot(record: Optional[Dict[str, Any]], boot_id: Optional[str], plan_sha256: str) -> bool:
    """Whether the node's record says that a deferred run wrote this plan's
    boot-time state during the boot running now (the same boot id): once the
    node has booted again, or the plan has changed, the flag no longer counts."""
    if not isinstance(record, dict) or record.get("pending_reboot") is not True:
        return False
    recorded = str(record.get("boot_id") or "").strip()
    return bool(recorded) and recorded == str(boot_id or "").strip() and record.get("plan_sha256") == plan_sha256


def node_status(items: List[Dict[str, Any]], record: Optional[Dict[str, Any]], boot_id: Optional[str],
                plan_sha256: str) -> Dict[str, Any]:
    """The node's status from its differences (``verify``) and its record.

    ``status`` is "in plan" (no difference), "pending reboot" (the record is
    pending for this boot and plan, and every difference is one the reboot
    resolves) or "differs".  ``pending_reboot`` is the record's flag as it
    counts now; ``boot_state`` the differences in the boot-time state (a
    reboot keeps them) and ``at_reboot`` the others (a reboot from the planned
    boot-time state resolves them)."""
    pending = pending_reboot(record, boot_id, plan_sha256)
    boot = [item for item in items if boot_state_item(item)]
    later = [item for item in items if not boot_state_item(item)]
    if pending and not boot:
        status = STATUS_PENDING
    elif items:
        status = STATUS_DIFFERS
    else:
        status = STATUS_IN_PLAN
    return {"status": status, "pending_reboot": pending, "boot_state": boot, "at_reboot": later}


def verify(plan: Dict[str, Any], state: Dict[str, Any], parts: Iterable[str] = PARTS) -> List[Dict[str, Any]]:
    """Every difference between ``plan`` and ``state``, in the order of PARTS."""
    parts = set(parts)
    unknown = parts - set(PARTS)
    if unknown:
        raise ValueError("unknown verify parts: %s (known: %s)" % (", ".join(sorted(unknown)), ", ".join(PARTS)))
    items: List[Dict[str, Any]] = []
    if "kernel" in parts:
        items += _kernel(plan, state)
    if "runtime" in parts:
        items += _runtime(plan, state)
    if "affinity" in parts:
        items += _affinity(plan, state)
    if "kubelet" in parts:
        items += _kubelet(plan, state)
    return items
