# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The applier's sections irq (default and per-IRQ affinity; managed IRQs refuse with EIO: skipped and
counted), workqueue (unbound workqueues' cpumask, global and per workqueue) and rps (receive packet
steering): housekeeping on the reserved CPUs.

Each is read (``read_irq``, ``read_workqueue``, ``read_rps``), decided
(``decide_irq``, ``decide_workqueue``, ``decide_rps``: pure) and carried out by
the writer of core.py.
"""

from __future__ import annotations

import fnmatch

from ansible_collections.bot4.hft.plugins.module_utils.cpuset import (
    format_cpulist,
    format_mask,
    parse_cpulist,
    parse_mask,
)
from ansible_collections.bot4.hft.plugins.module_utils.node.core import (
    DONE,
    EIO,
    ConfigError,
    carry_out_decision,
    check_keys,
    cpus_option,
    message,
    set_action,
)


# ------------------------------------------------------------------------ irq
MANAGED_STATE_FILE = "managed-irqs.json"
DEFAULT_AFFINITY = "/proc/irq/default_smp_affinity"


def irq_settings(cfg):
    check_keys(cfg, "irq", ("default_cpus", "cpus", "policy"))
    default_cpus = cpus_option(cfg, "default_cpus", "irq", required=False)
    cpus = cpus_option(cfg, "cpus", "irq", required=False)
    policy = cfg.get("policy", "intersect")
    if policy not in ("intersect", "replace"):
        raise ConfigError("irq.policy must be intersect or replace")
    if default_cpus is not None and not default_cpus:
        raise ConfigError("irq.default_cpus is empty")
    if cpus is not None and not cpus:
        raise ConfigError("irq.cpus is empty")
    return {"default_cpus": default_cpus, "cpus": cpus, "policy": policy}


def read_irq(ctx, cfg):
    """default_affinity: /proc/irq/default_smp_affinity (None: missing);
    irqs: [[irq, its smp_affinity_list or None]] of every IRQ, when IRQs are to
    be moved; managed: the IRQs that refused a new affinity earlier in this
    boot, in check mode only (apply tries them again: an IRQ number can be
    reused by another device)."""
    current = {"default_affinity": None, "irqs": None, "managed": []}
    if cfg["default_cpus"] is not None:
        current["default_affinity"] = ctx.read(DEFAULT_AFFINITY)
    if cfg["cpus"] is not None:
        irqs = sorted(int(name) for name in ctx.listdir("/proc/irq") if name.isdigit())
        current["irqs"] = [[irq, ctx.read("/proc/irq/%d/smp_affinity_list" % irq)] for irq in irqs]
        if ctx.check:
            known = ctx.load_state(MANAGED_STATE_FILE, "irqs")
            current["managed"] = sorted(set(i for i in known if isinstance(i, int))) if isinstance(known, list) else []
    return current


def decide_irq(cfg, current):
    """actions (each IRQ's ``set`` carries its number, ``irq``), irqs_total, and
    managed: the IRQs outside the set left alone because they refused before."""
    actions = []
    if cfg["default_cpus"] is not None:
        text = current["default_affinity"]
        if text is None:
            actions.append(message("error", "%s is missing" % DEFAULT_AFFINITY))
        elif parse_mask(text) != cfg["default_cpus"]:
            actions.append(set_action(DEFAULT_AFFINITY, text, format_mask(cfg["default_cpus"]), "mask"))
    if cfg["cpus"] is None:
        return {"actions": actions}
    target = set(cfg["cpus"])
    known = set(current["managed"])
    managed = []
    for irq, text in current["irqs"]:
        path = "/proc/irq/%d/smp_affinity_list" % irq
        if text is None:
            continue
        try:
            affinity = set(parse_cpulist(text))
        except ValueError:
            actions.append(message("error", "%s reads %r, not a cpulist" % (path, text)))
            continue
        if affinity <= target:
            continue
        if irq in known:
            managed.append(irq)
            continue
        inside = affinity & target
        new = sorted(inside) if (cfg["policy"] == "intersect" and inside) else sorted(target)
        # EIO: the kernel manages this IRQ's affinity (multi-queue devices);
        # isolcpus=managed_irq keeps it off the isolated CPUs.
        actions.append(set_action(path, text, format_cpulist(new), "cpulist", accept_eio=True, irq=irq))
    return {"actions": actions, "irqs_total": len(current["irqs"]), "managed": managed}


def section_irq(sec, cfg):
    cfg = irq_settings(cfg)
    decision = decide_irq(cfg, read_irq(sec.ctx, cfg))
    outcomes = carry_out_decision(sec, decision)
    if cfg["cpus"] is None:
        return
    done = list(zip(decision["actions"], outcomes))
    managed = set(decision["managed"]) | set(a["irq"] for a, outcome in done if outcome == EIO)
    if not sec.ctx.check:
        sec.ctx.save_state(MANAGED_STATE_FILE, "irqs", sorted(managed))
    sec.data["irqs_total"] = decision["irqs_total"]
    sec.data["irqs_moved"] = sum(1 for a, outcome in done if "irq" in a and outcome == DONE)
    sec.data["managed_skipped"] = len(managed)
    sec.data["managed_irqs"] = sorted(managed)
    # For verify and drift: what they are and where they may run.
    sec.data["unmovable_irqs"] = [
        {"irq": irq, "name": sec.ctx.read("/sys/kernel/irq/%d/actions" % irq) or "",
         "cpus": sec.ctx.read("/proc/irq/%d/smp_affinity_list" % irq) or "",
         "effective": sec.ctx.read("/proc/irq/%d/effective_affinity_list" % irq) or ""}
        for irq in sorted(managed)]
    if managed:
        sec.notice("%d managed IRQ(s) keep their kernel-chosen affinity (isolcpus=managed_irq keeps "
                   "them off isolated CPUs): %s" % (len(managed), format_cpulist(managed)))


# ------------------------------------------------------------------ workqueue
WORKQUEUE_DIR = "/sys/devices/virtual/workqueue"
WORKQUEUE_CPUMASK = WORKQUEUE_DIR + "/cpumask"


def workqueue_settings(cfg):
    check_keys(cfg, "workqueue", ("cpus",))
    cpus = cpus_option(cfg, "cpus", "workqueue")
    if not cpus:
        raise ConfigError("workqueue.cpus is empty")
    return {"cpus": cpus}


def read_workqueue(ctx, cfg):
    """cpumask: the unbound workqueues' global mask (None: missing); queues:
    [[name, its own cpumask]] of each workqueue that has one (WQ_SYSFS)."""
    queues = []
    for name in ctx.listdir(WORKQUEUE_DIR):
        text = ctx.read("%s/%s/cpumask" % (WORKQUEUE_DIR, name))
        if name != "cpumask" and text is not None:
            queues.append([name, text])
    return {"cpumask": ctx.read(WORKQUEUE_CPUMASK), "queues": queues}


def decide_workqueue(cfg, current):
    """The global mask first (a workqueue's own mask must lie inside it), then each workqueue's."""
    text = current["cpumask"]
    if text is None:
        return {"actions": [message("skip", "%s does not exist on this kernel: unbound workqueues not restricted"
                                    % WORKQUEUE_CPUMASK)]}
    actions = []
    for path, mask in [(WORKQUEUE_CPUMASK, text)] + [
            ("%s/%s/cpumask" % (WORKQUEUE_DIR, name), mask) for name, mask in current.get("queues", [])]:
        if parse_mask(mask) != cfg["cpus"]:
            actions.append(set_action(path, mask, format_mask(cfg["cpus"]), "mask"))
    return {"actions": actions}


def section_workqueue(sec, cfg):
    cfg = workqueue_settings(cfg)
    carry_out_decision(sec, decide_workqueue(cfg, read_workqueue(sec.ctx, cfg)))


# ------------------------------------------------------------------------ rps
def rps_settings(cfg):
    check_keys(cfg, "rps", ("cpus", "include", "exclude"))
    cpus = cpus_option(cfg, "cpus", "rps")
    include = cfg.get("include", ["*"])
    exclude = cfg.get("exclude", ["lo"])
    for key, value in (("include", include), ("exclude", exclude)):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError("rps.%s must be a list of interface name patterns" % key)
    return {"cpus": cpus, "include": include, "exclude": exclude}


def read_rps(ctx, cfg):
    """{interface: {receive queue: its rps_cpus, None when it has none}}, every interface."""
    current = {}
    for name in ctx.listdir("/sys/class/net"):
        base = "/sys/class/net/%s/queues" % name
        current[name] = dict((queue, ctx.read("%s/%s/rps_cpus" % (base, queue)))
                             for queue in ctx.listdir(base) if queue.startswith("rx-"))
    return current


def decide_rps(cfg, current):
    actions = []
    queues = 0
    for name in sorted(current):
        if not any(fnmatch.fnmatchcase(name, p) for p in cfg["include"]):
            continue
        if any(fnmatch.fnmatchcase(name, p) for p in cfg["exclude"]):
            continue
        for queue in sorted(current[name]):
            text = current[name][queue]
            if text is None:
                continue
            queues += 1
            if parse_mask(text) != cfg["cpus"]:
                path = "/sys/class/net/%s/queues/%s/rps_cpus" % (name, queue)
                actions.append(set_action(path, text, format_mask(cfg["cpus"]), "mask"))
    if not queues:
        actions.append(message("notice", "no receive queue with rps_cpus found (no matching interface, or a "
                                         "kernel without RPS)"))
    return {"actions": actions, "data": {"rx_queues": queues}}


def section_rps(sec, cfg):
    cfg = rps_settings(cfg)
    carry_out_decision(sec, decide_rps(cfg, read_rps(sec.ctx, cfg)))
