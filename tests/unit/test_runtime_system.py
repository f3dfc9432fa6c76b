# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bot4-hft-runtime, sections sysctl and thp."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "runtime"))
import fakesys  # noqa: E402

PLAN_SYSCTL = {
    "kernel.hung_task_timeout_secs": "600",
    "kernel.nmi_watchdog": "0",
    "kernel.numa_balancing": "0",
    "kernel.timer_migration": "1",
    "vm.stat_interval": "10",
}


@pytest.fixture
def lab(tmp_path, monkeypatch):
    return fakesys.Machine(tmp_path, monkeypatch, "lab-vm")


def test_sysctl_check_apply_idempotent(lab):
    config = {"sysctl": PLAN_SYSCTL}
    code, result = lab.check(config)
    assert code == 2
    assert {c["path"]: (c["before"], c["after"]) for c in result["sections"]["sysctl"]["changes"]} == {
        "/proc/sys/kernel/hung_task_timeout_secs": ("120", "600"),
        "/proc/sys/kernel/nmi_watchdog": ("1", "0"),
        "/proc/sys/kernel/numa_balancing": ("1", "0"),
        "/proc/sys/vm/stat_interval": ("1", "10"),
    }
    assert lab.kernel.writes == []
    code, result = lab.apply(config)
    assert code == 0
    assert lab.read("/proc/sys/kernel/numa_balancing") == "0"
    assert lab.read("/proc/sys/vm/stat_interval") == "10"
    lab.kernel.writes[:] = []
    assert lab.apply(config)[1]["changed"] is False
    assert lab.kernel.writes == []
    assert lab.check(config)[0] == 0


def test_sysctl_values_compare_whitespace_insensitively(lab):
    # the kernel prints the range with a tab
    config = {"sysctl": {"net.ipv4.ip_local_port_range": "32768 60999"}}
    assert lab.check(config)[0] == 0
    code, result = lab.apply({"sysctl": {"net.ipv4.ip_local_port_range": "1024   65000"}})
    assert code == 0
    assert lab.read("/proc/sys/net/ipv4/ip_local_port_range") == "1024 65000"


def test_sysctl_slash_names_and_integers(lab):
    code, result = lab.apply({"sysctl": {"kernel/numa_balancing": 0}})
    assert code == 0
    assert lab.read("/proc/sys/kernel/numa_balancing") == "0"


def test_unknown_sysctl_fails_with_its_name(lab):
    code, result = lab.check({"sysctl": {"kernel.no_such_knob": "1"}})
    assert code == 1
    assert "kernel.no_such_knob: no such sysctl (/proc/sys/kernel/no_such_knob does not exist)" in result["msg"]


def test_sysctl_rejects_non_scalar_values(lab):
    code, result = lab.check({"sysctl": {"vm.stat_interval": [10]}})
    assert code == 1
    assert "sysctl.vm.stat_interval must be a string or an integer" in result["msg"]


# ----------------------------------------------------------------------- thp
def test_thp_check_apply_idempotent(lab):
    config = {"thp": {"enabled": "never", "defrag": "never"}}
    code, result = lab.check(config)
    assert code == 2
    assert result["sections"]["thp"]["changes"] == [
        {"path": "/sys/kernel/mm/transparent_hugepage/enabled", "before": "madvise", "after": "never"},
        {"path": "/sys/kernel/mm/transparent_hugepage/defrag", "before": "madvise", "after": "never"},
    ]
    code, result = lab.apply(config)
    assert code == 0, result["msg"]
    assert lab.read("/sys/kernel/mm/transparent_hugepage/enabled") == "always madvise [never]"
    assert result["sections"]["thp"]["changes"][0]["after"] == "always madvise [never]"
    assert lab.check(config)[0] == 0
    lab.kernel.writes[:] = []
    assert lab.apply(config)[1]["changed"] is False
    assert lab.kernel.writes == []


def test_thp_value_must_be_offered_by_the_kernel(lab):
    code, result = lab.check({"thp": {"enabled": "sometimes"}})
    assert code == 1
    assert "'sometimes' is not one of always, madvise, never" in result["msg"]


def test_thp_absent_kernel_is_a_notice(lab):
    import shutil
    shutil.rmtree(str(lab.root / "sys/kernel/mm/transparent_hugepage"))
    code, result = lab.apply({"thp": {"enabled": "never"}})
    assert code == 0
    assert result["sections"]["thp"]["status"] == "skipped"
