# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The applier's sections sysctl (/proc/sys values) and thp (/sys/kernel/mm/transparent_hugepage).

Each is read (``read_sysctl``, ``read_thp``), decided (``decide_sysctl``,
``decide_thp``: pure) and carried out by the writer of core.py.
"""

from __future__ import annotations

import re

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
# A sysctl name as /proc/sys and sysctl(8) spell it: components of letters,
# digits, "_" and "-", separated by dots (net.core.busy_poll), or by slashes
# when a component holds a dot itself (a VLAN interface: net/ipv4/conf/
# eth0.100/rp_filter).  At least two components, none empty, "." or "..", no
# leading separator: a name is always a file below /proc/sys.  The planner
# checks profiles with the same rule (bot4.hft's kernel_policy).
_DOTTED_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*)+\Z")
_SLASHED_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.-]*)+\Z")
_NAME_CHARS_RE = re.compile(r"[^A-Za-z0-9_./-]")


def sysctl_name_problem(name):
    """Why ``name`` is not a sysctl name (a reason to follow the name), or None."""
    if not isinstance(name, str):
        return "is not a sysctl name: it is not a string"
    if (_SLASHED_RE if "/" in name else _DOTTED_RE).match(name):
        return None
    sep = "/" if "/" in name else "."
    parts = name.split(sep)
    bad = _NAME_CHARS_RE.search(name)
    if not name.strip():
        why = "is empty"
    elif bad:
        why = "holds %r, a character no sysctl name has" % bad.group(0)
    elif name.startswith("/"):
        why = "is an absolute path"
    elif any(p in (".", "..") for p in parts) or any(p.strip(".") == "" and p for p in parts):
        why = "has a '.' or '..' component"
    elif "" in parts:
        why = "has an empty component"
    elif len(parts) < 2:
        why = "names a directory of /proc/sys, not a sysctl"
    else:
        why = "has a component that starts with %r" % [p for p in parts if not re.match(r"[A-Za-z0-9_]", p)][0][0]
    return ("is not a sysctl name: it %s; give the name below /proc/sys, with dots or slashes between letters, "
            "digits, '_' and '-', such as net.core.busy_poll" % why)


def sysctl_path(name):
    """/proc/sys/<name> of a checked name (dots are separators unless the name has slashes)."""
    return "/proc/sys/" + (name if "/" in name else name.replace(".", "/"))


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


# Sysctls of a kernel feature that the planned value turns off.  A kernel
# built without the feature has no such file, which is the planned state, not
# an error: Debian's PREEMPT_RT kernel has no NUMA balancing, so no
# kernel.numa_balancing (the Node Tuning Operator's real-time profile leaves it
# out for the same reason).
OFF_WHEN_ABSENT = {"kernel.numa_balancing": "0"}


def read_sysctl(ctx, cfg):
    """{name: what its /proc/sys file reads, None when it does not exist};
    a name that is not a sysctl name is not read."""
    return dict((key, ctx.read(sysctl_path(key))) for key in cfg if sysctl_name_problem(key) is None)


def decide_sysctl(cfg, current):
    actions = []
    for key in sorted(cfg):
        problem = sysctl_name_problem(key)
        if problem is not None:
            actions.append(message("error", "%r %s (nothing read or written)" % (key, problem)))
            continue
        path = sysctl_path(key)
        text = current.get(key)
        if _normalize(cfg[key]) == "":
            actions.append(message("error", "%s: the value is empty (not written)" % key))
        elif text is None and OFF_WHEN_ABSENT.get(key) == _normalize(cfg[key]):
            actions.append(message("notice", "%s: this kernel has no such feature (%s does not exist): off, "
                                             "as planned" % (key, path)))
        elif text is None:
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
