# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""node_differences: a node's plan against the state bot4.hft.node_state_info
read (plugins/module_utils/verify.py); node_status: those differences with
the node's record of a pending reboot.  Documentation in node_differences.yml,
node_unmovable.yml and node_status.yml."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.bot4.hft.plugins.module_utils.verify import PARTS, node_status as status_of, unmovable, verify


def node_differences(plan, state, parts=PARTS):
    """[{area, item, expected, actual}, ...]; empty when the node is in its plan."""
    if not isinstance(plan, dict) or not isinstance(state, dict):
        raise AnsibleFilterError("node_differences: the input is the plan (a mapping) and the argument "
                                 "the state node_state_info returned (a mapping)")
    try:
        return verify(plan, state, parts=list(parts))
    except (KeyError, ValueError) as exc:
        raise AnsibleFilterError("node_differences: %s" % exc)


def node_unmovable(state):
    """[{kind, item, cpus, effective}, ...]: what the kernel keeps on its CPUs (not a difference)."""
    if not isinstance(state, dict):
        raise AnsibleFilterError("node_unmovable: the input is the state node_state_info returned (a mapping)")
    return unmovable(state)


def node_status(items, state, plan_sha256):
    """{status, pending_reboot, boot_state, at_reboot}: the node's differences read with its record and boot id."""
    if not isinstance(items, list) or not isinstance(state, dict):
        raise AnsibleFilterError("node_status: the input is the differences node_differences returned (a list) "
                                 "and the argument the state node_state_info returned (a mapping)")
    if not isinstance(plan_sha256, str) or not plan_sha256:
        raise AnsibleFilterError("node_status: plan_sha256 must be the plan's sha256 (a string), got %r" % (plan_sha256,))
    return status_of(items, state.get("record"), state.get("boot_id"), plan_sha256)


class FilterModule:
    """bot4.hft node verification filter."""

    def filters(self):
        return {"node_differences": node_differences, "node_unmovable": node_unmovable, "node_status": node_status}
