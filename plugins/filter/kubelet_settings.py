# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kubelet_settings: the kubelet settings a node's plan wants, against the
kubelet bot4.hft.node_state_info read (plugins/module_utils/kubelet.py).
Documentation in kubelet_settings.yml."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.bot4.hft.plugins.module_utils.kubelet import compare, restore_owned


def kubelet_settings(plan, kubelet):
    """{installed, file, dir, main, effective, wanted, owned_keys, changed_keys, checkpoint_drift, differences}."""
    if not isinstance(plan, dict) or not isinstance(plan.get("kubelet"), dict):
        raise AnsibleFilterError("kubelet_settings: the input is the plan (a mapping with a kubelet mapping)")
    if kubelet is not None and not isinstance(kubelet, dict):
        raise AnsibleFilterError("kubelet_settings: the argument is the kubelet node_state_info read (a mapping)")
    try:
        return compare(plan["kubelet"], kubelet)
    except (KeyError, ValueError) as exc:
        raise AnsibleFilterError("kubelet_settings: %s" % exc)


def kubelet_restored(config, originals):
    """The KubeletConfiguration with the collection's keys back at the values kept before the first change."""
    if not isinstance(config, dict) or not isinstance(originals, dict):
        raise AnsibleFilterError("kubelet_restored: the input is a KubeletConfiguration and the argument the kept "
                                 "values (both mappings)")
    try:
        return restore_owned(config, originals)
    except ValueError as exc:
        raise AnsibleFilterError("kubelet_restored: %s" % exc)


class FilterModule:
    """bot4.hft kubelet settings filter."""

    def filters(self):
        return {"kubelet_settings": kubelet_settings, "kubelet_restored": kubelet_restored}
