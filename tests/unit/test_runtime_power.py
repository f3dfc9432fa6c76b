# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bot4-hft-runtime, sections cpufreq, cpuidle and energy_perf_bias."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "runtime"))
import fakesys  # noqa: E402

ISOLATED_LAB = "2-3,6-7"


@pytest.fixture
def lab(tmp_path, monkeypatch):
    return fakesys.Machine(tmp_path, monkeypatch, "lab-vm")


@pytest.fixture
def metal(tmp_path, monkeypatch):
    return fakesys.Machine(tmp_path, monkeypatch, "metal-2s")


def qos(machine, cpu):
    return machine.read("/sys/devices/system/cpu/cpu%d/power/pm_qos_resume_latency_us" % cpu)


# ------------------------------------------------------- nodes without drivers
def test_lab_without_cpufreq_cpuidle_or_epb_skips_with_clear_notices(lab):
    config = {
        "cpufreq": {"governor": "performance", "cpus": "0-7"},
        "cpuidle": {"cpus": ISOLATED_LAB, "max_cstate": 1},
        "energy_perf_bias": {"value": "performance"},
    }
    for run in (lab.check, lab.apply):
        code, result = run(config)
        assert code == 0, result["msg"]
        secs = result["sections"]
        assert secs["cpufreq"]["status"] == "skipped"
        assert secs["cpufreq"]["notices"] == [
            "no cpufreq driver on this node (no cpufreq/ under the CPUs): governor performance not set"]
        assert secs["cpuidle"]["status"] == "skipped"
        assert secs["cpuidle"]["notices"] == [
            "no cpuidle driver on this node (current_driver: none): C-state limits not set"]
        assert secs["energy_perf_bias"]["status"] == "skipped"
    assert lab.kernel.writes == []


def test_missing_current_driver_file_counts_as_no_cpuidle_driver(lab):
    (lab.root / "sys/devices/system/cpu/cpuidle/current_driver").unlink()
    code, result = lab.apply({"cpuidle": {"cpus": ISOLATED_LAB, "poll_only": True}})
    assert code == 0
    assert "current_driver: missing" in result["sections"]["cpuidle"]["notices"][0]


# ------------------------------------------------------------------- cpufreq
def test_governor_check_apply_idempotent(metal):
    config = {"cpufreq": {"governor": "performance"}}
    code, result = metal.check(config)
    assert code == 2
    assert len(result["sections"]["cpufreq"]["changes"]) == 40
    code, result = metal.apply(config)
    assert code == 0, result["msg"]
    assert result["sections"]["cpufreq"]["driver"] == "intel_pstate"
    assert metal.read("/sys/devices/system/cpu/cpufreq/policy39/scaling_governor") == "performance"
    metal.kernel.writes[:] = []
    assert metal.apply(config)[1]["changed"] is False
    assert metal.kernel.writes == []


def test_governor_shared_policy_is_written_once(metal):
    # CPUs 0 and 1 in one policy (acpi-cpufreq on some machines)
    link = metal.root / "sys/devices/system/cpu/cpu1/cpufreq"
    link.unlink()
    link.symlink_to("../cpufreq/policy0")
    code, result = metal.apply({"cpufreq": {"governor": "performance", "cpus": "0-1"}})
    assert code == 0
    assert [c["path"] for c in result["sections"]["cpufreq"]["changes"]] == [
        "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"]


def test_unavailable_governor_fails(metal):
    code, result = metal.check({"cpufreq": {"governor": "schedutil", "cpus": "0"}})
    assert code == 1
    assert "cpu0: governor schedutil is not available (available: performance powersave)" in result["msg"]


# ------------------------------------------------------------------- cpuidle
def test_max_cstate_limits_isolated_cpus_by_resume_latency(metal):
    config = {"cpuidle": {"cpus": "10-19", "max_cstate": 1}}
    code, result = metal.check(config)
    assert code == 2
    assert len(result["sections"]["cpuidle"]["changes"]) == 10
    code, result = metal.apply(config)
    assert code == 0, result["msg"]
    # POLL (0 us) and C1 (2 us) allowed, C1E (10 us) and C6 not
    assert qos(metal, 10) == "2"
    assert qos(metal, 0) == "0"  # reserved CPUs untouched
    assert metal.check(config)[0] == 0


@pytest.mark.parametrize(
    "cfg, expected",
    [
        ({"max_cstate": 0}, "n/a"),
        ({"poll_only": True}, "n/a"),
        ({"max_cstate": 2}, "10"),
        ({"max_cstate": 9}, "0"),  # every state allowed: no constraint
        ({"resume_latency_us": 5}, "5"),
        ({"resume_latency_us": "n/a"}, "n/a"),
    ],
)
def test_cstate_policies(metal, cfg, expected):
    cfg = dict(cfg, cpus="10")
    code, result = metal.apply({"cpuidle": cfg})
    assert code == 0, result["msg"]
    assert qos(metal, 10) == expected


def test_cpuidle_needs_a_policy(metal):
    code, result = metal.check({"cpuidle": {"cpus": "10"}})
    assert code == 1
    assert "cpuidle needs max_cstate, poll_only or resume_latency_us" in result["msg"]


# ---------------------------------------------------------- energy_perf_bias
def test_energy_perf_bias_by_name_check_apply_idempotent(metal):
    config = {"energy_perf_bias": {"value": "performance"}}
    code, result = metal.check(config)
    assert code == 2
    assert result["sections"]["energy_perf_bias"]["changes"][0] == {
        "path": "/sys/devices/system/cpu/cpu0/power/energy_perf_bias", "before": "6", "after": "0"}
    assert metal.apply(config)[0] == 0
    assert metal.read("/sys/devices/system/cpu/cpu7/power/energy_perf_bias") == "0"
    assert metal.check(config)[0] == 0


def test_energy_perf_bias_rejects_unknown_names(metal):
    code, result = metal.check({"energy_perf_bias": {"value": "turbo"}})
    assert code == 1
    assert "energy_perf_bias.value must be 0-15 or one of" in result["msg"]
