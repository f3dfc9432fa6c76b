# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""dpdk_device_plugin: the rendered manifests with the DPDK device plugin's
config narrowed to the node plans' devices (plugins/module_utils/device_plugin.py).
Documentation in dpdk_device_plugin.yml."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.bot4.hft.plugins.module_utils.device_plugin import narrow


def dpdk_device_plugin(manifests, devices):
    """The manifests, the device plugin's config.json selecting exactly the plans' vfio-pci devices."""
    if not isinstance(manifests, list) or not all(isinstance(d, dict) for d in manifests):
        raise AnsibleFilterError("dpdk_device_plugin: the input is the rendered manifests (a list of mappings)")
    if not isinstance(devices, list) or not all(isinstance(d, dict) for d in devices):
        raise AnsibleFilterError("dpdk_device_plugin: the argument is plan.dpdk.devices entries (a list of mappings)")
    try:
        return narrow(manifests, devices)
    except ValueError as exc:
        raise AnsibleFilterError("dpdk_device_plugin: %s" % exc)


class FilterModule:
    """bot4.hft DPDK device plugin filter."""

    def filters(self):
        return {"dpdk_device_plugin": dpdk_device_plugin}
