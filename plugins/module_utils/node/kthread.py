# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The applier's section kthread: every kernel thread that may run on more than
one CPU, and accepts a new affinity, onto the housekeeping CPUs, as
``tuna --isolate`` does (block and SCSI error handlers, RCU grace-period
threads, kcompactd, kswapd, khugepaged, kthreadd itself ...).  At every boot,
before the kubelet, and in every tuning run.

Left alone, and reported: threads bound to one CPU (they serve that CPU:
ksoftirqd/N, migration/N, kworker/N:M), and threads the kernel keeps for
itself (PF_NO_SETAFFINITY: the workers and rescuers of unbound workqueues,
which follow the workqueue cpumasks that the workqueue section sets).  Kernel
threads created later take kthreadd's CPUs or the kernel's housekeeping set
(nohz_full), both off the isolated CPUs.  CPUs taken offline do not count:
that housekeeping set holds them (they are not in nohz_full), and a thread
can run on none of them.

``read_kthread`` lists the kernel threads, ``decide_kthread`` (pure) decides,
and the writer of core.py sets each new affinity (``affinity`` actions): it
re-reads the thread just before, and refuses anything that is not a kernel
thread.
"""

from __future__ import annotations

from ansible_collections.bot4.hft.plugins.module_utils.cpuset import parse_cpulist
from ansible_collections.bot4.hft.plugins.module_utils.node.core import (
    ConfigError,
    affinity_action,
    carry_out_decision,
    check_keys,
    cpus_option,
    message,
    read_online_cpus,
    runs_outside,
)


def kthread_settings(cfg):
    check_keys(cfg, "kthread", ("cpus",))
    cpus = cpus_option(cfg, "cpus", "kthread")
    if not cpus:
        raise ConfigError("kthread.cpus is empty")
    return {"cpus": cpus}


def read_kthread(ctx, cfg):
    """threads: [{pid, comm, cpus (Cpus_allowed_list), no_setaffinity}] of
    every kernel thread; online: the CPUs online now (None when unknown)."""
    pids = sorted(int(entry) for entry in ctx.listdir("/proc") if entry.isdigit())
    threads = []
    for pid in pids:
        task = ctx.task(pid)
        if task is not None and task["kthread"]:
            threads.append({"pid": pid, "comm": task["comm"], "cpus": task["cpus"],
                            "no_setaffinity": task["no_setaffinity"]})
    online = read_online_cpus(ctx)
    return {"threads": threads, "online": sorted(online) if online is not None else None}


def decide_kthread(cfg, current):
    """actions: one ``affinity`` per movable thread allowed outside the
    housekeeping CPUs (to its CPUs among them, or to all of them when it has
    none there; offline CPUs do not count); data: counts, and the threads the kernel keeps on other CPUs."""
    housekeeping = set(cfg["cpus"])
    online = current.get("online")
    actions = []
    kernel_bound = []
    per_cpu = 0
    for thread in current["threads"]:
        try:
            cpus = set(parse_cpulist(thread["cpus"]))
        except ValueError:
            actions.append(message("error", "kernel thread %s (pid %d): Cpus_allowed_list reads %r, not a cpulist"
                                   % (thread["comm"], thread["pid"], thread["cpus"])))
            continue
        if len(cpus) <= 1:
            per_cpu += 1
            continue
        if not runs_outside(cpus, housekeeping, online):
            continue
        if thread["no_setaffinity"]:
            kernel_bound.append({"pid": thread["pid"], "comm": thread["comm"], "cpus": thread["cpus"]})
            continue
        actions.append(affinity_action(thread["pid"], thread["comm"], thread["cpus"], cpus, housekeeping))
    return {"actions": actions,
            "data": {"kthreads_total": len(current["threads"]), "kthreads_per_cpu": per_cpu,
                     "kthreads_kernel_bound": kernel_bound}}


def section_kthread(sec, cfg):
    cfg = kthread_settings(cfg)
    decision = decide_kthread(cfg, read_kthread(sec.ctx, cfg))
    carry_out_decision(sec, decision)
    sec.data["kthreads_moved"] = len(sec.changes)
