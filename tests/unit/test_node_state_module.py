# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bot4.hft.node_state on a fake node: the lab VM's plan.runtime (from its
golden plan) applied to the lab VM's recorded /proc and /sys tree."""

import json
import sys
from pathlib import Path

import pytest


from ansible_collections.bot4.hft.plugins.modules import node_state

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "runtime"))
sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
import fakesys  # noqa: E402
from module_harness import run_module  # noqa: E402

GOLDEN = Path(__file__).resolve().parent / "golden" / "lab__lab.json"
# The sections the lab VM's tree can take (it has no cpufreq/EPB driver, its
# NIC stays with its driver here: the dpdk section has its own tests).
SECTIONS = ["hugepages", "sysctl", "thp", "irq", "workqueue", "rps", "cpuidle"]


@pytest.fixture
def lab(tmp_path, monkeypatch):
    return fakesys.Machine(tmp_path, monkeypatch, "lab-vm")


@pytest.fixture
def runtime():
    return json.loads(GOLDEN.read_text())["runtime"]


def run(machine, capsys, check_mode=False, diff=False, **params):
    params.setdefault("root", str(machine.root))
    return run_module(node_state.main, capsys, params, check_mode, diff)


def test_check_mode_reports_every_change_with_a_diff_and_writes_nothing(lab, runtime, capsys):
    result = run(lab, capsys, check_mode=True, diff=True, config=runtime, sections=SECTIONS)
    assert result["_rc"] == 0, result
    assert result["changed"] is True
    assert result["report"]["mode"] == "check"
    assert lab.kernel.writes == []
    assert "workqueue: /sys/devices/virtual/workqueue/cpumask = ff" in result["diff"]["before"]
    assert "workqueue: /sys/devices/virtual/workqueue/cpumask = 33" in result["diff"]["after"]
    assert "irq: /proc/irq/default_smp_affinity = 33" in result["diff"]["after"]


def test_apply_then_nothing_left_to_change(lab, runtime, capsys):
    first = run(lab, capsys, config=runtime, sections=SECTIONS)
    assert first["_rc"] == 0, first.get("msg")
    assert first["changed"] is True and first["report"]["failed"] is False
    assert lab.read("/sys/devices/virtual/workqueue/cpumask") == "33"
    assert lab.read("/proc/sys/kernel/numa_balancing") == "0"
    again = run(lab, capsys, config=runtime, sections=SECTIONS)
    assert again["changed"] is False, again["report"]["msg"]
    assert again["report"]["msg"] == "in sync with the plan"


def test_mode_check_reads_only_and_never_reports_a_change(lab, runtime, capsys):
    result = run(lab, capsys, config=runtime, sections=["workqueue"], mode="check")
    assert result["changed"] is False
    assert result["report"]["sections"]["workqueue"]["status"] == "would_change"
    assert lab.kernel.writes == []


def test_errors_fail_the_task_unless_the_caller_takes_them(lab, capsys):
    bad = {"workqueue": {"cpus": "0-x"}}
    failed = run(lab, capsys, config=bad)
    assert failed["_rc"] == 1 and failed["failed"] is True
    assert "workqueue.cpus: invalid cpulist" in failed["msg"]
    taken = run(lab, capsys, config=bad, fail_on_error=False)
    assert taken["_rc"] == 0 and taken["report"]["failed"] is True


def test_an_unknown_section_is_refused_before_anything_runs(lab, capsys):
    result = run(lab, capsys, config={"workqueue": {"cpus": "0-1"}, "swap": {}})
    assert result["_rc"] == 1
    assert "unknown section 'swap'" in result["msg"]
    assert lab.kernel.writes == []
