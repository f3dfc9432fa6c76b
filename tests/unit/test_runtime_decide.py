# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""The applier's decisions (decide_*), pure: on the state of the recorded
machines (lab-vm.json, metal-2s.json read in memory by fakesys.RecordedNode,
no tree on disk) and on hand-made states."""

import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "runtime"))
import fakesys  # noqa: E402

from ansible_collections.bot4.hft.plugins.module_utils.node import sysctl  # noqa: E402
from ansible_collections.bot4.hft.plugins.module_utils.node.core import ConfigError  # noqa: E402


def error(text):
    return {"kind": "error", "text": text}


def notice(text):
    return {"kind": "notice", "text": text}


def skip(text):
    return {"kind": "skip", "text": text}


def set_(path, before, after, compare="text", **extra):
    action = {"kind": "set", "path": path, "before": before, "after": after, "compare": compare}
    action.update(extra)
    return action


def recorded(name, reader, cfg, **kwargs):
    """``reader``'s view of the recorded machine ``name``."""
    return reader(fakesys.RecordedNode(name, **kwargs), cfg)


# -------------------------------------------------------------------- sysctl
LAB_SYSCTL = {"kernel.numa_balancing": "0", "vm.stat_interval": 10, "net.ipv4.ip_local_port_range": "32768 60999"}


def test_sysctl_reads_the_recorded_values():
    assert recorded("lab-vm", sysctl.read_sysctl, LAB_SYSCTL) == {
        "kernel.numa_balancing": "1", "vm.stat_interval": "1", "net.ipv4.ip_local_port_range": "32768\t60999"}


def test_sysctl_sets_what_differs_in_name_order():
    current = recorded("lab-vm", sysctl.read_sysctl, LAB_SYSCTL)
    assert sysctl.decide_sysctl(LAB_SYSCTL, current) == {"actions": [
        set_("/proc/sys/kernel/numa_balancing", "1", "0", "words"),
        set_("/proc/sys/vm/stat_interval", "1", "10", "words"),
    ]}


def test_sysctl_in_place_is_no_action():
    current = {"kernel.numa_balancing": "0", "vm.stat_interval": "10", "net.ipv4.ip_local_port_range": "32768\t60999"}
    assert sysctl.decide_sysctl(LAB_SYSCTL, current) == {"actions": []}


def test_sysctl_missing_is_an_error_in_its_place():
    cfg = {"kernel.a": "1", "kernel.b": "1", "kernel/c": "2"}
    current = {"kernel.a": None, "kernel.b": "0", "kernel/c": None}
    assert sysctl.decide_sysctl(cfg, current)["actions"] == [
        error("kernel.a: no such sysctl (/proc/sys/kernel/a does not exist)"),
        set_("/proc/sys/kernel/b", "0", "1", "words"),
        error("kernel/c: no such sysctl (/proc/sys/kernel/c does not exist)"),
    ]


def test_sysctl_value_is_written_with_single_spaces():
    assert sysctl.decide_sysctl({"net.ipv4.ip_local_port_range": "1024   65000"},
                                {"net.ipv4.ip_local_port_range": "32768\t60999"})["actions"] == [
        set_("/proc/sys/net/ipv4/ip_local_port_range", "32768\t60999", "1024 65000", "words")]


@pytest.mark.parametrize("cfg, message", [
    ([], "section sysctl must be a JSON object of name: value"),
    ({"vm.a": "1", "vm.b": True}, "sysctl.vm.b must be a string or an integer"),
    ({"vm.a": None}, "sysctl.vm.a must be a string or an integer"),
])
def test_sysctl_settings_refuse_bad_values(cfg, message):
    with pytest.raises(ConfigError, match=message):
        sysctl.sysctl_settings(cfg)


# ----------------------------------------------------------------------- thp
THP = "/sys/kernel/mm/transparent_hugepage/"


def test_thp_sets_the_bracketed_choice():
    cfg = {"enabled": "never", "defrag": "never"}
    current = recorded("lab-vm", sysctl.read_thp, cfg)
    assert current == {"enabled": "always [madvise] never", "defrag": "always defer defer+madvise [madvise] never"}
    assert sysctl.decide_thp(cfg, current)["actions"] == [
        set_(THP + "enabled", "madvise", "never", "choice"),
        set_(THP + "defrag", "madvise", "never", "choice"),
    ]


def test_thp_in_place_or_unset_is_no_action():
    current = {"enabled": "always madvise [never]", "defrag": None}
    assert sysctl.decide_thp({"enabled": "never"}, current) == {"actions": []}
    assert sysctl.decide_thp({}, current) == {"actions": []}


def test_thp_errors_for_a_missing_file_and_an_unknown_choice():
    current = {"enabled": None, "defrag": "always [madvise] never"}
    assert sysctl.decide_thp({"enabled": "never", "defrag": "sometimes"}, current)["actions"] == [
        error(THP + "enabled is missing"),
        error(THP + "defrag: 'sometimes' is not one of always, madvise, never"),
    ]


def test_thp_without_the_directory_skips():
    assert sysctl.decide_thp({"enabled": "never"}, None)["actions"] == [
        skip("this kernel has no transparent hugepages (/sys/kernel/mm/transparent_hugepage missing): nothing to do")]


def test_thp_settings_refuse_unknown_keys():
    with pytest.raises(ConfigError, match="section thp: unknown keys shmem"):
        sysctl.thp_settings({"shmem": "never"})


def test_decisions_do_not_change_their_inputs():
    cfg = {"enabled": "never", "defrag": "never"}
    current = recorded("lab-vm", sysctl.read_thp, cfg)
    before = copy.deepcopy((cfg, current))
    assert sysctl.decide_thp(cfg, current) == sysctl.decide_thp(cfg, current)
    assert (cfg, current) == before
