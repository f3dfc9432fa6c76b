# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The applier's section ksm: kernel samepage merging stopped
(``/sys/kernel/mm/ksm/run`` = 0), so that ksmd does not scan memory and merge
pages (copy-on-write faults later) on a latency-sensitive node.  A kernel
without KSM is skipped with a notice.

``read_ksm`` reads the file, ``decide_ksm`` (pure) decides, and the writer of
core.py writes and reads back.
"""

from __future__ import annotations

from ansible_collections.bot4.hft.plugins.module_utils.node.core import (
    ConfigError,
    carry_out_decision,
    check_keys,
    message,
    set_action,
)

KSM_RUN = "/sys/kernel/mm/ksm/run"
# 0 stops ksmd and keeps merged pages; 1 runs it; 2 stops it and unmerges every page.
RUN_VALUES = ("0", "1", "2")


def ksm_settings(cfg):
    check_keys(cfg, "ksm", ("run",))
    run = str(cfg.get("run"))
    if run not in RUN_VALUES:
        raise ConfigError("ksm.run must be one of %s" % ", ".join(RUN_VALUES))
    return {"run": run}


def read_ksm(ctx, cfg):
    """{run: the file's text, None on a kernel without KSM}."""
    return {"run": ctx.read(KSM_RUN)}


def decide_ksm(cfg, current):
    if current["run"] is None:
        return {"actions": [message("skip", "this kernel has no KSM (%s missing): nothing to do" % KSM_RUN)]}
    if current["run"] == cfg["run"]:
        return {"actions": []}
    return {"actions": [set_action(KSM_RUN, current["run"], cfg["run"])]}


def section_ksm(sec, cfg):
    cfg = ksm_settings(cfg)
    carry_out_decision(sec, decide_ksm(cfg, read_ksm(sec.ctx, cfg)))
