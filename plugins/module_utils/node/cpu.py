# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The applier's section cpu_offline: the CPUs of the profile's ``cpu.offline``
taken offline (``/sys/devices/system/cpu/cpuN/online`` = 0), at every boot
before the kubelet and in every tuning run.  It runs first, so that the IRQs,
kernel threads and workqueues the later sections place never count on them.

A CPU already offline is left as it is; a CPU that is not there, or that the
kernel cannot take offline (no ``online`` file: the boot CPU on most x86
machines), is an error.  CPUs are never brought online here: a CPU left out
of ``cpu.offline`` comes back at the next boot.

``read_cpu_offline`` reads each CPU's ``online`` file, ``decide_cpu_offline``
(pure) decides, and the writer of core.py writes and reads back.
"""

from __future__ import annotations

from ansible_collections.bot4.hft.plugins.module_utils.node.core import (
    ConfigError,
    carry_out_decision,
    check_keys,
    cpus_option,
    message,
    set_action,
)

CPU_DIR = "/sys/devices/system/cpu"


def cpu_offline_settings(cfg):
    check_keys(cfg, "cpu_offline", ("cpus",))
    cpus = cpus_option(cfg, "cpus", "cpu_offline")
    if 0 in cpus:
        raise ConfigError("cpu_offline.cpus holds CPU 0, the boot CPU")
    return {"cpus": cpus}


def read_cpu_offline(ctx, cfg):
    """{cpu: {"exists": bool, "online": the online file's text or None}}."""
    return dict((cpu, {"exists": ctx.exists("%s/cpu%d" % (CPU_DIR, cpu)),
                       "online": ctx.read("%s/cpu%d/online" % (CPU_DIR, cpu))})
                for cpu in cfg["cpus"])


def decide_cpu_offline(cfg, current):
    actions = []
    offline = []
    for cpu in cfg["cpus"]:
        state = current[cpu]
        path = "%s/cpu%d/online" % (CPU_DIR, cpu)
        if not state["exists"]:
            actions.append(message("error", "CPU %d: not taken offline: %s/cpu%d does not exist" % (cpu, CPU_DIR, cpu)))
        elif state["online"] is None:
            actions.append(message("error", "CPU %d: not taken offline: %s is missing (the kernel cannot take "
                                   "this CPU offline)" % (cpu, path)))
        elif state["online"] == "0":
            offline.append(cpu)
        else:
            actions.append(set_action(path, state["online"], "0"))
            offline.append(cpu)
    return {"actions": actions, "data": {"cpus_offline": offline}}


def section_cpu_offline(sec, cfg):
    cfg = cpu_offline_settings(cfg)
    carry_out_decision(sec, decide_cpu_offline(cfg, read_cpu_offline(sec.ctx, cfg)))
