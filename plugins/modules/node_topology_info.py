#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: node_topology_info
short_description: Read a node's CPU, NUMA, hugepage, IOMMU and NIC topology from sysfs
version_added: "0.1.0"
description:
  - Reads the hardware topology the C(bot4.hft) planner works from, from C(/sys) and C(/proc) only.
  - CPUs (online, offline, present, possible; package, die, core and SMT siblings of each CPU; SMT state).
  - NUMA nodes (CPUs, MemTotal/MemFree, distances, hugepage counts per size).
  - Supported hugepage sizes, IOMMU groups and whether the firmware has a DMAR/IVRS table.
  - PCI network devices (address, vendor:device, bound driver, NUMA node, IOMMU group, netdevs with MAC and state).
  - The kernel command line and release, the CPU vendor, and the interfaces carrying a default route
    (IPv4 or IPv6), also expanded through bond, bridge and VLAN lower devices.
  - A machine without NUMA sysfs is reported as one node 0 that holds every online CPU.
  - Never changes anything.
author:
  - Bot4 platform team (@bot4-platform)
options:
  root:
    description:
      - Directory where the node's root filesystem is seen, so that C(<root>/sys) and C(<root>/proc) are read.
      - Tests point this at fixture trees; on a node leave the default.
    type: path
    default: /
attributes:
  check_mode:
    support: full
    description: The module only reads.
  diff_mode:
    support: none
    description: The module does not change anything, so there is nothing to diff.
notes:
  - The result is plain JSON; it can be stored and passed back to M(bot4.hft.node_plan_info) as O(bot4.hft.node_plan_info#module:topology).
seealso:
  - module: bot4.hft.node_plan_info
"""

EXAMPLES = r"""
- name: Read the node topology
  bot4.hft.node_topology_info:
  register: __topology

- name: Show the NUMA node of every network device
  ansible.builtin.debug:
    msg: "{{ __topology.topology.nics | items2dict(key_name='address', value_name='numa_node') }}"

- name: Read a captured tree instead of the live system
  bot4.hft.node_topology_info:
    root: /srv/captures/xeon-01
  delegate_to: localhost
"""

RETURN = r"""
topology:
  description: The node topology. CPU sets are kernel cpulist strings such as C(0-3,8).
  returned: success
  type: dict
  contains:
    format:
      description: Version of this structure.
      type: int
      sample: 1
    kernel_release:
      description: Content of C(/proc/sys/kernel/osrelease).
      type: str
      sample: 6.1.0-27-amd64
    cmdline:
      description: Content of C(/proc/cmdline).
      type: str
    cpu_vendor:
      description: C(vendor_id) from C(/proc/cpuinfo), empty when absent.
      type: str
      sample: GenuineIntel
    cpus:
      description: C(online), C(offline), C(present), C(possible) cpulists, C(smt_active), C(smt_active_source)
        (C(smt/active) when the kernel's file was read, C(thread_siblings) when it is absent and SMT is derived from
        the CPUs' C(thread_siblings_list), null when neither exists) and C(list), one entry per
        CPU with C(id), C(online), C(package), C(die), C(core), C(siblings) (cpulist) and C(node).
      type: dict
    numa:
      description: C(sysfs) (false when the kernel has no NUMA sysfs), C(online), C(possible) and C(nodes), each with
        C(id), C(cpus), C(mem_total_kb), C(mem_free_kb), C(distances) and C(hugepages) (C(size_kb), C(nr), C(free),
        C(surplus)).
      type: dict
    hugepage_sizes_kb:
      description: Hugepage sizes the kernel supports.
      type: list
      elements: int
      sample: [2048, 1048576]
    iommu:
      description: C(active) (IOMMU groups exist), C(firmware_table) (C(DMAR), C(IVRS) or null) and C(groups).
      type: dict
    nics:
      description: PCI network devices with C(address), C(vendor), C(device), C(class), C(driver), C(numa_node)
        (null when unknown), C(iommu_group) and C(netdevs) (C(name), C(mac), C(operstate)).
      type: list
      elements: dict
    default_route:
      description: C(interfaces) carrying a default route and the C(devices) below them (bond members, VLAN parents).
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.bot4.hft.plugins.module_utils.topology import TopologyError, read_topology


def main():
    module = AnsibleModule(
        argument_spec=dict(root=dict(type="path", default="/")),
        supports_check_mode=True,
    )
    try:
        topology = read_topology(module.params["root"])
    except TopologyError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, topology=topology.to_dict())


if __name__ == "__main__":
    main()
