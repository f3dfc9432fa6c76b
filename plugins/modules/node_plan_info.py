#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: node_plan_info
short_description: Compute a node's tuning plan from an hft_profile and its topology
version_added: "0.1.0"
description:
  - Reads the node topology (as M(bot4.hft.node_topology_info) does) and computes the plan every C(bot4.hft) role
    renders, the one source of truth for CPU sets, kernel arguments, hugepages per NUMA node, IRQ and housekeeping
    affinity, sysctls, DPDK bindings, kubelet settings, power settings and the latency gate.
  - Fails before anything is changed when the profile is invalid; the message lists every problem, each naming the
    profile field and the reason, and RV(errors) holds them as data.
  - The plan is a pure function of the profile and the topology; the same input gives the same plan.
  - Never changes anything. The profile and the plan are described in C(docs/profile.md).
author:
  - Bot4 platform team (@bot4-platform)
options:
  profile:
    description:
      - The node group's C(hft_profile). Unknown keys are errors.
    type: dict
    required: true
  root:
    description:
      - Directory where the node's root filesystem is seen (C(<root>/sys), C(<root>/proc)).
      - Ignored when O(topology) is given.
    type: path
    default: /
  topology:
    description:
      - A topology saved from M(bot4.hft.node_topology_info) (its RV(bot4.hft.node_topology_info#module:topology)).
      - When given, the plan is computed from it and sysfs is not read, for example on the controller.
    type: dict
  netdev_names:
    description:
      - PCI address to interface name, for devices that no longer have a netdev because they are bound to a DPDK
        driver, so that C(interface) selectors in O(profile) still resolve on later runs.
    type: dict
    default: {}
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: The module does not change anything, so there is nothing to diff.
seealso:
  - module: bot4.hft.node_topology_info
"""

EXAMPLES = r"""
- name: Plan the node
  bot4.hft.node_plan_info:
    profile: "{{ hft_profile }}"
  register: __hft_register_plan

- name: Use the plan
  ansible.builtin.debug:
    msg: "isolating {{ __hft_register_plan.plan.cpu.isolated }} with {{ __hft_register_plan.plan.kernel_args | join(' ') }}"

- name: Plan from a saved topology on the controller
  bot4.hft.node_plan_info:
    profile: "{{ hft_profile }}"
    topology: "{{ lookup('ansible.builtin.file', 'topologies/xeon-01.json') | from_json }}"
  delegate_to: localhost
"""

RETURN = r"""
topology:
  description: The topology the plan was computed from (see M(bot4.hft.node_topology_info)).
  returned: success
  type: dict
plan:
  description:
    - The plan. Its full shape is documented in C(docs/profile.md); CPU sets are kernel cpulists.
  returned: success
  type: dict
  contains:
    plan_format:
      description: Version of this structure.
      type: int
      sample: 1
    profile_digest:
      description: sha256 of the normalized profile.
      type: str
    cpu:
      description: C(online), C(offline), C(reserved), C(isolated), C(reserved_by_node), C(isolated_by_node),
        C(isolated_preferred) (CPU ids, NIC-local first), C(smt_siblings_offline), C(reserved_mask), C(isolated_mask).
      type: dict
    kernel_args:
      description: The kernel arguments the collection owns, in their fixed order, then C(kernel.extra_args).
      type: list
      elements: str
      sample: ["isolcpus=managed_irq,domain,2-3,6-7", "nohz=on", "nohz_full=2-3,6-7"]
    kernel_arg_keys:
      description: Every kernel argument key the collection owns; an owned key absent from C(kernel_args) is removed.
      type: list
      elements: str
    hugepages:
      description: For each managed page size, the count on every NUMA node with memory (C(size), C(size_kb),
        C(node), C(count), C(at_boot)).
      type: list
      elements: dict
    hugepages_boot:
      description: How boot-time pages are requested (C(mode) per_node, total or runtime) and why.
      type: dict
    hugetlbfs_mounts:
      description: hugetlbfs mount points (C(path), C(pagesize), C(default)).
      type: list
      elements: dict
    irq:
      description: C(default_smp_affinity) mask, C(housekeeping_cpus), C(irqbalance_banned_cpulist) and mask.
      type: dict
    sysctl:
      description: sysctl name to value (strings), planned defaults merged with the profile's C(sysctl).
      type: dict
    dpdk:
      description: Resolved DPDK devices and driver settings.
      type: dict
    kubelet:
      description: KubeletConfiguration fields (CPU, topology and memory managers).
      type: dict
    power:
      description: Governor, C-state, P-state and energy/performance bias settings.
      type: dict
    latency_gate:
      description: Latency test to run after tuning (tool, duration, threshold, CPUs).
      type: dict
    topology_summary:
      description: A short description of the machine.
      type: dict
    layout:
      description:
        - Where every CPU sits. C(cores) - each physical core with its C(socket), NUMA C(node) and C(cpus) (its
          threads, a cpulist). C(nodes) - every NUMA node with its C(memory_mib) and C(cpus), memory-only nodes
          included (empty C(cpus)). The node picture (P(bot4.hft.node_picture_svg#filter)) draws it.
      type: dict
    warnings:
      description: Things the plan does that deserve attention; also emitted as Ansible warnings.
      type: list
      elements: str
errors:
  description: Every problem found in the profile, each naming the field and the reason.
  returned: failed because the profile is invalid
  type: list
  elements: dict
  sample: [{"field": "hft_profile.cpu.isolated", "reason": "CPUs 96-99 do not exist on this node (online: 0-95)"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.bot4.hft.plugins.module_utils.planner import ProfileError, plan
from ansible_collections.bot4.hft.plugins.module_utils.topology import (
    Topology,
    TopologyError,
    read_topology,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            profile=dict(type="dict", required=True),
            root=dict(type="path", default="/"),
            topology=dict(type="dict"),
            netdev_names=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    try:
        if module.params["topology"] is not None:
            topology = Topology.from_dict(module.params["topology"])
        else:
            topology = read_topology(module.params["root"])
    except TopologyError as exc:
        module.fail_json(msg=str(exc))

    try:
        result = plan(module.params["profile"], topology, netdev_names=module.params["netdev_names"])
    except ProfileError as exc:
        module.fail_json(msg=str(exc), errors=exc.as_list(), topology=topology.to_dict())

    for warning in result["warnings"]:
        module.warn(warning)
    module.exit_json(changed=False, topology=topology.to_dict(), plan=result)


if __name__ == "__main__":
    main()
