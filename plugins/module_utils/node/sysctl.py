# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The applier's sections sysctl (/proc/sys values) and thp (/sys/kernel/mm/transparent_hugepage).
"""

from __future__ import annotations

from ansible_collections.bot4.hft.plugins.module_utils.node.core import (
    ConfigError,
    check_keys,
)


# --------------------------------------------------------------------- sysctl
def _sysctl_path(key):
    return "/proc/sys/" + (key if "/" in key else key.replace(".", "/"))


def _normalize(value):
    return " ".join(str(value).split())


def section_sysctl(sec, cfg):
    if not isinstance(cfg, dict):
        raise ConfigError("section sysctl must be a JSON object of name: value")
    for key in sorted(cfg):
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ConfigError("sysctl.%s must be a string or an integer" % key)
        path = _sysctl_path(key)
        current = sec.ctx.read(path)
        if current is None:
            sec.error("%s: no such sysctl (%s does not exist)" % (key, path))
            continue
        if _normalize(current) == _normalize(value):
            continue
        sec.set_value(path, current, _normalize(value), compare=_normalize)


# ------------------------------------------------------------------------ thp
def _bracketed(text):
    """``always madvise [never]`` -> (``never``, [always, madvise, never])."""
    words = text.split()
    chosen = None
    choices = []
    for word in words:
        if word.startswith("[") and word.endswith("]"):
            word = word[1:-1]
            chosen = word
        choices.append(word)
    return chosen, choices


def section_thp(sec, cfg):
    check_keys(cfg, "thp", ("enabled", "defrag"))
    base = "/sys/kernel/mm/transparent_hugepage"
    if not sec.ctx.exists(base):
        sec.skip("this kernel has no transparent hugepages (%s missing): nothing to do" % base)
        return
    for key in ("enabled", "defrag"):
        want = cfg.get(key)
        if want is None:
            continue
        path = "%s/%s" % (base, key)
        text = sec.ctx.read(path)
        if text is None:
            sec.error("%s is missing" % path)
            continue
        current, choices = _bracketed(text)
        if want not in choices:
            sec.error("%s: %r is not one of %s" % (path, want, ", ".join(choices)))
            continue
        if current != want:
            sec.set_value(path, current, want, compare=lambda t: _bracketed(t)[0] if "[" in t else t)
