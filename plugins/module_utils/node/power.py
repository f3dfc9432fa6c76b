# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The applier's sections cpufreq (scaling_governor), cpuidle (per-CPU PM QoS resume latency) and
energy_perf_bias, each skipped with a notice where the node lacks the driver.

Each is read (``read_cpufreq``, ``read_cpuidle``, ``read_energy_perf_bias``),
decided (``decide_cpufreq``, ``decide_cpuidle``, ``decide_energy_perf_bias``:
pure) and carried out by the writer of core.py.
"""

from __future__ import annotations

from ansible_collections.bot4.hft.plugins.module_utils.cpuset import format_cpulist
from ansible_collections.bot4.hft.plugins.module_utils.node.core import (
    EPB_VALUES,
    ConfigError,
    _STATE_DIR_RE,
    carry_out_decision,
    check_keys,
    cpus_option,
    message,
    set_action,
)

CPUIDLE_DRIVER = "/sys/devices/system/cpu/cpuidle/current_driver"


# ---------------------------------------------------------------- cpu power
def _cpu_dir(cpu):
    return "/sys/devices/system/cpu/cpu%d" % cpu


def _online_subset(ctx, cpus):
    """The configured CPUs that are online, in order; every online CPU when none are configured."""
    online = ctx.online_cpus()
    if cpus is None:
        return online
    return [cpu for cpu in cpus if cpu in set(online)]


def _per_policy(entries, key, want, what, name):
    """One action per cpufreq policy (its CPUs share the file cpufreq/``name``):
    an error when ``want`` is not among the entry's ``available`` values, a
    ``set`` when the entry's ``key`` differs."""
    actions = []
    seen = set()
    for entry in entries:
        if entry["policy"] in seen:
            continue
        seen.add(entry["policy"])
        available = (entry["available"] or "").split()
        if available and want not in available:
            actions.append(message("error", "cpu%d: %s %s is not available (available: %s)"
                                   % (entry["cpu"], what, want, " ".join(available))))
        elif entry[key] != want:
            actions.append(set_action(_cpu_dir(entry["cpu"]) + "/cpufreq/" + name, entry[key], want))
    return actions


# -------------------------------------------------------------------- cpufreq
def cpufreq_settings(cfg):
    check_keys(cfg, "cpufreq", ("governor", "cpus"))
    governor = cfg.get("governor")
    if not isinstance(governor, str) or not governor:
        raise ConfigError("cpufreq.governor must be a governor name such as performance")
    return {"governor": governor, "cpus": cpus_option(cfg, "cpus", "cpufreq", required=False)}


def read_cpufreq(ctx, cfg):
    """cpus: for each configured online CPU (every online one by default):
    policy, the directory its cpufreq/ resolves to (CPUs of one policy share
    it; None without a scaling_governor), its governor, the available ones and
    the scaling driver."""
    cpus = []
    for cpu in _online_subset(ctx, cfg["cpus"]):
        base = _cpu_dir(cpu) + "/cpufreq"
        policy = None
        if ctx.exists(base + "/scaling_governor"):
            policy = ctx.resolve(base) or base
        cpus.append({
            "cpu": cpu,
            "policy": policy,
            "governor": ctx.read(base + "/scaling_governor"),
            "available": ctx.read(base + "/scaling_available_governors"),
            "driver": ctx.read(base + "/scaling_driver"),
        })
    return {"cpus": cpus}


def decide_cpufreq(cfg, current):
    governor = cfg["governor"]
    cpus = current["cpus"]
    with_driver = [entry for entry in cpus if entry["policy"] is not None]
    if not with_driver:
        driver = cpus[0]["driver"] if cpus else None
        return {"actions": [message("skip", "no cpufreq driver on this node (%s): governor %s not set"
                                    % ("no cpufreq/ under the CPUs" if driver is None else driver, governor))]}
    actions = []
    missing = [entry["cpu"] for entry in cpus if entry["policy"] is None]
    if missing:
        actions.append(message("notice", "CPUs %s have no cpufreq policy; governor not set there"
                               % format_cpulist(missing)))
    actions += _per_policy(with_driver, "governor", governor, "governor", "scaling_governor")
    return {"actions": actions, "data": {"driver": with_driver[0]["driver"]}}


def section_cpufreq(sec, cfg):
    cfg = cpufreq_settings(cfg)
    carry_out_decision(sec, decide_cpufreq(cfg, read_cpufreq(sec.ctx, cfg)))


# -------------------------------------------------------------------- cpuidle
def cpuidle_settings(cfg):
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
    return {"cpus": cpus, "resume_latency_us": explicit, "max_cstate": max_cstate, "poll_only": poll_only}


def _no_driver(driver):
    return driver is None or driver == "none"


def read_cpuidle(ctx, cfg):
    """driver: the cpuidle driver (None: no current_driver); cpus: for each
    configured online CPU, its pm_qos_resume_latency_us and its idle states
    as [index, exit latency in us (None: unreadable)]."""
    driver = ctx.read(CPUIDLE_DRIVER)
    cpus = []
    if not _no_driver(driver):
        online = set(ctx.online_cpus())
        for cpu in cfg["cpus"]:
            if cpu not in online:
                continue
            base = _cpu_dir(cpu) + "/cpuidle"
            states = sorted((int(_STATE_DIR_RE.match(s).group(1)), s) for s in ctx.listdir(base)
                            if _STATE_DIR_RE.match(s))
            cpus.append({
                "cpu": cpu,
                "resume_latency_us": ctx.read(_cpu_dir(cpu) + "/power/pm_qos_resume_latency_us"),
                "states": [[index, ctx.read_int("%s/%s/latency" % (base, name))] for index, name in states],
            })
    return {"driver": driver, "cpus": cpus}


def _resume_latency_for(states, max_cstate):
    """pm_qos_resume_latency_us that keeps a CPU with these idle states in states 0..max_cstate."""
    if not states:
        return None
    if max_cstate >= states[-1][0]:
        return "0"  # every state allowed: no constraint
    latencies = [latency or 0 for index, latency in states if index <= max_cstate]
    deepest = max(latencies) if latencies else 0
    # 0 would mean "no constraint"; "n/a" means "no resume latency at all" (polling only).
    return "n/a" if deepest == 0 else str(deepest)


def decide_cpuidle(cfg, current):
    driver = current["driver"]
    if _no_driver(driver):
        return {"actions": [message("skip", "no cpuidle driver on this node (current_driver: %s): C-state limits "
                                    "not set" % ("missing" if driver is None else driver))]}
    actions = []
    for entry in current["cpus"]:
        path = _cpu_dir(entry["cpu"]) + "/power/pm_qos_resume_latency_us"
        now = entry["resume_latency_us"]
        if now is None:
            actions.append(message("error", "%s is missing" % path))
            continue
        if cfg["resume_latency_us"] is not None:
            want = str(cfg["resume_latency_us"])
        elif cfg["poll_only"] or cfg["max_cstate"] == 0:
            want = "n/a"
        else:
            want = _resume_latency_for(entry["states"], cfg["max_cstate"])
            if want is None:
                actions.append(message("notice", "cpu%d has no cpuidle states; left alone" % entry["cpu"]))
                continue
        if now != want:
            actions.append(set_action(path, now, want))
    return {"actions": actions, "data": {"driver": driver}}


def section_cpuidle(sec, cfg):
    cfg = cpuidle_settings(cfg)
    carry_out_decision(sec, decide_cpuidle(cfg, read_cpuidle(sec.ctx, cfg)))


# ----------------------------------------------------------- energy_perf_bias
def energy_perf_bias_settings(cfg):
    check_keys(cfg, "energy_perf_bias", ("value", "cpus"))
    value = cfg.get("value")
    if isinstance(value, str) and value in EPB_VALUES:
        want = EPB_VALUES[value]
    elif isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 15:
        want = value
    else:
        raise ConfigError("energy_perf_bias.value must be 0-15 or one of %s" % ", ".join(sorted(EPB_VALUES)))
    return {"value": want, "cpus": cpus_option(cfg, "cpus", "energy_perf_bias", required=False)}


def read_energy_perf_bias(ctx, cfg):
    """cpus: for each configured online CPU (every online one by default),
    whether it has power/energy_perf_bias and its value (None: unreadable)."""
    cpus = []
    for cpu in _online_subset(ctx, cfg["cpus"]):
        path = _cpu_dir(cpu) + "/power/energy_perf_bias"
        cpus.append({"cpu": cpu, "present": ctx.exists(path), "value": ctx.read_int(path)})
    return {"cpus": cpus}


def decide_energy_perf_bias(cfg, current):
    present = [entry for entry in current["cpus"] if entry["present"]]
    if not present:
        return {"actions": [message("skip", "no CPU here exposes power/energy_perf_bias (not an Intel CPU with EPB): "
                                    "left alone")]}
    return {"actions": [set_action(_cpu_dir(entry["cpu"]) + "/power/energy_perf_bias", str(entry["value"]),
                                   str(cfg["value"]))
                        for entry in present if entry["value"] != cfg["value"]]}


def section_energy_perf_bias(sec, cfg):
    cfg = energy_perf_bias_settings(cfg)
    carry_out_decision(sec, decide_energy_perf_bias(cfg, read_energy_perf_bias(sec.ctx, cfg)))


# ------------------------------------------------------------------------ epp
EPP_VALUES = ("default", "performance", "balance_performance", "balance_power", "power")


def epp_settings(cfg):
    check_keys(cfg, "epp", ("value", "cpus"))
    value = cfg.get("value")
    if value not in EPP_VALUES:
        raise ConfigError("epp.value must be one of %s" % ", ".join(EPP_VALUES))
    return {"value": value, "cpus": cpus_option(cfg, "cpus", "epp", required=False)}


def read_epp(ctx, cfg):
    """cpus: for each configured online CPU (every online one by default), its
    cpufreq policy directory, energy_performance_preference (None: missing)
    and the available preferences."""
    cpus = []
    for cpu in _online_subset(ctx, cfg["cpus"]):
        base = _cpu_dir(cpu) + "/cpufreq"
        path = base + "/energy_performance_preference"
        cpus.append({"cpu": cpu, "policy": (ctx.resolve(base) or base) if ctx.exists(path) else None,
                     "value": ctx.read(path),
                     "available": ctx.read(base + "/energy_performance_available_preferences")})
    return {"cpus": cpus}


def decide_epp(cfg, current):
    present = [entry for entry in current["cpus"] if entry["policy"] is not None]
    if not present:
        return {"actions": [message("skip", "no CPU here exposes cpufreq/energy_performance_preference (HWP with "
                                    "intel_pstate or amd_pstate in active mode): left alone")]}
    return {"actions": _per_policy(present, "value", cfg["value"], "energy performance preference",
                                   "energy_performance_preference")}


def section_epp(sec, cfg):
    cfg = epp_settings(cfg)
    carry_out_decision(sec, decide_epp(cfg, read_epp(sec.ctx, cfg)))


# --------------------------------------------------------------- min_perf_pct
MIN_PERF_PCT = "/sys/devices/system/cpu/intel_pstate/min_perf_pct"


def min_perf_pct_settings(cfg):
    check_keys(cfg, "min_perf_pct", ("value",))
    value = cfg.get("value")
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
        raise ConfigError("min_perf_pct.value must be a percentage, 0-100")
    return {"value": value}


def read_min_perf_pct(ctx, cfg):
    """{value: intel_pstate's min_perf_pct, None without intel_pstate}."""
    return {"value": ctx.read_int(MIN_PERF_PCT), "present": ctx.exists(MIN_PERF_PCT)}


def decide_min_perf_pct(cfg, current):
    if not current["present"]:
        return {"actions": [message("skip", "no intel_pstate here (%s missing): min_perf_pct left alone"
                                    % MIN_PERF_PCT)]}
    if current["value"] == cfg["value"]:
        return {"actions": []}
    return {"actions": [set_action(MIN_PERF_PCT, str(current["value"]), str(cfg["value"]))]}


def section_min_perf_pct(sec, cfg):
    cfg = min_perf_pct_settings(cfg)
    carry_out_decision(sec, decide_min_perf_pct(cfg, read_min_perf_pct(sec.ctx, cfg)))
