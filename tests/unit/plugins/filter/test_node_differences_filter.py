# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The node_differences and kubelet_settings filters: documented, and their errors are filter errors."""

from pathlib import Path

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.bot4.hft.plugins.filter import kubelet_settings as kubelet_mod
from ansible_collections.bot4.hft.plugins.filter import node_differences as mod

FILTER_DIR = Path(mod.__file__).resolve().parent


def test_documented():
    assert set(mod.FilterModule().filters()) == {"node_differences", "node_unmovable", "node_status"}
    data = yaml.safe_load((FILTER_DIR / "node_status.yml").read_text())
    assert data["DOCUMENTATION"]["name"] == "node_status"
    assert set(data["DOCUMENTATION"]["options"]) == {"_input", "state", "plan_sha256"}
    assert set(data["RETURN"]["_value"]["contains"]) == set(mod.node_status([], {}, "ab"))
    data = yaml.safe_load((FILTER_DIR / "node_unmovable.yml").read_text())
    assert data["DOCUMENTATION"]["name"] == "node_unmovable"
    assert set(data["DOCUMENTATION"]["options"]) == {"_input"}
    data = yaml.safe_load((FILTER_DIR / "node_differences.yml").read_text())
    assert data["DOCUMENTATION"]["name"] == "node_differences"
    assert set(data["DOCUMENTATION"]["options"]) == {"_input", "state", "parts"}
    assert data["RETURN"]["_value"]["type"] == "list"
    assert set(kubelet_mod.FilterModule().filters()) == {"kubelet_settings", "kubelet_restored"}
    data = yaml.safe_load((FILTER_DIR / "kubelet_settings.yml").read_text())
    assert data["DOCUMENTATION"]["name"] == "kubelet_settings"
    assert set(data["DOCUMENTATION"]["options"]) == {"_input", "kubelet"}
    assert set(data["RETURN"]["_value"]["contains"]) == set(kubelet_mod.kubelet_settings({"kubelet": {}}, None))
    data = yaml.safe_load((FILTER_DIR / "kubelet_restored.yml").read_text())
    assert data["DOCUMENTATION"]["name"] == "kubelet_restored"
    assert set(data["DOCUMENTATION"]["options"]) == {"_input", "originals"}


@pytest.mark.parametrize("plan, state, kwargs, message", [
    ("plan", {}, {}, "the input is the plan"),
    ({"cpu": {}}, {}, {"parts": ["kernel"]}, "node_differences: 'kernel_args'"),
    ({}, {}, {"parts": ["fast"]}, "unknown verify parts: fast"),
])
def test_bad_input_is_a_filter_error(plan, state, kwargs, message):
    with pytest.raises(AnsibleFilterError, match=message):
        mod.node_differences(plan, state, **kwargs)


@pytest.mark.parametrize("plan, kubelet, message", [
    ("plan", None, "the input is the plan"),
    ({}, None, "the input is the plan"),
    ({"kubelet": {}}, "kubelet", "the argument is the kubelet"),
    ({"kubelet": {}}, {"installed": True, "config": {"error": "/x: Permission denied"}},
     r"kubelet_settings: cannot read the kubelet's configuration \(/x: Permission denied\)"),
    ({"kubelet": {}}, {"installed": True, "config": {"documents": [{"path": "/x", "text": "{}"}]}},
     "kubelet_settings: 'cpuManagerPolicyOptions'"),
])
def test_bad_kubelet_input_is_a_filter_error(plan, kubelet, message):
    with pytest.raises(AnsibleFilterError, match=message):
        kubelet_mod.kubelet_settings(plan, kubelet)


def test_unmovable_lists_managed_irqs_and_kernel_bound_threads_apart_from_differences():
    state = {"runtime": {"report": {"sections": {
        "irq": {"changes": [], "unmovable_irqs": [
            {"irq": 32, "name": "virtio0-req.2", "cpus": "6", "effective": "6"}]},
        "kthread": {"changes": [], "kthreads_kernel_bound": [
            {"pid": 10, "comm": "kworker/u16:0", "cpus": "0-7"}]}}}}}
    assert mod.node_unmovable(state) == [
        {"kind": "managed IRQ", "item": "IRQ 32 virtio0-req.2", "cpus": "6", "effective": "6"},
        {"kind": "kernel-bound thread", "item": "kworker/u16:0 (pid 10)", "cpus": "0-7", "effective": None}]
    # no runtime report (a node not tuned, or the part not read): nothing to list
    assert mod.node_unmovable({}) == []
    with pytest.raises(AnsibleFilterError, match="the input is the state"):
        mod.node_unmovable("state")


def test_status_reads_the_record_and_boot_id_of_the_state():
    record = {"plan_sha256": "ab", "pending_reboot": True, "boot_id": "b-1"}
    item = {"area": "sysctl", "item": "/proc/sys/vm/stat_interval", "expected": "10", "actual": "1"}
    status = mod.node_status([item], {"record": record, "boot_id": "b-1\n"}, "ab")
    assert status == {"status": "pending reboot", "pending_reboot": True, "boot_state": [], "at_reboot": [item]}
    assert mod.node_status([item], {"record": record, "boot_id": "b-2"}, "ab")["status"] == "differs"


@pytest.mark.parametrize("items, state, sha, message", [
    ("items", {}, "ab", "the input is the differences"),
    ([], "state", "ab", "the argument the state"),
    ([], {}, "", "plan_sha256 must be the plan's sha256"),
    ([], {}, None, "plan_sha256 must be the plan's sha256"),
])
def test_bad_status_input_is_a_filter_error(items, state, sha, message):
    with pytest.raises(AnsibleFilterError, match=message):
        mod.node_status(items, state, sha)
