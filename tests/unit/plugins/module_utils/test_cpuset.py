# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kernel cpulist and hex CPU mask parsing and formatting."""

import random

import pytest

from ansible_collections.bot4.hft.plugins.module_utils.cpuset import (
    format_cpulist,
    format_mask,
    parse_cpulist,
    parse_mask,
    to_cpus,
)


@pytest.mark.parametrize(
    "text, cpus",
    [
        ("", []),
        ("\n", []),
        ("0", [0]),
        ("0-3", [0, 1, 2, 3]),
        ("0-3,8,10-11\n", [0, 1, 2, 3, 8, 10, 11]),
        (" 2 - 3 ".replace(" - ", "-"), [2, 3]),
        ("8, 0-1 ,4", [0, 1, 4, 8]),
        ("3,1,2,2", [1, 2, 3]),
        ("0,2,4,6", [0, 2, 4, 6]),
        ("0-15:2/4", [0, 1, 4, 5, 8, 9, 12, 13]),
        ("1-9:1/4", [1, 5, 9]),
    ],
)
def test_parse_cpulist(text, cpus):
    assert parse_cpulist(text) == cpus


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("1-", "'1-' is not a CPU number"),
        ("a", "'a' is not a CPU number"),
        ("0x3", "'0x3' is not a CPU number"),
        ("1,,2", "empty item between commas"),
        ("3-1", "range '3-1' runs backwards"),
        ("-1", "'-1' is not a CPU number"),
        ("0-7:5/4", "must satisfy 0 < used <= group"),
        ("0-7:0/4", "must satisfy 0 < used <= group"),
        ("99999", "beyond the largest supported id"),
        ("all", "'all' is not a CPU number"),
        ("1 2", "'1 2' is not a CPU number"),
        ("\u00b2", "is not a CPU number"),
    ],
)
def test_parse_cpulist_rejects_garbage(text, fragment):
    with pytest.raises(ValueError) as exc:
        parse_cpulist(text)
    assert fragment in str(exc.value)
    assert "invalid cpulist" in str(exc.value)


def test_parse_cpulist_rejects_non_strings():
    with pytest.raises(ValueError, match="must be a string"):
        parse_cpulist([1, 2])


@pytest.mark.parametrize(
    "cpus, text",
    [
        ([], ""),
        ([5], "5"),
        ([0, 1], "0-1"),
        ([0, 1, 2, 3, 8, 10, 11], "0-3,8,10-11"),
        ([11, 10, 8, 3, 2, 1, 0, 0], "0-3,8,10-11"),
        (range(0, 64, 2), ",".join(str(c) for c in range(0, 64, 2))),
        (["4", "5"], "4-5"),
    ],
)
def test_format_cpulist(cpus, text):
    assert format_cpulist(cpus) == text


@pytest.mark.parametrize("bad", [[-1], [True], ["x"], [1.5]])
def test_format_cpulist_rejects_bad_ids(bad):
    with pytest.raises(ValueError):
        format_cpulist(bad)


def test_cpulist_round_trip_random_sets():
    rng = random.Random(20240601)
    for _unused in range(300):
        cpus = sorted(rng.sample(range(256), rng.randint(0, 40)))
        assert parse_cpulist(format_cpulist(cpus)) == cpus
        assert parse_mask(format_mask(cpus, 256)) == cpus


@pytest.mark.parametrize(
    "text, cpus",
    [
        ("00000000,0000ff00", list(range(8, 16))),
        ("ff", list(range(8))),
        ("0xff\n", list(range(8))),
        ("33", [0, 1, 4, 5]),
        ("0", []),
        ("00000001,00000000,00000001", [0, 64]),
        ("fffffffc,fffffffc", list(range(2, 32)) + list(range(34, 64))),
        ("ffff,ffffffff", list(range(48))),
    ],
)
def test_parse_mask(text, cpus):
    assert parse_mask(text) == cpus


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        ("0x", "empty"),
        ("fg", "'fg' is not 1 to 8 hex digits"),
        ("123456789", "is not 1 to 8 hex digits"),
        ("ff,,ff", "'' is not 1 to 8 hex digits"),
    ],
)
def test_parse_mask_rejects_garbage(text, fragment):
    with pytest.raises(ValueError) as exc:
        parse_mask(text)
    assert fragment in str(exc.value)


@pytest.mark.parametrize(
    "cpus, nbits, text",
    [
        (range(8, 16), 64, "00000000,0000ff00"),
        (range(8), 8, "ff"),
        (range(8), None, "ff"),
        ([0, 1, 4, 5], 8, "33"),
        ([], 8, "00"),
        ([], None, "0"),
        ([0], 12, "001"),
        (range(48), 48, "ffff,ffffffff"),
        ([32], 40, "01,00000000"),
        ([0, 8, 16, 24], 48, "0000,01010101"),
        ([95], 96, "80000000,00000000,00000000"),
    ],
)
def test_format_mask(cpus, nbits, text):
    assert format_mask(cpus, nbits) == text


def test_format_mask_refuses_cpus_beyond_width():
    with pytest.raises(ValueError, match="does not fit in a 8-bit mask"):
        format_mask([8], 8)


def test_to_cpus_accepts_all_spellings():
    assert to_cpus("0-2") == [0, 1, 2]
    assert to_cpus([2, 0, 1, 1]) == [0, 1, 2]
    assert to_cpus(3) == [3]
    assert to_cpus(None) == []
    assert to_cpus(("1", "2")) == [1, 2]
    with pytest.raises(ValueError):
        to_cpus(True)
    with pytest.raises(ValueError):
        to_cpus({"a": 1})
