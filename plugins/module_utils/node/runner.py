# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the applier's sections over one configuration (``plan.runtime``, or the
fragments in /etc/bot4-hft/runtime.d that the roles write from it).

Sections, applied in this order (each one optional): cpu_offline, hugepages, dpdk, sysctl,
thp, ksm, irq, workqueue, kthread, sweep, rps, cpufreq, cpuidle, energy_perf_bias, epp, min_perf_pct.  Check mode
reports what differs and changes nothing; apply mode changes what differs and
reads it back.

Each section's handler (``section_<name>`` in its concern's file) checks its
configuration, reads the node (``read_<name>``), decides without I/O
(``decide_<name>``) and hands the actions to the writer, ``Section.carry_out``
in core.py.
"""

from __future__ import annotations

import json
import os

from ansible_collections.bot4.hft.plugins.module_utils.node.core import (
    CONFIG_FORMAT,
    DEFAULT_STATE_DIR,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_WOULD_CHANGE,
    SECTIONS,
    ConfigError,
    Context,
    Section,
)
from ansible_collections.bot4.hft.plugins.module_utils.node.cpu import section_cpu_offline
from ansible_collections.bot4.hft.plugins.module_utils.node.dpdk import section_dpdk
from ansible_collections.bot4.hft.plugins.module_utils.node.hugepages import section_hugepages
from ansible_collections.bot4.hft.plugins.module_utils.node.irq import section_irq, section_rps, section_workqueue
from ansible_collections.bot4.hft.plugins.module_utils.node.ksm import section_ksm
from ansible_collections.bot4.hft.plugins.module_utils.node.kthread import section_kthread
from ansible_collections.bot4.hft.plugins.module_utils.node.power import (
    section_cpufreq,
    section_cpuidle,
    section_energy_perf_bias,
    section_epp,
    section_min_perf_pct,
)
from ansible_collections.bot4.hft.plugins.module_utils.node.sweep import section_sweep
from ansible_collections.bot4.hft.plugins.module_utils.node.sysctl import section_sysctl, section_thp

HANDLERS = {
    "cpu_offline": section_cpu_offline,
    "hugepages": section_hugepages,
    "dpdk": section_dpdk,
    "sysctl": section_sysctl,
    "thp": section_thp,
    "ksm": section_ksm,
    "irq": section_irq,
    "workqueue": section_workqueue,
    "kthread": section_kthread,
    "sweep": section_sweep,
    "rps": section_rps,
    "cpufreq": section_cpufreq,
    "cpuidle": section_cpuidle,
    "energy_perf_bias": section_energy_perf_bias,
    "epp": section_epp,
    "min_perf_pct": section_min_perf_pct,
}


# ------------------------------------------------------------------- config
def _config_files(paths):
    files = []
    for path in paths:
        if os.path.isdir(path):
            files.extend(os.path.join(path, n) for n in sorted(os.listdir(path))
                         if n.endswith(".json") and not n.startswith("."))
        elif os.path.exists(path):
            files.append(path)
        else:
            raise ConfigError("configuration %s does not exist" % path)
    return files


def merge_config(documents):
    """[(source, dict)] -> {section: config}; a section may come from one source only."""
    merged = {}
    origin = {}
    for source, doc in documents:
        if not isinstance(doc, dict):
            raise ConfigError("%s: the configuration must be a JSON object" % source)
        fmt = doc.get("format", CONFIG_FORMAT)
        if fmt != CONFIG_FORMAT:
            raise ConfigError("%s: format %r is not supported (this program reads format %d)"
                              % (source, fmt, CONFIG_FORMAT))
        for key, value in doc.items():
            if key in ("format", "comment"):
                continue
            if key not in HANDLERS:
                raise ConfigError("%s: unknown section %r (known: %s)" % (source, key, ", ".join(SECTIONS)))
            if key in merged:
                raise ConfigError("%s: section %s is already set by %s" % (source, key, origin[key]))
            merged[key] = value
            origin[key] = source
    return merged


def load_config(paths, inline):
    documents = []
    if inline is not None:
        try:
            documents.append(("--config-json", json.loads(inline)))
        except ValueError as exc:
            raise ConfigError("--config-json is not valid JSON: %s" % exc)
    else:
        for path in _config_files(paths):
            try:
                with open(path) as handle:
                    documents.append((path, json.load(handle)))
            except ValueError as exc:
                raise ConfigError("%s is not valid JSON: %s" % (path, exc))
    return merge_config(documents)


# --------------------------------------------------------------------- main
def run(config, sections, root="/", check=True, state_dir=DEFAULT_STATE_DIR):
    """Apply (or check) ``config``; return (exit code, result dict)."""
    ctx = Context(root, check, state_dir)
    wanted = [s for s in SECTIONS if s in config and (not sections or s in sections)]
    result = {
        "mode": "check" if check else "apply",
        "changed": False,
        "failed": False,
        "sections": {},
        "not_configured": sorted(set(sections or []) - set(config)),
    }
    messages = []
    for name in wanted:
        sec = Section(name, ctx)
        try:
            HANDLERS[name](sec, config[name])
        except ConfigError as exc:
            sec.error("invalid configuration: %s" % exc)
        except (IOError, OSError, ValueError) as exc:
            sec.error("unexpected error: %s" % exc)
        data = sec.to_dict()
        result["sections"][name] = data
        if data["changed"]:
            result["changed"] = True
            messages.append("%s: %d %s" % (name, len(sec.changes), "to change" if check else "changed"))
        if sec.errors:
            result["failed"] = True
            messages.extend("%s: %s" % (name, e) for e in sec.errors)
    result["msg"] = "; ".join(messages) if messages else "in sync with the plan"
    if result["failed"]:
        return EXIT_FAILED, result
    if check and result["changed"]:
        return EXIT_WOULD_CHANGE, result
    return EXIT_OK, result
