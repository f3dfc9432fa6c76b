# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bot4-hft-runtime, sections epp (HWP energy/performance preference) and
min_perf_pct (intel_pstate's floor), each skipped where the driver lacks it."""

import sys
from pathlib import Path

import pytest

from ansible_collections.bot4.hft.plugins.module_utils.node.core import ConfigError
from ansible_collections.bot4.hft.plugins.module_utils.node.power import epp_settings, min_perf_pct_settings

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "runtime"))
import fakesys  # noqa: E402

EPP = "energy_performance_preference"


@pytest.fixture
def lab(tmp_path, monkeypatch):
    return fakesys.Machine(tmp_path, monkeypatch, "lab-vm")


def test_a_vm_without_hwp_or_intel_pstate_is_skipped(lab):
    code, result = lab.check({"epp": {"value": "performance"}, "min_perf_pct": {"value": 100}})
    assert code == 0
    assert result["sections"]["epp"]["status"] == "skipped"
    assert result["sections"]["min_perf_pct"]["status"] == "skipped"


def test_epp_once_per_cpu_and_an_unavailable_value_is_an_error(lab):
    for cpu in range(8):
        lab.set("/sys/devices/system/cpu/cpu%d/cpufreq/%s" % (cpu, EPP), "balance_performance")
        lab.set("/sys/devices/system/cpu/cpu%d/cpufreq/energy_performance_available_preferences" % cpu,
                "default performance balance_performance balance_power power")
    code, result = lab.check({"epp": {"value": "performance", "cpus": "2-3"}})
    assert code == 2
    assert [c["path"] for c in result["sections"]["epp"]["changes"]] == [
        "/sys/devices/system/cpu/cpu2/cpufreq/" + EPP, "/sys/devices/system/cpu/cpu3/cpufreq/" + EPP]
    assert lab.apply({"epp": {"value": "performance"}})[0] == 0
    assert lab.read("/sys/devices/system/cpu/cpu7/cpufreq/" + EPP) == "performance"
    assert lab.check({"epp": {"value": "performance"}})[0] == 0
    lab.set("/sys/devices/system/cpu/cpu0/cpufreq/energy_performance_available_preferences", "default power")
    code, result = lab.check({"epp": {"value": "performance", "cpus": "0"}})
    assert code == 1 and "not available (available: default power)" in result["sections"]["epp"]["errors"][0]


def test_min_perf_pct(lab):
    lab.set("/sys/devices/system/cpu/intel_pstate/min_perf_pct", "24")
    code, result = lab.check({"min_perf_pct": {"value": 100}})
    assert code == 2 and result["sections"]["min_perf_pct"]["changes"] == [
        {"path": "/sys/devices/system/cpu/intel_pstate/min_perf_pct", "before": "24", "after": "100"}]
    assert lab.apply({"min_perf_pct": {"value": 100}})[0] == 0
    assert lab.read("/sys/devices/system/cpu/intel_pstate/min_perf_pct") == "100"


def test_settings():
    with pytest.raises(ConfigError, match="epp.value must be one of"):
        epp_settings({"value": "fast"})
    with pytest.raises(ConfigError, match="0-100"):
        min_perf_pct_settings({"value": 101})
