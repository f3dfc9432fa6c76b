# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The applier's sections cpufreq (scaling_governor), cpuidle (per-CPU PM QoS resume latency) and
energy_perf_bias, each skipped with a notice where the node lacks the driver.
"""

from __future__ import annotations

import os

from ansible_collections.bot4.hft.plugins.module_utils.cpuset import format_cpulist
from ansible_collections.bot4.hft.plugins.module_utils.node.core import (
    ConfigError,
    cpus_option,
    check_keys,
    cpus_or_online,
    EPB_VALUES,
    _STATE_DIR_RE,
)


# ---------------------------------------------------------------- cpu power
def _cpu_dir(cpu):
    return "/sys/devices/system/cpu/cpu%d" % cpu


def section_cpufreq(sec, cfg):
    ctx = sec.ctx
    check_keys(cfg, "cpufreq", ("governor", "cpus"))
    governor = cfg.get("governor")
    if not isinstance(governor, str) or not governor:
        raise ConfigError("cpufreq.governor must be a governor name such as performance")
    cpus = cpus_or_online(ctx, cfg, "cpus", "cpufreq")
    with_driver = [cpu for cpu in cpus if ctx.exists(_cpu_dir(cpu) + "/cpufreq/scaling_governor")]
    if not with_driver:
        driver = ctx.read("/sys/devices/system/cpu/cpu%d/cpufreq/scaling_driver" % cpus[0]) if cpus else None
        sec.skip("no cpufreq driver on this node (%s): governor %s not set"
                 % ("no cpufreq/ under the CPUs" if driver is None else driver, governor))
        return
    missing = sorted(set(cpus) - set(with_driver))
    if missing:
        sec.notice("CPUs %s have no cpufreq policy; governor not set there" % format_cpulist(missing))
    seen = set()
    for cpu in with_driver:
        base = _cpu_dir(cpu) + "/cpufreq"
        real = os.path.realpath(ctx.path(base))
        if real in seen:
            continue  # CPUs of one policy share these files
        seen.add(real)
        available = (ctx.read(base + "/scaling_available_governors") or "").split()
        current = ctx.read(base + "/scaling_governor")
        if available and governor not in available:
            sec.error("cpu%d: governor %s is not available (available: %s)" % (cpu, governor, " ".join(available)))
            continue
        if current != governor:
            sec.set_value(base + "/scaling_governor", current, governor)
    sec.data["driver"] = ctx.read(_cpu_dir(with_driver[0]) + "/cpufreq/scaling_driver")


def _resume_latency_for(ctx, cpu, max_cstate):
    """pm_qos_resume_latency_us that keeps ``cpu`` in states 0..max_cstate."""
    base = _cpu_dir(cpu) + "/cpuidle"
    states = sorted((int(_STATE_DIR_RE.match(s).group(1)), s)
                    for s in ctx.listdir(base) if _STATE_DIR_RE.match(s))
    if not states:
        return None
    if max_cstate >= states[-1][0]:
        return "0"  # every state allowed: no constraint
    latencies = []
    for index, name in states:
        if index <= max_cstate:
            value = ctx.read_int("%s/%s/latency" % (base, name))
            latencies.append(value or 0)
    deepest = max(latencies) if latencies else 0
    # 0 would mean "no constraint"; "n/a" means "no resume latency at all" (polling only).
    return "n/a" if deepest == 0 else str(deepest)


def section_cpuidle(sec, cfg):
    ctx = sec.ctx
    check_keys(cfg, "cpuidle", ("cpus", "max_cstate", "poll_only", "resume_latency_us"))
    cpus = cpus_option(cfg, "cpus", "cpuidle")
    explicit = cfg.get("resume_latency_us")
    max_cstate = cfg.get("max_cstate")
    poll_only = cfg.get("poll_only", False)
    if explicit is not None and not (explicit == "n/a" or (isinstance(explicit, int) and explicit >= 0)):
        raise ConfigError('cpuidle.resume_latency_us must be "n/a" or a number of microseconds')
    if max_cstate is not None and (not isinstance(max_cstate, int) or isinstance(max_cstate, bool) or max_cstate < 0):
        raise ConfigError("cpuidle.max_cstate must be a non-negative integer")
    if explicit is None and max_cstate is None and not poll_only:
        raise ConfigError("cpuidle needs max_cstate, poll_only or resume_latency_us")
    driver = ctx.read("/sys/devices/system/cpu/cpuidle/current_driver")
    if driver is None or driver == "none":
        sec.skip("no cpuidle driver on this node (current_driver: %s): C-state limits not set"
                 % ("missing" if driver is None else driver))
        return
    sec.data["driver"] = driver
    online = set(ctx.online_cpus())
    for cpu in cpus:
        if cpu not in online:
            continue
        path = _cpu_dir(cpu) + "/power/pm_qos_resume_latency_us"
        current = ctx.read(path)
        if current is None:
            sec.error("%s is missing" % path)
            continue
        if explicit is not None:
            want = str(explicit)
        elif poll_only or max_cstate == 0:
            want = "n/a"
        else:
            want = _resume_latency_for(ctx, cpu, max_cstate)
            if want is None:
                sec.notice("cpu%d has no cpuidle states; left alone" % cpu)
                continue
        if current != want:
            sec.set_value(path, current, want)


def section_energy_perf_bias(sec, cfg):
    ctx = sec.ctx
    check_keys(cfg, "energy_perf_bias", ("value", "cpus"))
    value = cfg.get("value")
    if isinstance(value, str) and value in EPB_VALUES:
        want = EPB_VALUES[value]
    elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 15:
        want = value
    else:
        raise ConfigError("energy_perf_bias.value must be 0-15 or one of %s" % ", ".join(sorted(EPB_VALUES)))
    cpus = cpus_or_online(ctx, cfg, "cpus", "energy_perf_bias")
    present = [cpu for cpu in cpus if ctx.exists(_cpu_dir(cpu) + "/power/energy_perf_bias")]
    if not present:
        sec.skip("no CPU here exposes power/energy_perf_bias (not an Intel CPU with EPB): left alone")
        return
    for cpu in present:
        path = _cpu_dir(cpu) + "/power/energy_perf_bias"
        current = ctx.read_int(path)
        if current != want:
            sec.set_value(path, str(current), str(want))
