# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The DPDK device plugin's config from the node plans (module_utils/device_plugin.py)."""

import copy
import hashlib
import json
from pathlib import Path

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.bot4.hft.plugins.filter.device_plugin import dpdk_device_plugin
from ansible_collections.bot4.hft.plugins.module_utils import device_plugin as dp

GOLDEN = Path(__file__).resolve().parents[2] / "golden"


def plan_devices(name):
    return json.loads((GOLDEN / ("%s.json" % name)).read_text())["dpdk"]["devices"]


def rendered(config=None, mount="/etc/pcidp"):
    """A device plugin DaemonSet and its ConfigMap as kustomize renders them, and an unrelated object."""
    config = config or {"resourceList": [{"resourceName": "dpdk_nic", "resourcePrefix": "hft.bot4.io",
                                          "selectors": {"drivers": ["vfio-pci"]}}]}
    return [
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "sriovdp-config-abc", "namespace": "ns"},
         "data": {"config.json": json.dumps(config)}},
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "sriov-device-plugin", "namespace": "ns"},
         "spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": {
             "containers": [{"name": "p", "volumeMounts": [
                 {"name": "config", "mountPath": mount}, {"name": "sock", "mountPath": "/var/lib/kubelet"}]}],
             "volumes": [{"name": "config", "configMap": {"name": "sriovdp-config-abc"}},
                         {"name": "sock", "hostPath": {"path": "/var/lib/kubelet"}}]}}}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "other", "namespace": "ns"},
         "data": {"config.json": "{}"}},
    ]


def test_selector_from_the_lab_plan():
    assert dp.selector(plan_devices("lab__lab")) == {
        "vendors": ["8086"], "devices": ["10d3"], "pciAddresses": ["0000:81:00.0"], "drivers": ["vfio-pci"]}


def test_selector_leaves_out_devices_that_stay_on_the_kernel():
    # epyc: one vfio-pci device, one the plan leaves to the kernel.
    assert dp.selector(plan_devices("epyc_nps4__nps4")) == {
        "vendors": ["8086"], "devices": ["159b"], "pciAddresses": ["0000:c1:00.0"], "drivers": ["vfio-pci"]}


def test_selector_unions_the_plans_of_several_nodes():
    devices = plan_devices("lab__lab") + plan_devices("xeon2s__hft") + plan_devices("epyc_nps4__nps4")
    assert dp.selector(devices) == {
        "vendors": ["8086"], "devices": ["10d3", "1572", "159b"],
        "pciAddresses": ["0000:81:00.0", "0000:af:00.0", "0000:af:00.1", "0000:c1:00.0"],
        "drivers": ["vfio-pci"]}


def test_selector_needs_a_vfio_device_and_whole_entries():
    kernel_only = [d for d in plan_devices("epyc_nps4__nps4") if d["target_driver"] != "vfio-pci"]
    with pytest.raises(ValueError, match="no device of the node plans is bound to vfio-pci"):
        dp.selector(kernel_only)
    with pytest.raises(ValueError, match="lacks vendor_device"):
        dp.selector([{"pci": "0000:81:00.0", "target_driver": "vfio-pci"}])
    with pytest.raises(ValueError, match="is not <vendor>:<device>"):
        dp.selector([{"pci": "0000:81:00.0", "vendor_device": "808610d3", "target_driver": "vfio-pci"}])


def test_narrow_keeps_the_resource_and_rolls_the_daemonset():
    docs = rendered()
    before = copy.deepcopy(docs)
    out = dp.narrow(docs, plan_devices("xeon2s__hft"))
    assert docs == before, "the input must not change"
    config = json.loads(out[0]["data"]["config.json"])
    assert config == {"resourceList": [{"resourceName": "dpdk_nic", "resourcePrefix": "hft.bot4.io", "selectors": {
        "vendors": ["8086"], "devices": ["1572"], "pciAddresses": ["0000:af:00.0", "0000:af:00.1"],
        "drivers": ["vfio-pci"]}}]}
    annotations = out[1]["spec"]["template"]["metadata"]["annotations"]
    assert annotations[dp.CONFIG_ANNOTATION] == hashlib.sha256(out[0]["data"]["config.json"].encode()).hexdigest()
    assert out[2] == before[2], "a ConfigMap the plugin does not mount is left alone"
    # Other devices, another digest: the DaemonSet's template changes.
    again = dp.narrow(docs, plan_devices("lab__lab"))
    assert again[1]["spec"]["template"]["metadata"]["annotations"][dp.CONFIG_ANNOTATION] != annotations[
        dp.CONFIG_ANNOTATION]


def test_narrow_without_plans_or_plugin_changes_nothing():
    docs = rendered()
    assert dp.narrow(docs, []) == docs
    other = rendered(mount="/etc/other")
    assert dp.narrow(other, plan_devices("lab__lab")) == other


def test_narrow_refuses_a_config_it_cannot_narrow():
    two = {"resourceList": [{"resourceName": "a", "selectors": {"drivers": ["vfio-pci"]}},
                            {"resourceName": "b", "selectors": {"drivers": ["vfio-pci"]}}]}
    with pytest.raises(ValueError, match="exactly one resource"):
        dp.narrow(rendered(two), plan_devices("lab__lab"))
    docs = rendered()
    del docs[0]
    with pytest.raises(ValueError, match="which the render does not contain"):
        dp.narrow(docs, plan_devices("lab__lab"))


def test_filter_wraps_the_errors():
    assert dpdk_device_plugin(rendered(), plan_devices("lab__lab"))[0]["data"]["config.json"] != rendered()[0][
        "data"]["config.json"]
    with pytest.raises(AnsibleFilterError, match="no device of the node plans is bound to vfio-pci"):
        dpdk_device_plugin(rendered(), [d for d in plan_devices("epyc_nps4__nps4")
                                        if d["target_driver"] == "kernel"])
    with pytest.raises(AnsibleFilterError, match="the argument is plan.dpdk.devices"):
        dpdk_device_plugin(rendered(), "0000:81:00.0")
