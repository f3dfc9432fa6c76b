# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bot4-hft-runtime, section cpu_offline: the CPUs of cpu.offline taken
offline through /sys/devices/system/cpu/cpuN/online, first of all sections."""

import sys
from pathlib import Path

import pytest

from ansible_collections.bot4.hft.plugins.module_utils.node.core import OWNED, SECTIONS, ConfigError
from ansible_collections.bot4.hft.plugins.module_utils.node.cpu import cpu_offline_settings, decide_cpu_offline

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "runtime"))
import fakesys  # noqa: E402


@pytest.fixture
def lab(tmp_path, monkeypatch):
    machine = fakesys.Machine(tmp_path, monkeypatch, "lab-vm")
    for cpu in range(1, 8):
        machine.set("/sys/devices/system/cpu/cpu%d/online" % cpu, "1")
    return machine


def test_decide_takes_online_cpus_offline_and_leaves_offline_ones():
    current = {3: {"exists": True, "online": "1"}, 7: {"exists": True, "online": "0"}}
    decision = decide_cpu_offline({"cpus": [3, 7]}, current)
    assert decision["actions"] == [{"kind": "set", "path": "/sys/devices/system/cpu/cpu3/online",
                                    "before": "1", "after": "0", "compare": "text"}]
    assert decision["data"] == {"cpus_offline": [3, 7]}


def test_decide_refuses_a_missing_cpu_and_one_without_an_online_file():
    current = {5: {"exists": False, "online": None}, 6: {"exists": True, "online": None}}
    actions = decide_cpu_offline({"cpus": [5, 6]}, current)["actions"]
    assert [a["kind"] for a in actions] == ["error", "error"]
    assert "cpu5 does not exist" in actions[0]["text"]
    assert "cpu6/online is missing" in actions[1]["text"]


def test_settings_refuse_the_boot_cpu():
    with pytest.raises(ConfigError, match="CPU 0, the boot CPU"):
        cpu_offline_settings({"cpus": "0,7"})
    assert cpu_offline_settings({"cpus": "6-7"}) == {"cpus": [6, 7]}


def test_check_apply_check(lab):
    config = {"cpu_offline": {"cpus": "6-7"}}
    code, result = lab.check(config)
    assert code == 2
    assert [c["path"] for c in result["sections"]["cpu_offline"]["changes"]] == [
        "/sys/devices/system/cpu/cpu6/online", "/sys/devices/system/cpu/cpu7/online"]
    assert lab.kernel.writes == []
    code, result = lab.apply(config)
    assert code == 0, result["msg"]
    assert lab.read("/sys/devices/system/cpu/cpu6/online") == "0"
    assert lab.read("/sys/devices/system/cpu/cpu5/online") == "1"
    code, result = lab.check(config)
    assert code == 0 and result["sections"]["cpu_offline"]["cpus_offline"] == [6, 7]


def test_runs_first_and_writes_only_online_files():
    assert SECTIONS[0] == "cpu_offline"
    assert OWNED["cpu_offline"] == ("/sys/devices/system/cpu/cpu[0-9]*/online",)
