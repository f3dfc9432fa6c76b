# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kubelet.py: the settings the lab plan wants of a kubeadm node's kubelet
(tests/unit/fixtures/kubelet), and what differs from them."""

import copy
import json
from pathlib import Path

import pytest
import yaml

from ansible_collections.bot4.hft.plugins.module_utils.kubelet import (
    DEFAULT_EVICTION_HARD,
    OWNED_KEYS,
    KubeletError,
    compare,
    config_paths,
    kubelet_flags,
    load_config,
    merge,
    node_name,
    parse_flags,
    parse_version,
    strict_cpu_reservation,
)

UNIT = Path(__file__).resolve().parents[2]
PLAN = json.loads((UNIT / "golden" / "lab__lab.json").read_text())["kubelet"]
KUBEADM = (UNIT / "fixtures" / "kubelet" / "kubeadm-config.yaml").read_text()
MAIN = "/var/lib/kubelet/config.yaml"


def checkpoint(name):
    data = json.loads((UNIT / "fixtures" / "kubelet" / name).read_text())
    return {"present": True, "policyName": data["policyName"]}


def kubelet(*texts, version=(1, 33, 1), strict=None, active="active", cpu=None, memory=None):
    """state.kubelet of a running kubeadm kubelet with these configuration documents."""
    documents = [{"path": MAIN, "text": texts[0] if texts else KUBEADM}]
    documents += [{"path": "/etc/kubernetes/kubelet.conf.d/%02d.conf" % i, "text": t} for i, t in enumerate(texts[1:])]
    return {
        "installed": True, "running": True, "binary": "/usr/bin/kubelet", "version": "%d.%d.%d" % version,
        "version_tuple": list(version), "flags": {"config": MAIN}, "active": active, "restarts": 0,
        "hostname": "lab-node-1", "node_name": "lab-node-1",
        "cpu_manager_state": cpu or {"present": False}, "memory_manager_state": memory or {"present": False},
        "strict_cpu_reservation": strict_cpu_reservation("auto", version) if strict is None else strict,
        "config": {"file": MAIN, "dir": "", "documents": documents, "error": None},
    }


def tuned(state):
    """The same kubelet after the kubelet role wrote what compare() wanted into its file."""
    result = compare(PLAN, state)
    again = copy.deepcopy(state)
    again["config"]["documents"] = [{"path": MAIN, "text": yaml.safe_dump(dict(result["main"], **result["wanted"]))}]
    again["cpu_manager_state"] = checkpoint("cpu_manager_state.static")
    again["memory_manager_state"] = checkpoint("memory_manager_state.static")
    return again


# ---------------------------------------------------------------------------
# what is read off the kubelet


def test_flags_of_a_kubeadm_kubelet_process():
    argv = ["--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf", "--kubeconfig",
            "/etc/kubernetes/kubelet.conf", "--config=/var/lib/kubelet/config.yaml", "--config-dir",
            "/etc/kubernetes/kubelet.conf.d", "--hostname-override=Lab-Node-1", "--node-ip=10.0.0.2",
            "-v", "2", "--config=/etc/kubelet.yaml"]
    assert parse_flags(argv)["kubeconfig"] == "/etc/kubernetes/kubelet.conf"
    assert kubelet_flags(argv) == {"config": "/etc/kubelet.yaml", "config-dir": "/etc/kubernetes/kubelet.conf.d",
                                   "hostname-override": "Lab-Node-1"}
    assert node_name(kubelet_flags(argv), "lab-node-1") == "Lab-Node-1"
    assert node_name({}, "lab-node-1") == "lab-node-1"


def test_version_of_kubelet_version_output():
    assert parse_version("Kubernetes v1.33.1\n") == [1, 33, 1]
    assert parse_version("Kubernetes v1.34.0-rc.1") == [1, 34, 0]
    assert parse_version("kubelet: command not found") is None


@pytest.mark.parametrize("setting, version, strict", [
    ("auto", [1, 33, 0], True),
    ("auto", [1, 34, 2], True),
    ("auto", [1, 32, 9], False),
    ("auto", None, False),  # version unknown: not without a feature gate
    ("true", [1, 30, 0], True),
    ("false", [1, 34, 0], False),
    (True, [1, 30, 0], True),
])
def test_strict_cpu_reservation_by_version(setting, version, strict):
    assert strict_cpu_reservation(setting, version) is strict


@pytest.mark.parametrize("flags, file_, dir_, expected", [
    ({"config": "/etc/k/config.yaml", "config-dir": "/etc/k/conf.d"}, "auto", "auto", ("/etc/k/config.yaml", "/etc/k/conf.d")),
    ({}, "auto", "auto", (MAIN, "")),
    ({"config-dir": "/etc/k/conf.d"}, "/srv/kubelet.yaml", "none", ("/srv/kubelet.yaml", "")),
    ({}, "auto", "/etc/k/conf.d", (MAIN, "/etc/k/conf.d")),
])
def test_config_paths(flags, file_, dir_, expected):
    assert config_paths(flags, file_, dir_, MAIN) == expected


# ---------------------------------------------------------------------------
# the wanted settings


def test_an_untuned_kubeadm_kubelet_differs_in_every_owned_key():
    result = compare(PLAN, kubelet())
    assert result["installed"] is True
    assert result["main"] == result["effective"] == yaml.safe_load(KUBEADM)
    wanted = result["wanted"]
    assert list(wanted) == list(OWNED_KEYS)
    assert wanted["cpuManagerPolicyOptions"] == {"full-pcpus-only": "true", "strict-cpu-reservation": "true"}
    assert wanted["reservedSystemCPUs"] == "0-1,4-5"
    assert wanted["reservedMemory"] == PLAN["reservedMemory"]
    # a file without evictionHard gets the kubelet's own thresholds with the planned one
    assert wanted["evictionHard"] == dict(DEFAULT_EVICTION_HARD, **PLAN["evictionHard"])
    assert wanted["systemReserved"] == {"memory": "512Mi"}
    assert result["changed_keys"] == list(OWNED_KEYS)
    assert result["checkpoint_drift"] == []
    assert result["differences"][0] == {"item": "cpuManagerPolicy", "expected": "static", "actual": None}
    assert all(set(d) == {"item", "expected", "actual"} for d in result["differences"])


def test_a_tuned_kubelet_has_no_difference():
    result = compare(PLAN, tuned(kubelet()))
    assert (result["changed_keys"], result["checkpoint_drift"], result["differences"]) == ([], [], [])


def test_strict_cpu_reservation_only_where_the_kubelet_has_it():
    before = compare(PLAN, kubelet(version=(1, 32, 4)))
    assert before["wanted"]["cpuManagerPolicyOptions"] == {"full-pcpus-only": "true"}
    # the same node after a kubelet upgrade to 1.33 wants the option added
    upgraded = tuned(kubelet(version=(1, 32, 4)))
    upgraded.update(version="1.33.1", version_tuple=[1, 33, 1], strict_cpu_reservation=True)
    assert compare(PLAN, upgraded)["differences"] == [
        {"item": "cpuManagerPolicyOptions", "expected": {"full-pcpus-only": "true", "strict-cpu-reservation": "true"},
         "actual": {"full-pcpus-only": "true"}}]


def test_strict_cpu_reservation_never_overrides_the_plan_or_a_policy_none():
    plan = copy.deepcopy(PLAN)
    plan["cpuManagerPolicyOptions"]["strict-cpu-reservation"] = "false"
    assert compare(plan, kubelet())["wanted"]["cpuManagerPolicyOptions"]["strict-cpu-reservation"] == "false"
    plan = dict(PLAN, cpuManagerPolicy="none", cpuManagerPolicyOptions={})
    assert compare(plan, kubelet(strict=True))["wanted"]["cpuManagerPolicyOptions"] == {}


def test_the_nodes_reserved_and_eviction_settings_are_kept_and_the_plan_merged_over():
    config = yaml.safe_load(KUBEADM)
    config["systemReserved"] = {"cpu": "500m", "memory": "1Gi"}
    config["evictionHard"] = {"memory.available": "200Mi", "nodefs.available": "5%"}
    wanted = compare(PLAN, kubelet(yaml.safe_dump(config)))["wanted"]
    assert wanted["systemReserved"] == {"cpu": "500m", "memory": "512Mi"}
    assert wanted["kubeReserved"] == {"memory": "512Mi"}
    assert wanted["evictionHard"] == {"memory.available": "100Mi", "nodefs.available": "5%"}


def test_drop_ins_merge_over_the_file_in_order():
    dropin_a = "kind: KubeletConfiguration\ncpuManagerPolicy: none\nevictionHard:\n  nodefs.available: 5%\nclusterDNS: [10.0.0.10]\n"
    dropin_b = "cpuManagerPolicy: static\nevictionHard:\n  imagefs.available: 20%\n"
    result = compare(PLAN, kubelet(KUBEADM, dropin_a, dropin_b))
    effective = result["effective"]
    assert result["main"] == yaml.safe_load(KUBEADM)
    assert effective["cpuManagerPolicy"] == "static"
    assert effective["evictionHard"] == {"nodefs.available": "5%", "imagefs.available": "20%"}  # key by key
    assert effective["clusterDNS"] == ["10.0.0.10"]  # a list is replaced
    assert effective["authentication"] == yaml.safe_load(KUBEADM)["authentication"]
    assert "cpuManagerPolicy" not in result["changed_keys"]
    assert result["wanted"]["evictionHard"] == {"nodefs.available": "5%", "imagefs.available": "20%",
                                                "memory.available": "100Mi"}


def test_merge_leaves_its_inputs_alone():
    base = {"a": {"b": 1, "c": [1]}, "d": 1}
    out = merge(base, {"a": {"b": 2}, "e": {"f": 1}})
    assert out == {"a": {"b": 2, "c": [1]}, "d": 1, "e": {"f": 1}}
    out["a"]["c"].append(2)
    assert base == {"a": {"b": 1, "c": [1]}, "d": 1}


def test_an_empty_drop_in_is_nothing_and_a_list_is_not_a_configuration():
    assert load_config([{"path": MAIN, "text": "kind: KubeletConfiguration\n"}, {"path": "/d/a.conf", "text": ""}]) == (
        {"kind": "KubeletConfiguration"}, {"kind": "KubeletConfiguration"})
    with pytest.raises(KubeletError, match="/d/a.conf is not a KubeletConfiguration"):
        load_config([{"path": MAIN, "text": "kind: KubeletConfiguration\n"}, {"path": "/d/a.conf", "text": "- 1\n"}])
    with pytest.raises(KubeletError, match="config.yaml is not YAML"):
        load_config([{"path": MAIN, "text": "a: [1\n"}])


# ---------------------------------------------------------------------------
# checkpoints


def test_checkpoints_of_another_policy_are_drift():
    state = tuned(kubelet())
    state["cpu_manager_state"] = checkpoint("cpu_manager_state.none")
    result = compare(PLAN, state)
    assert result["changed_keys"] == []
    assert result["checkpoint_drift"] == ["cpu_manager_state holds policy none, the plan says static"]
    assert result["differences"] == [{"item": "checkpoints", "expected": "the planned policies",
                                      "actual": "cpu_manager_state holds policy none, the plan says static"}]


def test_an_unreadable_checkpoint_and_a_failing_kubelet_are_drift():
    state = tuned(kubelet())
    state["memory_manager_state"] = {"present": True, "error": "Expecting value: line 1 column 1 (char 0)"}
    state.update(active="activating", restarts=4)
    assert compare(PLAN, state)["checkpoint_drift"] == [
        "memory_manager_state holds policy Expecting value: line 1 column 1 (char 0), the plan says Static",
        "the kubelet is activating (restarted 4 times): its checkpoints may disagree with its configuration",
    ]


def test_a_checkpoint_without_a_policy_and_missing_checkpoints():
    state = tuned(kubelet())
    state["cpu_manager_state"] = {"present": True, "policyName": None}
    state["memory_manager_state"] = {"present": False}
    assert compare(PLAN, state)["checkpoint_drift"] == ["cpu_manager_state holds policy None, the plan says static"]


# ---------------------------------------------------------------------------
# no kubelet, no configuration


@pytest.mark.parametrize("state", [None, {}, {"installed": False, "config": {"file": MAIN, "dir": "", "documents": [],
                                                                             "error": None}}])
def test_a_node_without_a_kubelet_has_nothing_to_compare(state):
    result = compare(PLAN, state)
    assert result["installed"] is False
    assert (result["wanted"], result["changed_keys"], result["differences"]) == ({}, [], [])


def test_an_unreadable_configuration_is_an_error():
    state = kubelet()
    state["config"].update(documents=[], error="/var/lib/kubelet/config.yaml: No such file or directory")
    with pytest.raises(KubeletError, match=r"cannot read the kubelet's configuration \(/var/lib/kubelet/config.yaml: "
                                           r"No such file or directory\); the kubelet must run with a KubeletConfiguration"):
        compare(PLAN, state)


def test_restore_owned_puts_the_kept_values_back_and_keeps_the_rest():
    from ansible_collections.bot4.hft.plugins.module_utils.kubelet import restore_owned
    config = {"kind": "KubeletConfiguration", "cpuManagerPolicy": "static", "reservedSystemCPUs": "0-1",
              "evictionHard": {"memory.available": "500Mi"}, "cgroupDriver": "systemd"}
    originals = {"cpuManagerPolicy": None, "reservedSystemCPUs": None,
                 "evictionHard": {"memory.available": "100Mi"}}
    assert restore_owned(config, originals) == {"kind": "KubeletConfiguration", "cgroupDriver": "systemd",
                                                "evictionHard": {"memory.available": "100Mi"}}
    assert list(restore_owned(config, originals))[:2] == ["kind", "cgroupDriver"]


def test_restore_owned_refuses_kept_values_of_keys_not_owned():
    import pytest
    from ansible_collections.bot4.hft.plugins.module_utils.kubelet import restore_owned
    with pytest.raises(ValueError, match="does not own: clusterDNS"):
        restore_owned({}, {"clusterDNS": ["10.0.0.10"]})
