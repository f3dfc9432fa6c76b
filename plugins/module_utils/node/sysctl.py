# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The applier's sections sysctl (/proc/sys values) and thp (/sys/kernel/mm/transparent_hugepage).

Each is read (``read_sysctl``, ``read_thp``), decided (``decide_sysctl``,
``decide_thp``: pure) and carried out by the writer of core.py.
"""

from __future__ import annotations

from ansible_collections.bot4.hft.plugins.module_utils.node.core import (
    ConfigError,
    bracketed,
    carry_out_decision,
    check_keys,
    message,
    set_action,
)

THP = "/sys/kernel/mm/transparent_hugepage"


# --------------------------------------------------------------------- sysctl
def _sysctl_path(key):
    return "/proc/sys/" + (key if "/" in key else key.replace(".", "/"))


def _normalize(value):
    return " ".join(str(value).split())


def sysctl_settings(cfg):
    """The section's configuration, checked: {name: value}."""
    if not isinstance(cfg, dict):
        raise ConfigError("section sysctl must be a JSON object of name: value")
    for key in sorted(cfg):
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ConfigError("sysctl.%s must be a string or an integer" % key)
    return cfg


def read_sysctl(ctx, cfg):
    """{name: what its /proc/sys file reads, None when it does not exist}."""
    return dict((key, ctx.read(_sysctl_path(key))) for key in cfg)


def decide_sysctl(cfg, current):
    actions = []
    for key in sorted(cfg):
        path = _sysctl_path(key)
        text = current.get(key)
        if text is None:
            actions.append(message("error", "%s: no such sysctl (%s does not exist)" % (key, path)))
        elif _normalize(text) != _normalize(cfg[key]):
            actions.append(set_action(path, text, _normalize(cfg[key]), compare="words"))
    return {"actions": actions}


def section_sysctl(sec, cfg):
    cfg = sysctl_settings(cfg)
    carry_out_decision(sec, decide_sysctl(cfg, read_sysctl(sec.ctx, cfg)))


# ------------------------------------------------------------------------ thp
def thp_settings(cfg):
    check_keys(cfg, "thp", ("enabled", "defrag"))
    return cfg


def read_thp(ctx, cfg):
    """{enabled, defrag: the files' text (None when missing)}, or None on a
    kernel without transparent hugepages."""
    if not ctx.exists(THP):
        return None
    return dict((key, ctx.read("%s/%s" % (THP, key))) for key in ("enabled", "defrag"))


def decide_thp(cfg, current):
    if current is None:
        return {"actions": [message("skip", "this kernel has no transparent hugepages (%s missing): nothing to do"
                                    % THP)]}
    actions = []
    for key in ("enabled", "defrag"):
        want = cfg.get(key)
        if want is None:
            continue
        path = "%s/%s" % (THP, key)
        text = current.get(key)
        if text is None:
            actions.append(message("error", "%s is missing" % path))
            continue
        chosen, choices = bracketed(text)
        if want not in choices:
            actions.append(message("error", "%s: %r is not one of %s" % (path, want, ", ".join(choices))))
        elif chosen != want:
            actions.append(set_action(path, chosen, want, compare="choice"))
    return {"actions": actions}


def section_thp(sec, cfg):
    cfg = thp_settings(cfg)
    carry_out_decision(sec, decide_thp(cfg, read_thp(sec.ctx, cfg)))
