# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The applier's section sweep: every running user-space thread allowed on a
CPU outside ``cpus`` (the reserved CPUs) onto them, as the Node Tuning
Operator does once when its profile is applied.  The housekeeping role runs it
in every tuning run; the boot unit does not (at boot, services start in the
slices confined to the reserved CPUs).

Left alone: the threads of processes in a cgroup whose path holds one of
``keep_cgroups`` (the kubelet's pods: ``kubepods``), and threads whose name, or
whose process's name, matches a pattern of ``deny`` (DPDK lcores and PMD
threads, virtual machines' vCPUs ...); both are counted in the report.

``read_sweep`` lists the threads (/proc/PID/task/TID), ``decide_sweep`` (pure)
decides, and the writer of core.py sets each new affinity (``affinity``
actions with ``task: "user"``): it re-reads the thread just before, and
refuses a kernel thread or a thread that is no longer the one it read.
"""

from __future__ import annotations

import fnmatch

from ansible_collections.bot4.hft.plugins.module_utils.cpuset import parse_cpulist
from ansible_collections.bot4.hft.plugins.module_utils.node.core import (
    ConfigError,
    affinity_action,
    carry_out_decision,
    check_keys,
    cpus_option,
    message,
    read_online_cpus,
    read_task,
    runs_outside,
)


def _patterns(cfg, key):
    value = cfg.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ConfigError("sweep.%s must be a list of non-empty strings" % key)
    return list(value)


def sweep_settings(cfg):
    check_keys(cfg, "sweep", ("cpus", "keep_cgroups", "deny"))
    cpus = cpus_option(cfg, "cpus", "sweep")
    if not cpus:
        raise ConfigError("sweep.cpus is empty")
    return {"cpus": cpus, "keep_cgroups": _patterns(cfg, "keep_cgroups"), "deny": _patterns(cfg, "deny")}


class _TaskReader(object):
    """Reads /proc/PID/task/TID as read_task reads /proc/PID."""

    def __init__(self, ctx, pid):
        self.ctx = ctx
        self.prefix = "/proc/%d/task" % pid

    def read(self, abspath):
        return self.ctx.read(abspath.replace("/proc", self.prefix, 1))


def _tgid(ctx, pid):
    for line in (ctx.read("/proc/%d/status" % pid) or "").splitlines():
        if line.startswith("Tgid:"):
            return int(line.split(":", 1)[1])
    return None


def read_sweep(ctx, cfg):
    """threads: [{pid, tid, comm, process, cgroup, cpus}] of every user-space thread."""
    threads = []
    for pid in sorted(int(entry) for entry in ctx.listdir("/proc") if entry.isdigit()):
        main = ctx.task(pid)
        if main is None or main["kthread"] or _tgid(ctx, pid) not in (None, pid):
            continue  # gone, a kernel thread, or a thread's own /proc/TID
        cgroup = ctx.read("/proc/%d/cgroup" % pid) or ""
        tids = sorted(int(entry) for entry in ctx.listdir("/proc/%d/task" % pid) if entry.isdigit()) or [pid]
        for tid in tids:
            task = main if tid == pid else read_task(_TaskReader(ctx, pid), tid)
            if task is None:
                continue
            threads.append({"pid": pid, "tid": tid, "comm": task["comm"], "process": main["comm"],
                            "cgroup": cgroup, "cpus": task["cpus"]})
    online = read_online_cpus(ctx)
    return {"threads": threads, "online": sorted(online) if online is not None else None}


def decide_sweep(cfg, current):
    """actions: one ``affinity`` (task user) per thread allowed outside the
    housekeeping CPUs, to its CPUs among them or to all of them; data: counts,
    and the denied threads left where they are."""
    housekeeping = set(cfg["cpus"])
    online = current.get("online")
    actions = []
    kept = 0
    denied = []
    for thread in current["threads"]:
        if any(pattern in thread["cgroup"] for pattern in cfg["keep_cgroups"]):
            kept += 1
            continue
        try:
            cpus = set(parse_cpulist(thread["cpus"]))
        except ValueError:
            actions.append(message("error", "thread %s (pid %d): Cpus_allowed_list reads %r, not a cpulist"
                                   % (thread["comm"], thread["tid"], thread["cpus"])))
            continue
        if not runs_outside(cpus, housekeeping, online):
            continue
        if any(fnmatch.fnmatchcase(name, pattern) for name in (thread["comm"], thread["process"])
               for pattern in cfg["deny"]):
            denied.append({"pid": thread["tid"], "comm": thread["comm"], "process": thread["process"],
                           "cpus": thread["cpus"]})
            continue
        actions.append(affinity_action(thread["tid"], thread["comm"], thread["cpus"], cpus, housekeeping,
                                       task="user"))
    return {"actions": actions,
            "data": {"threads_total": len(current["threads"]), "threads_kept_cgroups": kept,
                     "threads_denied": denied}}


def section_sweep(sec, cfg):
    cfg = sweep_settings(cfg)
    carry_out_decision(sec, decide_sweep(cfg, read_sweep(sec.ctx, cfg)))
    sec.data["threads_moved"] = len(sec.changes)
