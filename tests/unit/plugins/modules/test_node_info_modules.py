# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""node_topology_info and node_plan_info run on fixture roots, with their
arguments fed through patch_module_args (fixtures/module_harness.py)."""

import json
import sys
from pathlib import Path

import pytest
import yaml


from ansible_collections.bot4.hft.plugins.module_utils.planner import plan
from ansible_collections.bot4.hft.plugins.modules import node_plan_info, node_topology_info

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures"))
from module_harness import patch_module_args  # noqa: E402

LAB_PROFILE = {
    "dpdk": {"devices": [{"pci": "0000:81:00.0"}]},
    "hugepages": {"pages": [{"size": "1G", "count": 1, "node": "nic"}]},
}


def run(module, args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            module.main()
    out = capsys.readouterr().out
    return exc.value.code, json.loads(out)


def test_topology_info_reads_the_root(shape_root, capsys):
    code, result = run(node_topology_info, {"root": shape_root("lab")}, capsys)
    assert code == 0
    assert result["changed"] is False
    topo = result["topology"]
    assert topo["cpus"]["online"] == "0-7"
    assert [n["address"] for n in topo["nics"]] == ["0000:00:02.0", "0000:81:00.0"]
    assert topo["numa"]["nodes"][1]["cpus"] == "4-7"


def test_topology_info_in_check_mode(shape_root, capsys):
    code, result = run(node_topology_info, {"root": shape_root("single8"), "_ansible_check_mode": True}, capsys)
    assert code == 0 and result["changed"] is False and "topology" in result


def test_topology_info_fails_on_a_wrong_root(tmp_path, capsys):
    code, result = run(node_topology_info, {"root": str(tmp_path)}, capsys)
    assert code == 1
    assert result["failed"] is True
    assert "is not readable" in result["msg"]


def test_topology_info_rejects_unknown_arguments(shape_root, capsys):
    code, result = run(node_topology_info, {"root": shape_root("lab"), "rooot": "/"}, capsys)
    assert code == 1 and "rooot" in result["msg"]


def test_plan_info_returns_topology_and_plan(shape_root, shape_topology, capsys):
    code, result = run(node_plan_info, {"profile": LAB_PROFILE, "root": shape_root("lab")}, capsys)
    assert code == 0
    assert result["changed"] is False
    assert result["plan"] == json.loads(json.dumps(plan(LAB_PROFILE, shape_topology("lab"))))
    assert result["plan"]["cpu"]["isolated"] == "2-3,6-7"
    assert result["topology"]["format"] == 1
    assert "warnings" not in result or result["warnings"] == []


def test_plan_info_check_mode(shape_root, capsys):
    code, result = run(
        node_plan_info, {"profile": {}, "root": shape_root("lab"), "_ansible_check_mode": True}, capsys)
    assert code == 0 and result["changed"] is False and result["plan"]["cpu"]["reserved"] == "0-1,4-5"


def test_plan_info_lists_every_problem(shape_root, capsys):
    profile = {
        "cpu": {"isolated": "2-3,6-7,96-99"},
        "dpdk": {"devices": [{"pci": "0000:82:00.0"}]},
        "kernel": {"extra_args": ["isolcpus=3"]},
    }
    code, result = run(node_plan_info, {"profile": profile, "root": shape_root("lab")}, capsys)
    assert code == 1
    assert result["failed"] is True
    assert result["msg"].startswith("hft_profile is invalid (3 problems):")
    assert {"field": "hft_profile.cpu.isolated",
            "reason": "CPUs 96-99 do not exist on this node (online: 0-7)"} in result["errors"]
    # shape problems first, then the ones found against the machine
    assert [e["field"] for e in result["errors"]] == [
        "hft_profile.kernel.extra_args[0]", "hft_profile.dpdk.devices[0].pci", "hft_profile.cpu.isolated"]
    for error in result["errors"]:
        assert "- %s: %s" % (error["field"], error["reason"]) in result["msg"]
    assert "plan" not in result


def test_plan_info_shape_errors_fail_too(shape_root, capsys):
    code, result = run(node_plan_info, {"profile": {"cpu": {"smt": "off"}}, "root": shape_root("lab")}, capsys)
    assert code == 1
    assert result["errors"] == [{"field": "hft_profile.cpu.smt",
                                 "reason": "must be one of enabled, disabled, got str 'off'"}]


def test_plan_info_emits_plan_warnings(shape_root, capsys, monkeypatch):
    # ansible-core de-duplicates warnings per process, so record the calls
    from ansible.module_utils.basic import AnsibleModule

    seen = []
    monkeypatch.setattr(AnsibleModule, "warn", lambda self, text, *a, **k: seen.append(text))
    code, result = run(
        node_plan_info,
        {"profile": {"dpdk": {"devices": [{"pci": "0000:af:00.0"}]}}, "root": shape_root("xeon2s")},
        capsys,
    )
    assert code == 0
    assert result["plan"]["warnings"]
    assert seen == result["plan"]["warnings"]


def test_plan_info_from_a_saved_topology(shape_topology, capsys):
    saved = json.loads(json.dumps(shape_topology("epyc_nps4").to_dict()))
    code, result = run(node_plan_info, {"profile": {}, "topology": saved, "root": "/nonexistent"}, capsys)
    assert code == 0
    assert result["topology"] == saved
    assert result["plan"]["topology_summary"]["numa_nodes"] == [0, 1, 2, 3]


def test_plan_info_rejects_a_bad_saved_topology(capsys):
    code, result = run(node_plan_info, {"profile": {}, "topology": {"format": 7}}, capsys)
    assert code == 1 and "format 7" in result["msg"]


def test_plan_info_netdev_names(custom_shape, capsys, tmp_path):
    import dataclasses
    import sysfs_builder

    shape = sysfs_builder.lab_vm()
    nics = [n if n.address != "0000:81:00.0" else dataclasses.replace(n, driver="vfio-pci", netdev=None)
            for n in shape.nics]
    root = tmp_path / "bound"
    sysfs_builder.build(dataclasses.replace(shape, nics=nics), str(root))
    args = {"profile": {"dpdk": {"devices": [{"interface": "enp129s0"}]}}, "root": str(root),
            "netdev_names": {"0000:81:00.0": "enp129s0"}}
    code, result = run(node_plan_info, args, capsys)
    assert code == 0
    assert result["plan"]["dpdk"]["devices"][0]["pci"] == "0000:81:00.0"
    assert "current_driver" not in result["plan"]["dpdk"]["devices"][0]
    assert {n["address"]: n["driver"] for n in result["topology"]["nics"]}["0000:81:00.0"] == "vfio-pci"


def test_plan_info_requires_a_profile(capsys):
    code, result = run(node_plan_info, {}, capsys)
    assert code == 1 and "profile" in result["msg"]


@pytest.mark.parametrize("module", [node_topology_info, node_plan_info])
def test_documentation_matches_the_argspec(module):
    doc = yaml.safe_load(module.DOCUMENTATION)
    yaml.safe_load(module.EXAMPLES)
    yaml.safe_load(module.RETURN)
    captured = {}

    class Stop(Exception):
        pass

    def fake_init(self, argument_spec, **kwargs):
        captured.update(argument_spec)
        captured["_check_mode"] = kwargs.get("supports_check_mode")
        raise Stop()

    from ansible.module_utils import basic

    original = basic.AnsibleModule.__init__
    basic.AnsibleModule.__init__ = fake_init
    try:
        with pytest.raises(Stop):
            module.main()
    finally:
        basic.AnsibleModule.__init__ = original
    check_mode = captured.pop("_check_mode")
    assert check_mode is True and doc["attributes"]["check_mode"]["support"] == "full"
    assert set(doc["options"]) == set(captured)
    for name, spec in captured.items():
        option = doc["options"][name]
        assert option["type"] == spec["type"], name
        assert option.get("required", False) == spec.get("required", False), name
        assert option.get("default") == spec.get("default"), name
