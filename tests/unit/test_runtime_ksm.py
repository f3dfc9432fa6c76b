# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bot4-hft-runtime, section ksm: kernel samepage merging stopped where the kernel has it."""

import sys
from pathlib import Path

import pytest

from ansible_collections.bot4.hft.plugins.module_utils.node.core import ConfigError
from ansible_collections.bot4.hft.plugins.module_utils.node.ksm import decide_ksm, ksm_settings

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "runtime"))
import fakesys  # noqa: E402


@pytest.fixture
def lab(tmp_path, monkeypatch):
    return fakesys.Machine(tmp_path, monkeypatch, "lab-vm")


def test_decide():
    assert decide_ksm({"run": "0"}, {"run": "1"})["actions"] == [
        {"kind": "set", "path": "/sys/kernel/mm/ksm/run", "before": "1", "after": "0", "compare": "text"}]
    assert decide_ksm({"run": "0"}, {"run": "0"})["actions"] == []
    assert decide_ksm({"run": "0"}, {"run": None})["actions"][0]["kind"] == "skip"


def test_settings_refuse_another_value():
    with pytest.raises(ConfigError, match="ksm.run must be one of 0, 1, 2"):
        ksm_settings({"run": "off"})
    assert ksm_settings({"run": 0}) == {"run": "0"}


def test_check_apply_check(lab):
    lab.set("/sys/kernel/mm/ksm/run", "1")
    code, result = lab.check({"ksm": {"run": "0"}})
    assert code == 2 and result["sections"]["ksm"]["changes"] == [
        {"path": "/sys/kernel/mm/ksm/run", "before": "1", "after": "0"}]
    assert lab.apply({"ksm": {"run": "0"}})[0] == 0
    assert lab.read("/sys/kernel/mm/ksm/run") == "0"
    assert lab.check({"ksm": {"run": "0"}})[0] == 0


def test_a_kernel_without_ksm_is_skipped(lab):
    code, result = lab.check({"ksm": {"run": "0"}})
    assert code == 0 and result["sections"]["ksm"]["status"] == "skipped"
