# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""cpulist filters for templates: expand, format, mask, difference,
intersection and union of kernel CPU lists.  Documentation for each filter
is in the YAML file of the same name next to this one."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.bot4.hft.plugins.module_utils.cpuset import (
    format_cpulist,
    format_mask,
    to_cpus,
)


def _cpus(value, name, what="input"):
    try:
        return to_cpus(value)
    except ValueError as exc:
        raise AnsibleFilterError("%s: %s: %s" % (name, what, exc))


def cpulist_expand(value):
    """'0-3,8' -> [0, 1, 2, 3, 8]"""
    return _cpus(value, "cpulist_expand")


def cpulist(value):
    """[0, 1, 2, 3, 8] -> '0-3,8' (also normalizes a cpulist string)"""
    return format_cpulist(_cpus(value, "cpulist"))


def cpulist_mask(value, nbits=None):
    """'8-15' -> 'ff00'; with nbits=64 -> '00000000,0000ff00'"""
    cpus = _cpus(value, "cpulist_mask")
    if nbits is not None:
        if isinstance(nbits, bool) or not isinstance(nbits, int) or nbits < 1:
            raise AnsibleFilterError("cpulist_mask: nbits must be a positive integer, got %r" % (nbits,))
    try:
        return format_mask(cpus, nbits)
    except ValueError as exc:
        raise AnsibleFilterError("cpulist_mask: %s" % exc)


def cpulist_diff(value, other):
    """CPUs of value that are not in other, as a cpulist."""
    first = _cpus(value, "cpulist_diff")
    second = set(_cpus(other, "cpulist_diff", "second set"))
    return format_cpulist(c for c in first if c not in second)


def cpulist_intersect(value, other):
    """CPUs in both, as a cpulist."""
    first = _cpus(value, "cpulist_intersect")
    second = set(_cpus(other, "cpulist_intersect", "second set"))
    return format_cpulist(c for c in first if c in second)


def cpulist_union(value, other):
    """CPUs in either, as a cpulist."""
    first = _cpus(value, "cpulist_union")
    second = _cpus(other, "cpulist_union", "second set")
    return format_cpulist(list(first) + list(second))


class FilterModule:
    """bot4.hft cpulist filters."""

    def filters(self):
        return {
            "cpulist_expand": cpulist_expand,
            "cpulist": cpulist,
            "cpulist_mask": cpulist_mask,
            "cpulist_diff": cpulist_diff,
            "cpulist_intersect": cpulist_intersect,
            "cpulist_union": cpulist_union,
        }
