# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad profiles, one per way of being wrong.  Each is refused with exactly one
error that names its field and its whole reason, and is refused before
anything on a node changes: plan() raises, and so does node_plan_info, the
first task of the preflight play that every tuning run starts with.

HELD_OUT holds profiles written as a user in a hurry would write them, before
the cases of BAD were read; they are kept apart so that the rules are tried
against mistakes they were not fitted to."""

import json
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.bot4.hft.plugins.module_utils.planner import ProfileError, plan
from ansible_collections.bot4.hft.plugins.modules import node_plan_info

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures"))
from module_harness import patch_module_args  # noqa: E402

REPO = Path(__file__).resolve().parents[4]


def case(case_id, profile, field, *reason, shape="lab"):
    """A bad profile, the field its one error names (below hft_profile) and the reason."""
    path = "hft_profile" + ("." + field if field else "")
    return pytest.param(shape, profile, [(path, "".join(reason))], id=case_id)


BAD = [
    case('top-unknown-key', {'cpus': {'isolated': '2-3'}}, 'cpus',
         "unknown key (did you mean 'cpu'?); known keys: cpu, dpdk, housekeeping, hugepages, kernel, "
         'kubelet, latency_gate, name, numa, power, sysctl'),
    case('top-not-a-mapping', ['cpu'], '',
         'must be a mapping, got a list'),
    case('name-empty', {'name': '  '}, 'name',
         "must be a non-empty string, got str '  '"),
    case('name-number', {'name': 7}, 'name',
         'must be a non-empty string, got int 7'),
    case('cpu-not-a-mapping', {'cpu': '2-7'}, 'cpu',
         "must be a mapping, got str '2-7'"),
    case('cpu-unknown-key', {'cpu': {'isolcpus': '2-3'}}, 'cpu.isolcpus',
         "unknown key (did you mean 'isolated'?); known keys: isolated, isolation, offline, reserved, "
         'reserved_cores, reserved_numa, smt'),
    case('cpu-offline-boot-cpu', {'cpu': {'offline': '0'}}, 'cpu.offline',
         'holds CPU 0, the boot CPU: it cannot be taken offline'),
    case('cpu-offline-reserved', {'cpu': {'offline': '5', 'reserved': '0-1,4-5'}}, 'cpu.reserved',
         'CPUs 5 are in cpu.offline, which takes them offline at every boot; a reserved CPU cannot be taken '
         'offline'),
    case('cpu-offline-isolated', {'cpu': {'offline': '3', 'isolated': '2-3,6-7'}}, 'cpu.isolated',
         'CPUs 3 are in cpu.offline, which takes them offline at every boot; list only CPUs that stay online'),
    case('cpu-offline-missing-cpu', {'cpu': {'offline': '9'}}, 'cpu.offline',
         'CPUs 9 do not exist on this node (present: 0-7)'),
    case('cpu-offline-auto', {'cpu': {'offline': 'auto'}}, 'cpu.offline',
         'must be a cpulist such as "6-7" (the CPUs taken offline at every boot), got str \'auto\''),
    case('cpu-offline-list', {'cpu': {'offline': [6, 7]}}, 'cpu.offline',
         'must be a cpulist such as "6-7" (the CPUs taken offline at every boot), got a list'),
    case('cpu-offline-leaves-its-sibling-out', {'cpu': {'offline': '7', 'reserved': '0-1,4-5', 'isolated': '2-3'}}, 'cpu',
         'CPUs 6 are neither reserved nor isolated; every online CPU belongs to one set (or set one of them '
         'to auto)'),
    case('housekeeping-sweep-deny-string', {'housekeeping': {'sweep_deny': 'dpdk*'}}, 'housekeeping.sweep_deny',
         "must be a list of thread name patterns such as dpdk*, got str 'dpdk*'"),
    case('housekeeping-sweep-deny-empty-item', {'housekeeping': {'sweep_deny': ['dpdk*', ' ']}},
         'housekeeping.sweep_deny[1]',
         "must be a thread name or fnmatch pattern (1-64 characters, not starting with '/'), got str ' '"),
    case('sysctl-sched-rt-runtime', {'sysctl': {'kernel.sched_rt_runtime_us': -1}}, 'sysctl.kernel.sched_rt_runtime_us',
         'sets the real-time throttling, which the plan owns; use hft_profile.kernel.realtime_scheduling instead'),
    case('kernel-realtime-scheduling-word', {'kernel': {'realtime_scheduling': 'on'}}, 'kernel.realtime_scheduling',
         "must be true or false, got str 'on'"),
    case('power-min-perf-pct-over-100', {'power': {'min_perf_pct': 120}}, 'power.min_perf_pct',
         'must be <= 100, got 120'),
    case('power-epp-dash-spelling', {'power': {'energy_performance_preference': 'balance-power'}},
         'power.energy_performance_preference',
         "must be one of default, performance, balance_performance, balance_power, power, got str 'balance-power'"),
    case('cpu-reserved-bad-cpulist', {'cpu': {'reserved': '0-1;4-5'}}, 'cpu.reserved',
         "invalid cpulist '0-1;4-5': '0-1;4-5' is not a CPU number, a range like 4-7 or a strided range "
         'like 0-15:2/4'),
    case('cpu-isolated-open-range', {'cpu': {'isolated': '2-'}}, 'cpu.isolated',
         "invalid cpulist '2-': '2-' is not a CPU number, a range like 4-7 or a strided range like "
         '0-15:2/4'),
    case('cpu-isolated-list', {'cpu': {'isolated': [2, 3]}}, 'cpu.isolated',
         'must be "auto" or a cpulist such as "2-15,18", got a list'),
    case('cpu-reserved-cores-zero', {'cpu': {'reserved_cores': 0}}, 'cpu.reserved_cores',
         'must be >= 1, got 0'),
    case('cpu-reserved-cores-word', {'cpu': {'reserved_cores': 'two'}}, 'cpu.reserved_cores',
         "must be an integer, got str 'two'"),
    case('cpu-reserved-cores-bool', {'cpu': {'reserved_cores': True}}, 'cpu.reserved_cores',
         'must be an integer, got boolean true'),
    case('cpu-reserved-numa-word', {'cpu': {'reserved_numa': 'last'}}, 'cpu.reserved_numa',
         "must be spread, first or a list of NUMA node ids, got str 'last'"),
    case('cpu-isolation-unknown', {'cpu': {'isolation': 'full'}}, 'cpu.isolation',
         "must be one of static, balanced, got str 'full'"),
    case('cpu-smt-yaml-bool', {'cpu': {'smt': False}}, 'cpu.smt',
         'must be one of enabled, disabled, got boolean false (YAML reads unquoted on/off/yes/no as '
         'booleans: quote the value)'),
    case('cpu-isolated-missing-cpus', {'cpu': {'isolated': '2-3,6-9'}}, 'cpu.isolated',
         'CPUs 8-9 do not exist on this node (online: 0-7)'),
    case('cpu-reserved-half-core', {'cpu': {'reserved': '0,4-5'}}, 'cpu.reserved',
         'holds half cores: 0 without 1; with cpu.smt: enabled every set holds whole cores (all SMT '
         'siblings), add the missing siblings or set cpu.smt: disabled'),
    case('cpu-isolated-half-core', {'cpu': {'isolated': '2-3,6'}}, 'cpu.isolated',
         'holds half cores: 6 without 7; with cpu.smt: enabled every set holds whole cores (all SMT '
         'siblings), add the missing siblings or set cpu.smt: disabled'),
    case('cpu-sets-overlap', {'cpu': {'reserved': '0-1,4-5', 'isolated': '4-7'}}, 'cpu.isolated',
         'CPUs 4-5 are in both cpu.reserved and cpu.isolated'),
    case('cpu-sets-leave-cpus-out', {'cpu': {'reserved': '0-1', 'isolated': '2-3'}}, 'cpu',
         'CPUs 4-7 are neither reserved nor isolated; every online CPU belongs to one set (or set one of '
         'them to auto)'),
    case('cpu-isolated-everything', {'cpu': {'isolated': '0-7'}}, 'cpu.isolated',
         'leaves no housekeeping CPU: the OS, kubelet and IRQs need at least one reserved CPU (isolated: '
         '0-7, online: 0-7)'),
    case('cpu-reserved-everything', {'cpu': {'reserved': '0-7'}}, 'cpu.reserved',
         'leaves no CPU to isolate (reserved: 0-7, online: 0-7)'),
    case('cpu-reserved-without-cpu0', {'cpu': {'reserved': '2-3'}}, 'cpu.reserved',
         'leaves CPU 0 isolated, but CPU 0 is the boot CPU: the kernel keeps timekeeping on it and drops '
         'it from nohz_full, so it cannot be isolated; reserve it'),
    case('cpu-isolated-cpu0', {'cpu': {'reserved': '2-3', 'isolated': '0-1,4-7'}}, 'cpu.isolated',
         'CPU 0 is the boot CPU: the kernel keeps timekeeping on it and drops it from nohz_full, so it '
         'cannot be isolated; reserve it'),
    case('cpu-reserved-cores-too-many-per-node', {'cpu': {'reserved_cores': 3}}, 'cpu.reserved_cores',
         '3 cores per node asked, but node 0 has only 2 online cores, node 1 only 2'),
    case('cpu-reserved-cores-too-many-first', {'cpu': {'reserved_cores': 5, 'reserved_numa': 'first'}},
         'cpu.reserved_cores',
         '5 cores asked, but this node has only 4 online cores'),
    case('cpu-reserved-numa-without-boot-node', {'cpu': {'reserved_numa': [1]}}, 'cpu.reserved_numa',
         'must include node 0, the node of boot CPU 0 (the kernel keeps timekeeping there, so it is '
         'always reserved)'),
    case('cpu-reserved-numa-no-such-node', {'cpu': {'reserved_numa': [0, 5]}}, 'cpu.reserved_numa',
         'NUMA node 5 does not exist (nodes: 0-1)'),
    case('cpu-smt-disabled-second-thread', {'cpu': {'smt': 'disabled', 'reserved': '0-1'}}, 'cpu.reserved',
         'CPUs 1 are SMT siblings that cpu.smt: disabled takes offline (nosmt); list only the first '
         'thread of each core (0,2,4,6)'),
    case('cpu-isolated-offline', {'cpu': {'isolated': '20-23'}}, 'cpu.isolated',
         'CPUs 20-23 are offline (online: 0-19,24-31)', shape='offline2s'),
    case('numa-topology-policy', {'numa': {'topology_policy': 'strict'}}, 'numa.topology_policy',
         "must be one of none, best-effort, restricted, single-numa-node, got str 'strict'"),
    case('numa-topology-scope', {'numa': {'topology_scope': 'node'}}, 'numa.topology_scope',
         "must be one of container, pod, got str 'node'"),
    case('numa-nic-locality', {'numa': {'nic_locality': 'maybe'}}, 'numa.nic_locality',
         "must be one of required, preferred, ignore, got str 'maybe'"),
    case('numa-policy-option-unknown', {'numa': {'topology_policy_options': {'prefer-closest': True}}},
         'numa.topology_policy_options.prefer-closest',
         "unknown key (did you mean 'prefer-closest-numa-nodes'?); known keys: max-allowable-numa-nodes, "
         'prefer-closest-numa-nodes'),
    case('numa-policy-option-not-bool', {'numa': {'topology_policy_options': {'prefer-closest-numa-nodes': 'maybe'}}},
         'numa.topology_policy_options.prefer-closest-numa-nodes',
         "must be true or false, got str 'maybe'"),
    case('numa-policy-option-zero', {'numa': {'topology_policy_options': {'max-allowable-numa-nodes': 0}}},
         'numa.topology_policy_options.max-allowable-numa-nodes',
         'must be >= 1, got 0'),
    case('numa-scope-with-policy-none', {'numa': {'topology_policy': 'none', 'topology_scope': 'pod'}},
         'numa.topology_scope',
         'is ignored with numa.topology_policy: none (the topology manager does nothing); remove it'),
    case('numa-options-with-policy-none',
         {'numa': {'topology_policy': 'none', 'topology_policy_options': {'prefer-closest-numa-nodes': True}}},
         'numa.topology_policy_options',
         'is ignored with numa.topology_policy: none (the topology manager does nothing); remove it'),
    case('hugepages-default-size-syntax', {'hugepages': {'default_size': '3X'}}, 'hugepages.default_size',
         "'3X' is not a size such as 2M or 1G"),
    case('hugepages-default-size-number', {'hugepages': {'default_size': 2048}}, 'hugepages.default_size',
         'must be a size string such as 2M or 1G, got int 2048'),
    case('hugepages-default-size-unsupported', {'hugepages': {'default_size': '16G'}}, 'hugepages.default_size',
         '16G pages are not supported by this machine (supported: 2M, 1G)'),
    case('hugepages-pages-not-a-list', {'hugepages': {'pages': {'size': '1G'}}}, 'hugepages.pages',
         'must be a list of {size, count, node}, got a mapping'),
    case('hugepages-page-without-node', {'hugepages': {'pages': [{'size': '1G', 'count': 1}]}},
         'hugepages.pages[0].node',
         'is required'),
    case('hugepages-page-negative-count', {'hugepages': {'pages': [{'size': '2M', 'count': -4, 'node': 0}]}},
         'hugepages.pages[0].count',
         'must be >= 0, got -4'),
    case('hugepages-page-size-unsupported', {'hugepages': {'pages': [{'size': '4M', 'count': 1, 'node': 0}]}},
         'hugepages.pages[0].size',
         '4M pages are not supported by this machine (supported: 2M, 1G)'),
    case('hugepages-page-node-word', {'hugepages': {'pages': [{'size': '2M', 'count': 1, 'node': 'nic-node'}]}},
         'hugepages.pages[0].node',
         'must be a NUMA node id, "nic" or "all", got str \'nic-node\''),
    case('hugepages-page-node-missing', {'hugepages': {'pages': [{'size': '2M', 'count': 1, 'node': 7}]}},
         'hugepages.pages[0].node',
         'NUMA node 7 does not exist (nodes: 0-1)'),
    case('hugepages-page-node-nic-without-dpdk', {'hugepages': {'pages': [{'size': '2M', 'count': 1, 'node': 'nic'}]}},
         'hugepages.pages[0].node',
         'node: nic needs at least one dpdk.devices entry'),
    case('hugepages-page-twice',
         {'hugepages': {'pages': [{'size': '2M', 'count': 1, 'node': 0}, {'size': '2048kB', 'count': 2, 'node': 0}]}},
         'hugepages.pages[1]',
         'duplicates hft_profile.hugepages.pages[0] (size 2M, node 0); give each size and node once'),
    case('hugepages-page-all-and-node',
         {'hugepages': {'pages': [{'size': '2M', 'count': 1, 'node': 'all'}, {'size': '2M', 'count': 2, 'node': 1}]}},
         'hugepages.pages[1]',
         'asks for 2M pages on node 1, which hft_profile.hugepages.pages[0] already does'),
    case('hugepages-too-many', {'hugepages': {'pages': [{'size': '1G', 'count': 3, 'node': 0}]}}, 'hugepages.pages',
         'node 0 would get 3 x 1G (pages[0]) = 3072 MiB of hugepages, but it has 2920 MiB of memory and '
         '1024 MiB must stay free for the kernel (the larger of 1 GiB and 10%), so at most 1896 MiB fit'),
    case('hugepages-boot-unknown', {'hugepages': {'boot': 'always'}}, 'hugepages.boot',
         "must be one of auto, per_node, total, runtime, got str 'always'"),
    case('hugepages-release-unplanned-word', {'hugepages': {'release_unplanned': 'yes'}},
         'hugepages.release_unplanned',
         "must be true or false, got str 'yes'"),
    case('hugepages-page-unknown-key', {'hugepages': {'pages': [{'size': '2M', 'count': 1, 'node': 0, 'numa': 0}]}},
         'hugepages.pages[0].numa',
         'unknown key; known keys: count, node, size'),
    case('dpdk-devices-not-a-list', {'dpdk': {'devices': '0000:81:00.0'}}, 'dpdk.devices',
         "must be a list of device selectors, got str '0000:81:00.0'"),
    case('dpdk-device-two-selectors', {'dpdk': {'devices': [{'pci': '0000:81:00.0', 'interface': 'enp129s0'}]}},
         'dpdk.devices[0]',
         'give exactly one of pci, interface or id (got pci, interface)'),
    case('dpdk-device-no-selector', {'dpdk': {'devices': [{'driver': 'vfio-pci'}]}}, 'dpdk.devices[0]',
         'give exactly one of pci, interface or id (got none)'),
    case('dpdk-pci-syntax', {'dpdk': {'devices': [{'pci': '81:00'}]}}, 'dpdk.devices[0].pci',
         "must be a PCI address such as 0000:81:00.0, got str '81:00'"),
    case('dpdk-pci-absent', {'dpdk': {'devices': [{'pci': '0000:82:00.0'}]}}, 'dpdk.devices[0].pci',
         'no network device at 0000:82:00.0 (network devices: 0000:00:02.0 (1af4:1041, enp0s2), '
         '0000:81:00.0 (8086:10d3, enp129s0))'),
    case('dpdk-interface-absent', {'dpdk': {'devices': [{'interface': 'eth9'}]}}, 'dpdk.devices[0].interface',
         'no network interface named eth9 on a PCI device (interfaces: enp0s2, enp129s0); a device '
         'already bound to a DPDK driver has no interface, select it by pci'),
    case('dpdk-id-syntax', {'dpdk': {'devices': [{'id': '8086-10d3'}]}}, 'dpdk.devices[0].id',
         'must be a "vendor:device" PCI id such as 8086:10fb, got str \'8086-10d3\''),
    case('dpdk-id-absent', {'dpdk': {'devices': [{'id': '15b3:1017'}]}}, 'dpdk.devices[0].id',
         'no network device with id 15b3:1017 (ids present: 1af4:1041, 8086:10d3)'),
    case('dpdk-index-out-of-range', {'dpdk': {'devices': [{'id': '8086:10d3', 'index': 1}]}},
         'dpdk.devices[0].index',
         '8086:10d3 matches 1 device (0000:81:00.0); index 1 is out of range'),
    case('dpdk-index-without-id', {'dpdk': {'devices': [{'pci': '0000:81:00.0', 'index': 0}]}},
         'dpdk.devices[0].index',
         'is only used with id'),
    case('dpdk-device-twice', {'dpdk': {'devices': [{'pci': '0000:81:00.0'}, {'interface': 'enp129s0'}]}},
         'dpdk.devices[1]',
         'selects 0000:81:00.0 again (already selected by hft_profile.dpdk.devices[0])'),
    case('dpdk-management-nic', {'dpdk': {'devices': [{'interface': 'enp0s2'}]}}, 'dpdk.devices[0]',
         '0000:00:02.0 (enp0s2) carries the default route: it looks like the management NIC, and binding '
         'it to vfio-pci would cut this node off the network'),
    case('dpdk-driver-unknown', {'dpdk': {'driver': 'igb_uio'}}, 'dpdk.driver',
         "must be one of vfio-pci, uio_pci_generic, got str 'igb_uio'"),
    case('dpdk-device-driver-unknown', {'dpdk': {'devices': [{'pci': '0000:81:00.0', 'driver': 'mlx5_core'}]}},
         'dpdk.devices[0].driver',
         "must be one of vfio-pci, uio_pci_generic, kernel, got str 'mlx5_core'"),
    case('dpdk-vfio-with-iommu-off', {'dpdk': {'devices': [{'pci': '0000:81:00.0'}]}, 'kernel': {'iommu': 'off'}},
         'dpdk.driver',
         'vfio-pci needs an IOMMU and kernel.iommu is off (the IOMMU is on now only through '
         'intel_iommu=on, an argument the collection owns and would remove); enable VT-d/AMD-Vi in the '
         "firmware, use uio_pci_generic, or set dpdk.allow_noiommu: true for vfio's unsafe no-IOMMU mode"),
    case('dpdk-allow-noiommu-word', {'dpdk': {'allow_noiommu': 'yes'}}, 'dpdk.allow_noiommu',
         "must be true or false, got str 'yes'"),
    case('dpdk-nic-node-not-isolated', {'dpdk': {'devices': [{'pci': '0000:81:00.0'}]}, 'cpu': {'reserved': '0-1,4-7'}},
         'cpu.isolated',
         'no isolated CPU on NUMA node 1, where DPDK device 0000:81:00.0 sits (isolated: 2-3); '
         'numa.nic_locality is required'),
    case('kubelet-cpu-policy-case', {'kubelet': {'cpu_manager_policy': 'Static'}}, 'kubelet.cpu_manager_policy',
         "must be one of static, none, got str 'Static'"),
    case('kubelet-cpu-option-unknown', {'kubelet': {'cpu_manager_policy_options': {'full-cores-only': True}}},
         'kubelet.cpu_manager_policy_options.full-cores-only',
         "unknown key (did you mean 'full-pcpus-only'?); known keys: align-by-socket, "
         'distribute-cpus-across-cores, distribute-cpus-across-numa, full-pcpus-only, '
         'prefer-align-cpus-by-uncorecache, strict-cpu-reservation'),
    case('kubelet-cpu-option-not-bool', {'kubelet': {'cpu_manager_policy_options': {'full-pcpus-only': 'maybe'}}},
         'kubelet.cpu_manager_policy_options.full-pcpus-only',
         "must be true or false, got str 'maybe'"),
    case('kubelet-memory-policy-case', {'kubelet': {'memory_manager_policy': 'static'}},
         'kubelet.memory_manager_policy',
         "must be one of Static, None, got str 'static'"),
    case('kubelet-memory-quantity-syntax', {'kubelet': {'system_reserved_memory': '1GB'}},
         'kubelet.system_reserved_memory',
         "'1GB' is not a memory quantity such as 512Mi or 1Gi"),
    case('kubelet-memory-negative', {'kubelet': {'kube_reserved_memory': -1}}, 'kubelet.kube_reserved_memory',
         'must not be negative'),
    case('kubelet-static-without-reserved-memory',
         {'kubelet': {'system_reserved_memory': 0, 'kube_reserved_memory': 0, 'eviction_hard_memory': 0}},
         'kubelet.memory_manager_policy',
         'Static needs some reserved memory; system_reserved_memory, kube_reserved_memory and '
         'eviction_hard_memory are all zero'),
    case('kubelet-options-with-policy-none',
         {'kubelet': {'cpu_manager_policy': 'none', 'cpu_manager_policy_options': {'full-pcpus-only': True}}},
         'kubelet.cpu_manager_policy_options',
         'is ignored with kubelet.cpu_manager_policy: none (the kubelet takes no options with it); remove '
         'it'),
    case('kubelet-unknown-key', {'kubelet': {'reserved_cpus': '0-1'}}, 'kubelet.reserved_cpus',
         "unknown key (did you mean 'kube_reserved_memory'?); known keys: cpu_manager_policy, "
         'cpu_manager_policy_options, eviction_hard_memory, kube_reserved_memory, memory_manager_policy, '
         'system_reserved_memory'),
    case('power-governor-unknown', {'power': {'governor': 'turbo'}}, 'power.governor',
         'must be one of performance, powersave, schedutil, ondemand, conservative, userspace, got str '
         "'turbo'"),
    case('power-max-cstate-too-deep', {'power': {'max_cstate': 10}}, 'power.max_cstate',
         'must be <= 9, got 10'),
    case('power-max-cstate-word', {'power': {'max_cstate': 'C1'}}, 'power.max_cstate',
         "must be an integer, got str 'C1'"),
    case('power-idle-poll-word', {'power': {'idle_poll': 'yes'}}, 'power.idle_poll',
         "must be true or false, got str 'yes'"),
    case('power-pstate-guided-on-intel', {'power': {'pstate': 'guided'}}, 'power.pstate',
         'guided is an amd_pstate mode; intel_pstate takes active, passive or disable'),
    case('power-epb-unknown', {'power': {'energy_perf_bias': 'max'}}, 'power.energy_perf_bias',
         "must be one of performance, balance-performance, normal, balance-power, power, got str 'max'"),
    case('kernel-extra-args-string', {'kernel': {'extra_args': 'quiet'}}, 'kernel.extra_args',
         "must be a list of kernel arguments, got str 'quiet'"),
    case('kernel-extra-arg-two-in-one', {'kernel': {'extra_args': ['quiet splash']}}, 'kernel.extra_args[0]',
         "'quiet splash' holds whitespace or quotes; give one argument per list item"),
    case('kernel-extra-arg-empty', {'kernel': {'extra_args': ['']}}, 'kernel.extra_args[0]',
         "must be a non-empty string, got str ''"),
    case('kernel-extra-arg-quoted', {'kernel': {'extra_args': ['dyndbg="file x +p"']}}, 'kernel.extra_args[0]',
         '\'dyndbg="file x +p"\' holds whitespace or quotes; give one argument per list item'),
    case('kernel-extra-arg-twice', {'kernel': {'extra_args': ['audit=0', 'audit=0']}}, 'kernel.extra_args[1]',
         "'audit=0' is listed twice"),
    case('kernel-owned-isolcpus', {'kernel': {'extra_args': ['isolcpus=2-7']}}, 'kernel.extra_args[0]',
         "'isolcpus=2-7' sets isolcpus, which the collection owns; use hft_profile.cpu.isolated and "
         'cpu.isolation instead'),
    case('kernel-owned-dash-spelling', {'kernel': {'extra_args': ['nohz-full=2-7']}}, 'kernel.extra_args[0]',
         "'nohz-full=2-7' sets nohz_full, which the collection owns; use hft_profile.cpu.isolated instead"),
    case('kernel-owned-hugepages', {'kernel': {'extra_args': ['hugepages=16']}}, 'kernel.extra_args[0]',
         "'hugepages=16' sets hugepages, which the collection owns; use hft_profile.hugepages.pages "
         'instead'),
    case('kernel-owned-nosmt-force', {'kernel': {'extra_args': ['nosmt=force']}}, 'kernel.extra_args[0]',
         "'nosmt=force' sets nosmt, which the collection owns; use hft_profile.cpu.smt instead"),
    case('kernel-owned-mce-off', {'kernel': {'extra_args': ['mce=off']}}, 'kernel.extra_args[0]',
         "'mce=off' sets mce, which the collection owns; use hft_profile.kernel.mce_ignore_ce instead"),
    case('kernel-mce-ignore-ce-word', {'kernel': {'mce_ignore_ce': 'yes'}}, 'kernel.mce_ignore_ce',
         "must be true or false, got str 'yes'"),
    case('kernel-maxcpus', {'kernel': {'extra_args': ['maxcpus=4']}}, 'kernel.extra_args[0]',
         "'maxcpus=4' changes the set of online CPUs the plan was computed from (only the first CPUs come "
         'up)'),
    case('kernel-nr-cpus', {'kernel': {'extra_args': ['nr_cpus=4']}}, 'kernel.extra_args[0]',
         "'nr_cpus=4' changes the set of online CPUs the plan was computed from (CPUs above the limit do "
         'not exist)'),
    case('kernel-possible-cpus', {'kernel': {'extra_args': ['possible_cpus=4']}}, 'kernel.extra_args[0]',
         "'possible_cpus=4' changes the set of online CPUs the plan was computed from (it overrides the "
         'possible CPUs)'),
    case('kernel-nosmp', {'kernel': {'extra_args': ['nosmp']}}, 'kernel.extra_args[0]',
         "'nosmp' changes the set of online CPUs the plan was computed from (only the boot CPU comes up)"),
    case('kernel-nolapic', {'kernel': {'extra_args': ['nolapic']}}, 'kernel.extra_args[0]',
         "'nolapic' changes the set of online CPUs the plan was computed from (without the local APIC "
         'only the boot CPU comes up)'),
    case('kernel-acpi-off', {'kernel': {'extra_args': ['acpi=off']}}, 'kernel.extra_args[0]',
         "'acpi=off' changes the set of online CPUs the plan was computed from and the NUMA map (the CPU "
         "and memory tables are ACPI's)"),
    case('kernel-smt', {'kernel': {'extra_args': ['smt=1']}}, 'kernel.extra_args[0]',
         "'smt=1' turns SMT off; use hft_profile.cpu.smt instead"),
    case('kernel-mitigations-nosmt', {'kernel': {'extra_args': ['mitigations=auto,nosmt']}}, 'kernel.extra_args[0]',
         "'mitigations=auto,nosmt' turns SMT off on affected CPUs; use hft_profile.cpu.smt instead"),
    case('kernel-l1tf-full', {'kernel': {'extra_args': ['l1tf=full,force']}}, 'kernel.extra_args[0]',
         "'l1tf=full,force' turns SMT off on affected CPUs; use hft_profile.cpu.smt instead"),
    case('kernel-mem', {'kernel': {'extra_args': ['mem=4G']}}, 'kernel.extra_args[0]',
         "'mem=4G' changes the memory map the hugepage pools were planned in (it caps usable memory)"),
    case('kernel-memmap', {'kernel': {'extra_args': ['memmap=1G$4G']}}, 'kernel.extra_args[0]',
         "'memmap=1G$4G' changes the memory map the hugepage pools were planned in (it reserves or adds "
         'memory regions)'),
    case('kernel-movablecore', {'kernel': {'extra_args': ['movablecore=50%']}}, 'kernel.extra_args[0]',
         "'movablecore=50%' changes the memory map the hugepage pools were planned in (it sizes "
         'ZONE_MOVABLE)'),
    case('kernel-kernelcore', {'kernel': {'extra_args': ['kernelcore=mirror']}}, 'kernel.extra_args[0]',
         "'kernelcore=mirror' changes the memory map the hugepage pools were planned in (it sizes "
         'ZONE_MOVABLE)'),
    case('kernel-numa-fake', {'kernel': {'extra_args': ['numa=fake=4']}}, 'kernel.extra_args[0]',
         "'numa=fake=4' changes the NUMA map the plan was computed from"),
    case('kernel-numa-balancing', {'kernel': {'extra_args': ['numa_balancing=enable']}}, 'kernel.extra_args[0]',
         "'numa_balancing=enable' switches NUMA balancing, which the plan turns off (sysctl "
         'kernel.numa_balancing=0)'),
    case('kernel-hugetlb-cma', {'kernel': {'extra_args': ['hugetlb_cma=2G']}}, 'kernel.extra_args[0]',
         "'hugetlb_cma=2G' changes the memory map the hugepage pools were planned in (it reserves CMA "
         'memory for hugepages); use hft_profile.hugepages.pages instead'),
    case('kernel-cgroup-disable-cpuset', {'kernel': {'extra_args': ['cgroup_disable=cpuset']}},
         'kernel.extra_args[0]',
         "'cgroup_disable=cpuset' disables a cgroup controller that the kubelet and the housekeeping need"),
    case('kernel-cgroup-v1', {'kernel': {'extra_args': ['cgroup_no_v1=all', 'systemd.unified_cgroup_hierarchy=0']}},
         'kernel.extra_args[1]',
         "'systemd.unified_cgroup_hierarchy=0' puts systemd on the legacy cgroup hierarchy; the slices' cpusets "
         'and the kubelet are planned on cgroup v2'),
    case('kernel-cgroup-legacy-controller', {'kernel': {'extra_args': ['systemd.legacy_systemd_cgroup_controller']}},
         'kernel.extra_args[0]',
         "'systemd.legacy_systemd_cgroup_controller' puts systemd on the legacy cgroup hierarchy; the slices' "
         'cpusets and the kubelet are planned on cgroup v2'),
    case('kernel-kthread-cpus', {'kernel': {'extra_args': ['kthread_cpus=0-1']}}, 'kernel.extra_args[0]',
         "'kthread_cpus=0-1' places kernel threads, which the plan keeps on the reserved CPUs; use "
         'hft_profile.cpu.reserved instead'),
    case('kernel-nowatchdog', {'kernel': {'extra_args': ['nowatchdog']}}, 'kernel.extra_args[0]',
         "'nowatchdog' turns off the lockup detectors, which the profile owns; use "
         'hft_profile.kernel.nosoftlockup and kernel.nmi_watchdog instead'),
    case('kernel-cpufreq-governor', {'kernel': {'extra_args': ['cpufreq.default_governor=powersave']}},
         'kernel.extra_args[0]',
         "'cpufreq.default_governor=powersave' sets the cpufreq governor, which the profile owns; use "
         'hft_profile.power.governor instead'),
    case('kernel-sysctl-owned', {'kernel': {'extra_args': ['sysctl.vm.nr_hugepages=8']}}, 'kernel.extra_args[0]',
         "'sysctl.vm.nr_hugepages=8': vm.nr_hugepages sets the default-size hugepage pool, which the plan "
         'owns; use hft_profile.hugepages.pages instead'),
    case('kernel-sysctl-owned-slash-spelling', {'kernel': {'extra_args': ['sysctl.kernel/numa_balancing=1']}},
         'kernel.extra_args[0]',
         "'sysctl.kernel/numa_balancing=1': kernel/numa_balancing is set to 0 on every node by the plan; it "
         'is not a profile setting'),
    case('kernel-sysctl-bad-name', {'kernel': {'extra_args': ['sysctl.kernel..panic=1']}}, 'kernel.extra_args[0]',
         "'sysctl.kernel..panic=1': 'kernel..panic' is not a sysctl name: it has an empty component; give "
         "the name below /proc/sys, with dots or slashes between letters, digits, '_' and '-', such as "
         'net.core.busy_poll'),
    case('kernel-sysctl-empty-value', {'kernel': {'extra_args': ['sysctl.vm.swappiness=']}}, 'kernel.extra_args[0]',
         "'sysctl.vm.swappiness=' sets the sysctl vm.swappiness to an empty value"),
    case('kernel-args-contradict', {'kernel': {'extra_args': ['panic=0', 'sysctl.kernel.panic=10']}},
         'kernel.extra_args[1]',
         "'sysctl.kernel.panic=10' sets the sysctl kernel.panic to '10', but 'panic=0' sets it to '0'; "
         'set it once'),
    case('kernel-nosoftlockup-word', {'kernel': {'nosoftlockup': 'yes'}}, 'kernel.nosoftlockup',
         "must be true or false, got str 'yes'"),
    case('kernel-thp-unknown', {'kernel': {'thp': 'sometimes'}}, 'kernel.thp',
         "must be one of never, madvise, always, got str 'sometimes'"),
    case('kernel-iommu-unknown', {'kernel': {'iommu': 'enabled'}}, 'kernel.iommu',
         "must be one of auto, on, off, got str 'enabled'"),
    case('sysctl-not-a-mapping', {'sysctl': ['vm.swappiness=10']}, 'sysctl',
         'must be a mapping of sysctl name to value, got a list'),
    case('sysctl-nr-hugepages', {'sysctl': {'vm.nr_hugepages': 1024}}, 'sysctl.vm.nr_hugepages',
         'sets the default-size hugepage pool, which the plan owns; use hft_profile.hugepages.pages '
         'instead'),
    case('sysctl-overcommit-hugepages', {'sysctl': {'vm.nr_overcommit_hugepages': 64}},
         'sysctl.vm.nr_overcommit_hugepages',
         'sizes the surplus hugepage pool, which the plan owns; use hft_profile.hugepages.pages instead'),
    case('sysctl-nmi-watchdog', {'sysctl': {'kernel.nmi_watchdog': 1}}, 'sysctl.kernel.nmi_watchdog',
         'switches the NMI watchdog, which the plan owns; use hft_profile.kernel.nmi_watchdog instead'),
    case('sysctl-watchdog', {'sysctl': {'kernel.watchdog': 1}}, 'sysctl.kernel.watchdog',
         'switches the lockup detectors, which the plan owns; use hft_profile.kernel.nosoftlockup and '
         'kernel.nmi_watchdog instead'),
    case('sysctl-soft-watchdog', {'sysctl': {'kernel.soft_watchdog': 1}}, 'sysctl.kernel.soft_watchdog',
         'switches the soft lockup detector, which the plan owns; use hft_profile.kernel.nosoftlockup '
         'instead'),
    case('sysctl-watchdog-cpumask', {'sysctl': {'kernel.watchdog_cpumask': '0-7'}}, 'sysctl.kernel.watchdog_cpumask',
         'places the lockup detectors (nohz_full keeps them off the isolated CPUs), which the plan owns; '
         'use hft_profile.cpu.isolated instead'),
    case('sysctl-numa-balancing', {'sysctl': {'kernel.numa_balancing': 1}}, 'sysctl.kernel.numa_balancing',
         'is set to 0 on every node by the plan; it is not a profile setting'),
    case('sysctl-planned-stat-interval', {'sysctl': {'vm.stat_interval': 1}}, 'sysctl.vm.stat_interval',
         'is set to 10 on every node by the plan; it is not a profile setting'),
    case('sysctl-owned-slash-spelling', {'sysctl': {'kernel/numa_balancing': 1}}, 'sysctl.kernel/numa_balancing',
         'is set to 0 on every node by the plan; it is not a profile setting'),
    case('sysctl-rps-default-mask', {'sysctl': {'net.core.rps_default_mask': 'ff'}},
         'sysctl.net.core.rps_default_mask',
         'sets the RPS mask of new devices, which the plan owns; use hft_profile.housekeeping.rps_include '
         'instead'),
    case('sysctl-drop-caches', {'sysctl': {'vm.drop_caches': 3}}, 'sysctl.vm.drop_caches',
         'is written by the applier before it allocates the pools, which the plan owns; use '
         'hft_profile.hugepages.pages instead'),
    case('sysctl-name-climbs-out', {'sysctl': {'../../etc/passwd': 'x'}}, 'sysctl.../../etc/passwd',
         "is not a sysctl name: it has a '.' or '..' component; give the name below /proc/sys, with dots "
         "or slashes between letters, digits, '_' and '-', such as net.core.busy_poll"),
    case('sysctl-name-absolute', {'sysctl': {'/proc/sys/vm/swappiness': 10}}, 'sysctl./proc/sys/vm/swappiness',
         'is not a sysctl name: it is an absolute path; give the name below /proc/sys, with dots or '
         "slashes between letters, digits, '_' and '-', such as net.core.busy_poll"),
    case('sysctl-name-empty-component', {'sysctl': {'kernel..panic': 0}}, 'sysctl.kernel..panic',
         'is not a sysctl name: it has an empty component; give the name below /proc/sys, with dots or '
         "slashes between letters, digits, '_' and '-', such as net.core.busy_poll"),
    case('sysctl-name-odd-character', {'sysctl': {'vm.swappiness;reboot': 10}}, 'sysctl.vm.swappiness;reboot',
         "is not a sysctl name: it holds ';', a character no sysctl name has; give the name below "
         "/proc/sys, with dots or slashes between letters, digits, '_' and '-', such as "
         'net.core.busy_poll'),
    case('sysctl-name-directory', {'sysctl': {'kernel': 1}}, 'sysctl.kernel',
         'is not a sysctl name: it names a directory of /proc/sys, not a sysctl; give the name below '
         "/proc/sys, with dots or slashes between letters, digits, '_' and '-', such as "
         'net.core.busy_poll'),
    case('sysctl-value-empty', {'sysctl': {'net.core.busy_poll': ''}}, 'sysctl.net.core.busy_poll',
         "is empty; give a value, or leave the sysctl out to keep the machine's"),
    case('sysctl-value-null', {'sysctl': {'net.core.busy_poll': None}}, 'sysctl.net.core.busy_poll',
         'must be a string or a number, got null'),
    case('sysctl-value-bool', {'sysctl': {'net.core.busy_poll': True}}, 'sysctl.net.core.busy_poll',
         'must be a string or a number, got boolean true'),
    case('sysctl-value-list', {'sysctl': {'net.ipv4.ip_local_port_range': [1024, 65000]}},
         'sysctl.net.ipv4.ip_local_port_range',
         'must be a string or a number, got a list'),
    case('sysctl-value-two-lines', {'sysctl': {'kernel.core_pattern': 'core\nx'}}, 'sysctl.kernel.core_pattern',
         'must be a single line'),
    case('sysctl-two-spellings', {'sysctl': {'vm.swappiness': 10, 'vm/swappiness': 10}}, 'sysctl.vm/swappiness',
         'is the sysctl vm.swappiness again (as vm/swappiness); give it once'),
    case('sysctl-contradicts-kernel-arg', {'kernel': {'extra_args': ['panic=0']}, 'sysctl': {'kernel.panic': 10}},
         'sysctl.kernel.panic',
         "'10' contradicts kernel.extra_args[0] 'panic=0', which sets it to '0'; set it one way"),
    case('housekeeping-irqbalance', {'housekeeping': {'irqbalance': 'off'}}, 'housekeeping.irqbalance',
         "must be one of banned, disabled, got str 'off'"),
    case('housekeeping-irq-policy', {'housekeeping': {'irq_policy': 'all'}}, 'housekeeping.irq_policy',
         "must be one of intersect, replace, got str 'all'"),
    case('housekeeping-rps-not-a-list', {'housekeeping': {'rps_include': 'eth*'}}, 'housekeeping.rps_include',
         "must be a list of interface name patterns, got str 'eth*'"),
    case('housekeeping-rps-pattern-slash', {'housekeeping': {'rps_exclude': ['net/lo']}},
         'housekeeping.rps_exclude[0]',
         'must be an interface name or fnmatch pattern (at most 15 characters, no space, slash, colon or '
         "quote), got str 'net/lo'"),
    case('housekeeping-root-slice', {'housekeeping': {'cpuset_slices': ['-.slice']}},
         'housekeeping.cpuset_slices[0]',
         'is the root slice: confining it would confine the pods too'),
    case('housekeeping-kubepods-slice', {'housekeeping': {'cpuset_slices': ['kubepods.slice']}},
         'housekeeping.cpuset_slices[0]',
         "holds the kubelet's pods, which the kubelet places on CPUs itself"),
    case('housekeeping-slice-name', {'housekeeping': {'cpuset_slices': ['system']}}, 'housekeeping.cpuset_slices[0]',
         "must be a systemd slice name such as system.slice, got str 'system'"),
    case('latency-gate-tool', {'latency_gate': {'tool': 'ping'}}, 'latency_gate.tool',
         "must be one of oslat, cyclictest, got str 'ping'"),
    case('latency-gate-duration-zero', {'latency_gate': {'duration_s': 0}}, 'latency_gate.duration_s',
         'must be >= 1, got 0'),
    case('latency-gate-max-us-word', {'latency_gate': {'max_us': '20us'}}, 'latency_gate.max_us',
         "must be an integer, got str '20us'"),
    case('latency-gate-cpus-not-isolated', {'latency_gate': {'cpus': '0-1'}}, 'latency_gate.cpus',
         'CPUs 0-1 are not isolated (isolated: 2-3,6-7); the gate measures isolated CPUs'),
    case('latency-gate-enabled-word', {'latency_gate': {'enabled': 'yes'}}, 'latency_gate.enabled',
         "must be true or false, got str 'yes'"),
]

HELD_OUT = [
    case('held-out-maxcpus', {'kernel': {'extra_args': ['maxcpus=8']}}, 'kernel.extra_args[0]',
         "'maxcpus=8' changes the set of online CPUs the plan was computed from (only the first CPUs come "
         'up)'),
    case('held-out-mem', {'kernel': {'extra_args': ['mem=16G']}}, 'kernel.extra_args[0]',
         "'mem=16G' changes the memory map the hugepage pools were planned in (it caps usable memory)"),
    case('held-out-sysctl-nr-hugepages', {'sysctl': {'vm.nr_hugepages': 1024}}, 'sysctl.vm.nr_hugepages',
         'sets the default-size hugepage pool, which the plan owns; use hft_profile.hugepages.pages '
         'instead'),
    case('held-out-sysctl-nmi-watchdog', {'sysctl': {'kernel.nmi_watchdog': 1}}, 'sysctl.kernel.nmi_watchdog',
         'switches the NMI watchdog, which the plan owns; use hft_profile.kernel.nmi_watchdog instead'),
    case('held-out-sysctl-absolute-path', {'sysctl': {'/proc/sys/vm/swappiness': 10}}, 'sysctl./proc/sys/vm/swappiness',
         'is not a sysctl name: it is an absolute path; give the name below /proc/sys, with dots or '
         "slashes between letters, digits, '_' and '-', such as net.core.busy_poll"),
    case('held-out-sysctl-empty-value', {'sysctl': {'net.core.busy_poll': ''}}, 'sysctl.net.core.busy_poll',
         "is empty; give a value, or leave the sysctl out to keep the machine's"),
    case('held-out-numa-off', {'kernel': {'extra_args': ['numa=off']}}, 'kernel.extra_args[0]',
         "'numa=off' changes the NUMA map the plan was computed from"),
    case('held-out-reserved-cores-64', {'cpu': {'reserved_cores': 64}}, 'cpu.reserved_cores',
         '64 cores per node asked, but node 0 has only 2 online cores, node 1 only 2'),
    case('held-out-kubelet-options-under-none',
         {'kubelet': {'cpu_manager_policy': 'none', 'cpu_manager_policy_options': {'full-pcpus-only': True}}},
         'kubelet.cpu_manager_policy_options',
         'is ignored with kubelet.cpu_manager_policy: none (the kubelet takes no options with it); remove '
         'it'),
    case('held-out-sysctl-watchdog', {'sysctl': {'kernel.watchdog': '0'}, 'kernel': {'nosoftlockup': False}},
         'sysctl.kernel.watchdog',
         'switches the lockup detectors, which the plan owns; use hft_profile.kernel.nosoftlockup and '
         'kernel.nmi_watchdog instead'),
]


def refusal(profile, topology):
    with pytest.raises(ProfileError) as exc:
        plan(profile, topology)
    return exc.value.errors


@pytest.mark.parametrize("shape, profile, expected", BAD)
def test_bad_profile_is_refused_with_its_one_error(shape_topology, shape, profile, expected):
    assert refusal(profile, shape_topology(shape)) == expected


@pytest.mark.parametrize("shape, profile, expected", HELD_OUT)
def test_held_out_bad_profile_is_refused(shape_topology, shape, profile, expected):
    assert refusal(profile, shape_topology(shape)) == expected


def test_the_table_holds_a_hundred_distinct_mistakes():
    ids = [p.id for p in BAD + HELD_OUT]
    assert len(ids) == len(set(ids))
    assert len(BAD) >= 100 and len(HELD_OUT) >= 10
    profiles = [json.dumps(p.values[:2], sort_keys=True) for p in BAD]
    assert len(profiles) == len(set(profiles))


def test_every_bad_profile_stops_the_preflight_before_any_change(shape_root, capsys):
    # The first play of a tuning run is the preflight (any_errors_fatal), and
    # its first task computes the plan: nothing is changed before it.
    play = yaml.safe_load((REPO / "playbooks" / "tune_nodes.yml").read_text())[0]
    assert play["any_errors_fatal"] is True
    assert [r["role"] for r in play["roles"]] == ["bot4.hft.preflight"]
    first = yaml.safe_load((REPO / "roles" / "preflight" / "tasks" / "main.yml").read_text())[0]
    assert "bot4.hft.node_plan_info" in first
    roots = {}
    for param in BAD + HELD_OUT:
        shape, profile, expected = param.values
        if shape not in roots:
            roots[shape] = shape_root(shape)
        with patch_module_args({"profile": profile, "root": roots[shape]}):
            with pytest.raises(SystemExit) as exc:
                node_plan_info.main()
        result = json.loads(capsys.readouterr().out)
        assert exc.value.code == 1, param.id
        assert result["failed"] is True and "plan" not in result, param.id
        if not isinstance(profile, dict):
            # the module's argument spec refuses it before the planner sees it
            assert "profile" in result["msg"] and "dict" in result["msg"], result["msg"]
            continue
        assert [(e["field"], e["reason"]) for e in result["errors"]] == expected, param.id


# The tables refuse what undoes the plan, not every argument of the same name.
ALLOWED = [
    pytest.param({"kernel": {"extra_args": ["acpi=noirq", "cgroup_disable=io", "mitigations=off", "l1tf=flush",
                                            "mds=full", "retbleed=auto", "audit=0", "crashkernel=256M",
                                            "systemd.unified_cgroup_hierarchy=1", "cgroup_no_v1=all",
                                            "console=tty0", "console=ttyS0,115200"]}}, id="refused-keys-other-values"),
    pytest.param({"kernel": {"extra_args": ["panic=10", "sysctl.kernel.panic=10"]}, "sysctl": {"kernel.panic": "10"}},
                 id="one-sysctl-asked-the-same-three-ways"),
    pytest.param({"kernel": {"extra_args": ["sysctl.net.core.busy_poll=50"]}}, id="sysctl-on-the-command-line"),
    pytest.param({"sysctl": {"vm.swappiness": 10, "net/ipv4/conf/eth0.100/rp_filter": 2,
                             "net.ipv6.conf.br-ex.disable_ipv6": 1, "kernel.sched_rr_timeslice_ms": 10}},
                 id="sysctl-names-of-the-grammar"),
    pytest.param({"kubelet": {"cpu_manager_policy": "none", "cpu_manager_policy_options": {}},
                  "numa": {"topology_policy": "none"}}, id="policy-none-without-its-options"),
]


@pytest.mark.parametrize("profile", ALLOWED)
def test_what_the_tables_do_not_refuse(shape_topology, profile):
    result = plan(profile, shape_topology("lab"))
    extra = profile.get("kernel", {}).get("extra_args", [])
    assert result["kernel_args"][len(result["kernel_args"]) - len(extra):] == extra
    for name, value in profile.get("sysctl", {}).items():
        assert result["runtime"]["sysctl"][name] == str(value)
