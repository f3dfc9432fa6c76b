# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""CPU sets in the kernel's two text formats.

*cpulist*: ``0-3,8,10-11`` as printed by ``/sys/devices/system/cpu/online``,
``/sys/devices/system/node/nodeN/cpulist`` or ``thread_siblings_list`` and as
accepted by ``isolcpus=``, ``nohz_full=`` and friends.  The parser also takes
the kernel's stride form ``0-15:2/4`` (use 2 CPUs out of every group of 4).

*mask*: hexadecimal bitmap in 32-bit groups separated by commas, most
significant group first, as in ``/proc/irq/*/smp_affinity``
(``00000000,0000ff00`` = CPUs 8-15).

Pure functions, no I/O; CPU sets are returned as sorted lists of ints.
"""

from __future__ import annotations

import re
from typing import Iterable, List, Optional, Union

CpuSetLike = Union[str, int, Iterable[int], Iterable[str], None]

__all__ = [
    "parse_cpulist",
    "format_cpulist",
    "parse_mask",
    "format_mask",
    "to_cpus",
]

_RANGE_RE = re.compile(r"^([0-9]+)(?:-([0-9]+)(?::([0-9]+)/([0-9]+))?)?$")
_HEX_RE = re.compile(r"^[0-9a-fA-F]{1,8}$")
_DIGITS_RE = re.compile(r"^[0-9]+$")
# Refuse absurd numbers early instead of building a huge list (the kernel's own
# limit, NR_CPUS, is 8192 on x86_64 distribution kernels).
MAX_CPU_ID = 65535


def parse_cpulist(text: str) -> List[int]:
    """Parse a kernel cpulist into a sorted list of unique CPU ids.

    Whitespace and newlines around items are ignored, so the raw content of a
    sysfs file can be passed as is; an empty string is the empty set.  Raise
    ValueError naming the offending item for anything else.
    """
    if not isinstance(text, str):
        raise ValueError("a cpulist must be a string, got %s" % type(text).__name__)
    stripped = text.strip()
    if not stripped:
        return []
    cpus = set()
    for raw in stripped.split(","):
        item = raw.strip()
        if not item:
            raise ValueError("invalid cpulist %r: empty item between commas" % text.strip())
        match = _RANGE_RE.match(item)
        if not match:
            raise ValueError(
                "invalid cpulist %r: %r is not a CPU number, a range like 4-7 "
                "or a strided range like 0-15:2/4" % (stripped, item)
            )
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise ValueError("invalid cpulist %r: range %r runs backwards" % (stripped, item))
        if last > MAX_CPU_ID:
            raise ValueError(
                "invalid cpulist %r: CPU %d is beyond the largest supported id %d"
                % (stripped, last, MAX_CPU_ID)
            )
        if match.group(3) is not None:
            used, group = int(match.group(3)), int(match.group(4))
            if group == 0 or used == 0 or used > group:
                raise ValueError(
                    "invalid cpulist %r: stride %d/%d in %r must satisfy 0 < used <= group"
                    % (stripped, used, group, item)
                )
            for cpu in range(first, last + 1):
                if (cpu - first) % group < used:
                    cpus.add(cpu)
        else:
            cpus.update(range(first, last + 1))
    return sorted(cpus)


def format_cpulist(cpus: Iterable[int]) -> str:
    """Format CPU ids as the shortest kernel cpulist (``0-3,8,10-11``).

    Pairs are written as ranges (``10-11``) like the kernel does.  The empty
    set is the empty string.
    """
    ids = sorted(set(_as_int(cpu) for cpu in cpus))
    parts = []
    start = prev = None
    for cpu in ids:
        if start is None:
            start = prev = cpu
        elif cpu == prev + 1:
            prev = cpu
        else:
            parts.append(_span(start, prev))
            start = prev = cpu
    if start is not None:
        parts.append(_span(start, prev))
    return ",".join(parts)


def parse_mask(text: str) -> List[int]:
    """Parse a kernel hex CPU mask (``00000000,0000ff00``) into CPU ids.

    Groups are separated by commas, the last group holds CPUs 0-31; each
    group has at most 8 hex digits.  A ``0x`` prefix and surrounding
    whitespace are accepted.
    """
    if not isinstance(text, str):
        raise ValueError("a CPU mask must be a string, got %s" % type(text).__name__)
    stripped = text.strip()
    body = stripped[2:] if stripped[:2].lower() == "0x" else stripped
    if not body:
        raise ValueError("invalid CPU mask %r: empty" % stripped)
    groups = body.split(",")
    cpus = []
    for index, group in enumerate(reversed(groups)):
        group = group.strip()
        if not _HEX_RE.match(group):
            raise ValueError(
                "invalid CPU mask %r: group %r is not 1 to 8 hex digits" % (stripped, group)
            )
        value = int(group, 16)
        base = 32 * index
        bit = 0
        while value:
            if value & 1:
                cpus.append(base + bit)
            value >>= 1
            bit += 1
    return sorted(cpus)


def format_mask(cpus: Iterable[int], nbits: Optional[int] = None) -> str:
    """Format CPU ids as a kernel hex mask.

    ``nbits`` is the width of the bitmap (the kernel uses ``nr_cpu_ids``, i.e.
    the highest possible CPU + 1).  Like the kernel, full 32-bit groups are
    printed with 8 digits and the leading group with just enough digits for
    the remaining bits: 8 CPUs give ``ff``, 40 give ``ff,ffffffff``.  Without
    ``nbits`` the width is the highest CPU + 1 (at least 1 bit).
    """
    ids = sorted(set(_as_int(cpu) for cpu in cpus))
    width = max([nbits or 0, (ids[-1] + 1) if ids else 1, 1])
    if nbits is not None and ids and ids[-1] >= nbits:
        raise ValueError("CPU %d does not fit in a %d-bit mask" % (ids[-1], nbits))
    value = 0
    for cpu in ids:
        value |= 1 << cpu
    ngroups = (width + 31) // 32
    lead_bits = width - 32 * (ngroups - 1)
    lead_digits = (lead_bits + 3) // 4
    groups = []
    for index in range(ngroups - 1, -1, -1):
        chunk = (value >> (32 * index)) & 0xFFFFFFFF
        digits = lead_digits if index == ngroups - 1 else 8
        groups.append("%0*x" % (digits, chunk))
    return ",".join(groups)


def to_cpus(value: CpuSetLike) -> List[int]:
    """Accept a cpulist string, a single id, or an iterable of ids; return sorted ids."""
    if value is None:
        return []
    if isinstance(value, bool):
        raise ValueError("a CPU set cannot be a boolean")
    if isinstance(value, int):
        return [_as_int(value)]
    if isinstance(value, str):
        return parse_cpulist(value)
    try:
        items = list(value)
    except TypeError:
        raise ValueError("cannot read a CPU set from %s" % type(value).__name__)
    return sorted(set(_as_int(item) for item in items))


def _as_int(cpu) -> int:
    if isinstance(cpu, bool):
        raise ValueError("CPU id %r is a boolean, not a number" % (cpu,))
    if isinstance(cpu, int):
        number = cpu
    elif isinstance(cpu, str) and _DIGITS_RE.match(cpu.strip()):
        number = int(cpu.strip())
    else:
        raise ValueError("CPU id %r is not a non-negative integer" % (cpu,))
    if number < 0 or number > MAX_CPU_ID:
        raise ValueError("CPU id %d is out of range 0-%d" % (number, MAX_CPU_ID))
    return number


def _span(first: int, last: int) -> str:
    return str(first) if first == last else "%d-%d" % (first, last)
