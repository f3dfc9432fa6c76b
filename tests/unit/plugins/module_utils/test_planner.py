# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Planner behaviour on the machine shapes, and properties every plan keeps."""

import copy
import dataclasses
import json
from pathlib import Path

import pytest
import yaml

import sysfs_builder
SHAPE_NAMES = sorted(sysfs_builder.SHAPES)

from ansible_collections.bot4.hft.plugins.module_utils.cpuset import parse_cpulist, parse_mask
from ansible_collections.bot4.hft.plugins.module_utils.planner import (
    PER_NODE_HUGEPAGES_MIN_KERNEL,
    ProfileError,
    plan,
    plan_json,
)
from ansible_collections.bot4.hft.plugins.module_utils.profile import DEFAULTS, normalize_profile
from ansible_collections.bot4.hft.plugins.module_utils.topology import Topology

LAB_PROFILE = {
    "dpdk": {"devices": [{"pci": "0000:81:00.0"}]},
    "hugepages": {"pages": [{"size": "1G", "count": 1, "node": "nic"}, {"size": "2M", "count": 256, "node": 0}]},
}


def cpus(text):
    return parse_cpulist(text)


# -------------------------------------------------------------- CPU sets
def test_lab_defaults_reserve_one_core_per_node(shape_topology):
    p = plan({}, shape_topology("lab"))
    assert p["cpu"]["reserved"] == "0-1,4-5"
    assert p["cpu"]["isolated"] == "2-3,6-7"
    assert p["cpu"]["reserved_mask"] == "33" and p["cpu"]["isolated_mask"] == "cc"
    assert p["kernel_args"] == [
        "isolcpus=managed_irq,domain,2-3,6-7",
        "nohz=on",
        "nohz_full=2-3,6-7",
        "rcu_nocbs=2-3,6-7",
        "irqaffinity=0-1,4-5",
        "systemd.cpu_affinity=0-1,4-5",
        "rcupdate.rcu_normal_after_boot=1",
        "default_hugepagesz=1G",
        "transparent_hugepage=never",
        "nosoftlockup",
        "nmi_watchdog=0",
        "skew_tick=1",
        "tsc=reliable",
        "mce=ignore_ce",
        "intel_idle.max_cstate=1",
        "processor.max_cstate=1",
        "intel_pstate=passive",
    ]
    assert p["warnings"] == []


def test_xeon_spread_takes_the_lowest_core_of_each_node(shape_topology):
    p = plan({}, shape_topology("xeon2s"))
    # node 0's lowest core is 0+32, node 1's is 1+33 (interleaved numbering)
    assert p["cpu"]["reserved"] == "0-1,32-33"
    assert p["cpu"]["reserved_by_node"] == [{"node": 0, "cpus": "0,32"}, {"node": 1, "cpus": "1,33"}]
    assert p["cpu"]["reserved_mask"] == "00000003,00000003"
    assert p["kubelet"]["reservedSystemCPUs"] == "0-1,32-33"


def test_first_avoids_the_nic_node_beyond_the_boot_core(shape_topology):
    t = shape_topology("xeon2s")
    profile = {
        "cpu": {"reserved_numa": "first", "reserved_cores": 3},
        "dpdk": {"devices": [{"interface": "eno2"}]},  # an igb port on node 0, the boot node
    }
    p = plan(profile, t)
    # boot CPU's core (0+32) stays, the other two come from node 1, which has no DPDK NIC
    assert p["cpu"]["reserved"] == "0-1,3,32-33,35"
    assert p["dpdk"]["nic_nodes"] == [0]


def test_first_without_nics_fills_the_boot_node(shape_topology):
    p = plan({"cpu": {"reserved_numa": "first", "reserved_cores": 3}}, shape_topology("xeon2s"))
    assert p["cpu"]["reserved"] == "0,2,4,32,34,36"


def test_first_with_nic_locality_ignore_fills_the_boot_node(shape_topology):
    profile = {
        "cpu": {"reserved_numa": "first", "reserved_cores": 2},
        "numa": {"nic_locality": "ignore"},
        "dpdk": {"devices": [{"interface": "eno2"}]},
    }
    assert plan(profile, shape_topology("xeon2s"))["cpu"]["reserved"] == "0,2,32,34"


def test_reserved_numa_list(shape_topology):
    p = plan({"cpu": {"reserved_numa": [0, 2]}}, shape_topology("epyc_nps4"))
    assert p["cpu"]["reserved"] == "0,16,32,48"


def test_explicit_reserved_gives_the_rest_to_isolated(shape_topology):
    p = plan({"cpu": {"reserved": "0-1"}}, shape_topology("lab"))
    assert p["cpu"]["isolated"] == "2-7"


def test_explicit_isolated_gives_the_rest_to_reserved(shape_topology):
    p = plan({"cpu": {"isolated": "6-7"}}, shape_topology("lab"))
    assert p["cpu"]["reserved"] == "0-5"


def test_explicit_reserved_ignores_auto_only_fields_with_a_warning(shape_topology):
    p = plan({"cpu": {"reserved": "0-1", "reserved_cores": 2}}, shape_topology("lab"))
    assert "hft_profile.cpu.reserved_cores is ignored because hft_profile.cpu.reserved is an explicit cpulist" \
        in p["warnings"]


def test_balanced_isolation_keeps_load_balancing(shape_topology):
    p = plan({"cpu": {"isolation": "balanced"}}, shape_topology("lab"))
    assert p["kernel_args"][0] == "isolcpus=managed_irq,2-3,6-7"
    assert p["cpu"]["isolation"] == "balanced"


def test_smt_disabled_plans_first_threads_only(shape_topology):
    p = plan({"cpu": {"smt": "disabled"}}, shape_topology("xeon2s"))
    assert p["cpu"]["smt_siblings_offline"] == "32-63"
    assert p["cpu"]["reserved"] == "0-1"
    assert p["cpu"]["isolated"] == "2-31"
    assert p["kernel_args"][-1] == "nosmt"
    assert p["power"]["cpus"] == "0-31"


def test_smt_disabled_on_a_machine_without_smt_warns(shape_topology):
    p = plan({"cpu": {"smt": "disabled"}}, shape_topology("single8"))
    assert any("nosmt changes nothing" in w for w in p["warnings"])


def test_offline_cpus_are_in_no_set_and_reported(shape_topology):
    p = plan({"numa": {"nic_locality": "ignore"}}, shape_topology("offline2s"))
    assert p["cpu"]["offline"] == "20-23"
    assert p["cpu"]["reserved"] == "0,8,16,24"
    assert p["cpu"]["isolated"] == "1-7,9-15,17-19,25-31"
    # 48 possible CPUs: the masks are 48 bits wide, like the kernel's
    assert p["cpu"]["reserved_mask"] == "0000,01010101"
    assert any("CPUs 20-23 are present but offline" in w for w in p["warnings"])


def test_isolated_preferred_puts_nic_nodes_first_then_nearest(shape_topology):
    t = shape_topology("epyc_nps4")
    p = plan({"dpdk": {"devices": [{"pci": "0000:81:00.0"}]}}, t)  # node 2
    order = p["cpu"]["isolated_preferred"]
    nodes = [t.cpu(c).node for c in order]
    # node 2 first, then node 3 (distance 11), then 0 and 1 (distance 12)
    assert nodes == sorted(nodes, key=[2, 3, 0, 1].index)
    assert order[:14] == list(range(17, 24)) + list(range(49, 56))
    assert sorted(order) == cpus(p["cpu"]["isolated"])


# ------------------------------------------------------------- hugepages
def test_lab_hugepages_per_node_at_boot(shape_topology):
    p = plan(LAB_PROFILE, shape_topology("lab"))
    assert p["hugepages"] == [
        {"size": "1G", "size_kb": 1048576, "node": 0, "count": 0, "at_boot": True},
        {"size": "1G", "size_kb": 1048576, "node": 1, "count": 1, "at_boot": True},
        {"size": "2M", "size_kb": 2048, "node": 0, "count": 256, "at_boot": True},
        {"size": "2M", "size_kb": 2048, "node": 1, "count": 0, "at_boot": True},
    ]
    args = p["kernel_args"]
    start = args.index("default_hugepagesz=1G")
    assert args[start:start + 5] == [
        "default_hugepagesz=1G", "hugepagesz=1G", "hugepages=1:1", "hugepagesz=2M", "hugepages=0:256"]
    assert p["hugepages_boot"]["mode"] == "per_node"
    assert p["hugetlbfs_mounts"] == [
        {"path": "/dev/hugepages", "pagesize": "1G", "default": True},
        {"path": "/dev/hugepages-2M", "pagesize": "2M", "default": False},
    ]


def test_old_kernel_boots_totals_and_allocates_per_node_at_runtime(shape_topology):
    t = shape_topology("epyc_nps4")
    assert t.kernel_release.startswith("5.15")
    p = plan({"dpdk": {"devices": [{"pci": "0000:c1:00.0"}]}, "hugepages": {"pages": [
        {"size": "1G", "count": 8, "node": "nic"}, {"size": "2M", "count": 512, "node": "all"}]}}, t)
    assert p["hugepages_boot"]["mode"] == "total"
    assert "hugepages=8" in p["kernel_args"] and "hugepages=2048" in p["kernel_args"]
    one_g = [h for h in p["hugepages"] if h["size"] == "1G"]
    assert [(h["node"], h["count"], h["at_boot"]) for h in one_g] == [
        (0, 0, False), (1, 0, False), (2, 0, False), (3, 8, False)]
    # the same count on every node is what the kernel's own spreading gives
    assert all(h["at_boot"] for h in p["hugepages"] if h["size"] == "2M")
    assert p["hugepages_boot"]["runtime_allocation"] is True


def test_single_node_uses_the_total(shape_topology):
    p = plan({"dpdk": {"devices": [{"interface": "enp1s0f0"}]},
              "hugepages": {"pages": [{"size": "1G", "count": 4, "node": "nic"}]}}, shape_topology("single8"))
    # numa_node -1 on a single-node machine is node 0
    assert p["dpdk"]["devices"][0]["numa_node"] == 0
    assert p["hugepages"] == [{"size": "1G", "size_kb": 1048576, "node": 0, "count": 4, "at_boot": True}]
    assert "hugepages=4" in p["kernel_args"]


def test_runtime_hugepages_add_no_boot_arguments(shape_topology):
    p = plan({"hugepages": {"boot": "runtime", "pages": [{"size": "2M", "count": 64, "node": 1}]}},
             shape_topology("lab"))
    assert not [a for a in p["kernel_args"] if a.startswith(("hugepages=", "hugepagesz="))]
    assert "default_hugepagesz=1G" in p["kernel_args"]
    assert all(h["at_boot"] is False for h in p["hugepages"])


def test_per_node_forced_on_an_old_kernel_warns(shape_topology):
    p = plan({"numa": {"nic_locality": "ignore"}, "hugepages": {"boot": "per_node", "pages": [
        {"size": "1G", "count": 2, "node": 1}]}}, shape_topology("offline2s"))
    assert "hugepages=1:2" in p["kernel_args"]
    assert any("backported" in w for w in p["warnings"])


def test_per_node_boot_threshold_is_5_16(custom_shape):
    assert PER_NODE_HUGEPAGES_MIN_KERNEL == (5, 16)
    for release, mode in (("5.15.0-91-generic", "total"), ("5.16.0-1-amd64", "per_node"), ("6.12.9", "per_node")):
        t = custom_shape(dataclasses.replace(sysfs_builder.lab_vm(), osrelease=release))
        p = plan(LAB_PROFILE, t)
        assert p["hugepages_boot"]["mode"] == mode, release


# --------------------------------------------------------- DPDK and IOMMU
def test_vfio_turns_the_iommu_on_when_the_firmware_has_one(shape_topology):
    p = plan({"dpdk": {"devices": [{"pci": "0000:af:00.0"}]}}, shape_topology("xeon2s"))
    args = p["kernel_args"]
    assert args.index("intel_iommu=on") == args.index("rcupdate.rcu_normal_after_boot=1") + 1
    assert args[args.index("intel_iommu=on") + 1] == "iommu=pt"
    assert any("after the reboot" in w for w in p["warnings"])


def test_amd_gets_passthrough_only(shape_topology):
    p = plan({"dpdk": {"devices": [{"pci": "0000:c1:00.0"}]}}, shape_topology("epyc_nps4"))
    args = p["kernel_args"]
    assert "iommu=pt" in args and not [a for a in args if a.startswith(("intel_iommu", "amd_iommu"))]
    assert "processor.max_cstate=1" in args and "amd_pstate=passive" in args
    assert not [a for a in args if a.startswith(("intel_idle", "intel_pstate"))]


def test_uio_needs_no_iommu(shape_topology):
    p = plan({"dpdk": {"devices": [{"pci": "0000:af:00.0"}], "driver": "uio_pci_generic"}},
             shape_topology("xeon2s"))
    assert not [a for a in p["kernel_args"] if "iommu" in a]


def test_allow_noiommu(shape_topology):
    p = plan({"numa": {"nic_locality": "ignore"},
              "dpdk": {"devices": [{"pci": "0000:3b:00.0"}], "allow_noiommu": True}}, shape_topology("offline2s"))
    assert p["dpdk"]["noiommu"] is True
    assert not [a for a in p["kernel_args"] if "iommu" in a]
    assert any("no-IOMMU mode" in w for w in p["warnings"])


def test_kernel_driver_devices_are_not_bound(shape_topology):
    t = shape_topology("epyc_nps4")
    p = plan({"dpdk": {"devices": [{"id": "15b3:101d", "index": 1, "driver": "kernel"}]}}, t)
    dev = p["dpdk"]["devices"][0]
    assert dev["pci"] == "0000:81:00.1" and dev["target_driver"] == "kernel"
    assert dev["netdev"] == "enp129s0f1np1"
    # nothing to bind to vfio-pci: no IOMMU arguments
    assert "iommu=pt" not in p["kernel_args"]


def test_bound_device_resolves_through_netdev_names(custom_shape):
    shape = sysfs_builder.lab_vm()
    nics = [n if n.address != "0000:81:00.0" else dataclasses.replace(n, driver="vfio-pci", netdev=None)
            for n in shape.nics]
    t = custom_shape(dataclasses.replace(shape, nics=nics))
    profile = {"dpdk": {"devices": [{"interface": "enp129s0"}]}}
    p = plan(profile, t, netdev_names={"0000:81:00.0": "enp129s0"})
    assert p["dpdk"]["devices"][0]["pci"] == "0000:81:00.0"
    assert p["dpdk"]["devices"][0]["netdev"] == "enp129s0"
    # The plan is the desired state: the same before the device was bound
    # (a re-run after the binding finds the plan its first run recorded).
    assert p == plan(profile, custom_shape(shape))
    with pytest.raises(Exception) as exc:
        plan(profile, t)
    assert "select it by pci" in str(exc.value)


def test_shared_iommu_group_warns(custom_shape):
    shape = sysfs_builder.lab_vm()
    shape = dataclasses.replace(shape, iommu_extra={9: ["0000:81:00.1"]})
    p = plan(LAB_PROFILE, custom_shape(shape))
    assert p["dpdk"]["devices"][0]["iommu_group_devices"] == ["0000:81:00.0", "0000:81:00.1"]
    assert any("IOMMU group 9 of 0000:81:00.0 also holds 0000:81:00.1" in w for w in p["warnings"])


# NIC locality: the NUMA node of every DPDK NIC needs isolated CPUs for the
# engine's pinned threads (numa.nic_locality: required refuses, preferred warns).
LAB_GROUP_PROFILE = {  # inventories/lab/group_vars/hft_nodes.yml, in short
    "numa": {"nic_locality": "required"},
    "hugepages": {"pages": [{"size": "1G", "count": 1, "node": 1}, {"size": "2M", "count": 128, "node": 0}]},
    "dpdk": {"devices": [{"id": "8086:10d3"}], "driver": "vfio-pci"},
}


def test_lab_profile_hands_the_e1000e_on_node_1_to_vfio_and_isolates_cpus_there(shape_topology):
    p = plan(LAB_GROUP_PROFILE, shape_topology("lab"))
    [dev] = p["dpdk"]["devices"]
    assert (dev["pci"], dev["selector"], dev["vendor_device"], dev["numa_node"], dev["target_driver"],
            dev["netdev"]) == ("0000:81:00.0", "id: 8086:10d3, index: 0", "8086:10d3", 1, "vfio-pci", "enp129s0")
    assert p["dpdk"]["nic_nodes"] == [1]
    assert {"node": 1, "cpus": "6-7"} in p["cpu"]["isolated_by_node"]
    assert p["cpu"]["isolated_preferred"][:2] == [6, 7]  # the NIC's node first
    assert not [w for w in p["warnings"] if "NUMA node" in w]


def test_lab_inventory_profile_is_valid_and_sets_the_gate(shape_topology):
    """The lab inventory's whole hft_profile plans on the lab shape; the gate's settings are the profile's."""
    group_vars = Path(__file__).resolve().parents[4] / "inventories" / "lab" / "group_vars" / "hft_nodes.yml"
    profile = yaml.safe_load(group_vars.read_text())["hft_profile"]
    p = plan(profile, shape_topology("lab"))
    assert p["latency_gate"] == {"enabled": True, "tool": "oslat", "duration_s": 5, "max_us": 10000000,
                                 "cpus": p["cpu"]["isolated"]}


def test_nic_node_without_isolated_cpus_is_refused_when_required(shape_topology):
    profile = dict(LAB_GROUP_PROFILE, cpu={"reserved": "0-1,4-7"})  # node 1 entirely reserved
    with pytest.raises(ProfileError) as exc:
        plan(profile, shape_topology("lab"))
    assert exc.value.errors == [(
        "hft_profile.cpu.isolated",
        "no isolated CPU on NUMA node 1, where DPDK device 0000:81:00.0 sits (isolated: 2-3); "
        "numa.nic_locality is required",
    )]
    assert "- hft_profile.cpu.isolated: no isolated CPU on NUMA node 1" in str(exc.value)


@pytest.mark.parametrize("profile, message", [
    # EPYC NPS4, 8 cores per node: reserving all of nodes 0 and 3 leaves the E810's node 3 nothing
    ({"cpu": {"reserved_numa": [0, 3], "reserved_cores": 8},
      "dpdk": {"devices": [{"pci": "0000:c1:00.0"}]}},
     "no isolated CPU on NUMA node 3, where DPDK device 0000:c1:00.0 sits (isolated: 8-23,40-55); "
     "numa.nic_locality is required"),
    # ConnectX-6 on node 2, E810 on node 3; all of node 3 reserved: only node 3 is named
    ({"cpu": {"reserved": "0,24-32,56-63"},
      "dpdk": {"devices": [{"pci": "0000:81:00.0"}, {"pci": "0000:c1:00.0"}]}},
     "no isolated CPU on NUMA node 3, where DPDK device 0000:c1:00.0 sits (isolated: 1-23,33-55); "
     "numa.nic_locality is required"),
], ids=["auto-sets", "only-that-node-named"])
def test_nic_node_without_isolated_cpus_is_refused(shape_topology, profile, message):
    with pytest.raises(ProfileError) as exc:
        plan(profile, shape_topology("epyc_nps4"))
    assert exc.value.errors == [("hft_profile.cpu.isolated", message)]


def test_nic_node_without_isolated_cpus_only_warns_when_preferred(shape_topology):
    profile = dict(LAB_GROUP_PROFILE, cpu={"reserved": "0-1,4-7"}, numa={"nic_locality": "preferred"})
    p = plan(profile, shape_topology("lab"))
    assert p["cpu"]["isolated"] == "2-3"
    assert "no isolated CPU on NUMA node 1, where DPDK device 0000:81:00.0 sits (isolated: 2-3)" in p["warnings"]


def test_nic_locality_ignore_neither_refuses_nor_warns(shape_topology):
    profile = dict(LAB_GROUP_PROFILE, cpu={"reserved": "0-1,4-7"}, numa={"nic_locality": "ignore"})
    p = plan(profile, shape_topology("lab"))
    assert not [w for w in p["warnings"] if "no isolated CPU" in w]


def test_unknown_cpu_vendor_adds_no_x86_arguments(custom_shape):
    t = custom_shape(dataclasses.replace(sysfs_builder.lab_vm(), vendor=""))
    p = plan({}, t)
    assert not [a for a in p["kernel_args"] if a.startswith(("tsc=", "intel_", "processor.", "amd_", "mce="))]
    assert any("neither Intel nor AMD" in w for w in p["warnings"])
    assert any("kernel.mce_ignore_ce is x86 only" in w for w in p["warnings"])


def test_mce_ignore_ce_is_a_default_with_an_opt_out(shape_topology):
    assert "mce=ignore_ce" in plan({}, shape_topology("lab"))["kernel_args"]
    p = plan({"kernel": {"mce_ignore_ce": False}}, shape_topology("lab"))
    assert not [a for a in p["kernel_args"] if a.startswith("mce")]
    # the key stays owned: a mce= argument left from an earlier plan is removed
    assert "mce" in p["kernel_arg_keys"]


# ------------------------------------------------------ sysctl, kubelet
def test_sysctl_adds_the_profile_to_the_planned_ones(shape_topology):
    p = plan({"sysctl": {"vm.swappiness": 10, "net.core.busy_poll": "50", "net/ipv4/conf/eth0.100/rp_filter": 2}},
             shape_topology("lab"))
    assert p["sysctl"]["vm.stat_interval"] == "10"
    assert p["sysctl"]["vm.swappiness"] == "10"
    assert p["sysctl"]["net.core.busy_poll"] == "50"
    assert p["sysctl"]["net/ipv4/conf/eth0.100/rp_filter"] == "2"
    assert p["runtime"]["sysctl"] == p["sysctl"]
    assert p["sysctl"]["kernel.numa_balancing"] == "0"
    # unpinned timers armed on an isolated CPU move to a housekeeping CPU
    assert p["sysctl"]["kernel.timer_migration"] == "1"
    assert list(p["sysctl"]) == sorted(p["sysctl"])


def test_kubelet_settings(shape_topology):
    p = plan({"numa": {"topology_policy": "restricted", "topology_scope": "pod",
                       "topology_policy_options": {"prefer-closest-numa-nodes": True}},
              "kubelet": {"system_reserved_memory": "1Gi", "kube_reserved_memory": "256Mi",
                          "cpu_manager_policy_options": {"full-pcpus-only": True, "align-by-socket": "false"}}},
             shape_topology("xeon2s"))
    k = p["kubelet"]
    assert k["cpuManagerPolicy"] == "static"
    assert k["topologyManagerPolicy"] == "restricted" and k["topologyManagerScope"] == "pod"
    assert k["topologyManagerPolicyOptions"] == {"prefer-closest-numa-nodes": "true"}
    assert k["cpuManagerPolicyOptions"] == {"align-by-socket": "false", "full-pcpus-only": "true"}
    assert k["systemReserved"] == {"memory": "1024Mi"}
    # reservedMemory must equal system + kube reserved + hard eviction, on the reserved CPUs' node
    assert k["reservedMemory"] == [{"numaNode": 0, "limits": {"memory": "1380Mi"}}]


def test_cpu_manager_none_takes_no_options(shape_topology):
    # The kubelet refuses to start the none policy with any option.
    p = plan({"kubelet": {"cpu_manager_policy": "none"}}, shape_topology("lab"))
    assert p["kubelet"]["cpuManagerPolicy"] == "none"
    assert p["kubelet"]["cpuManagerPolicyOptions"] == {}
    assert p["kubelet"]["reservedSystemCPUs"] == p["cpu"]["reserved"]


def test_memory_manager_none_has_no_reserved_memory(shape_topology):
    p = plan({"kubelet": {"memory_manager_policy": "None"}}, shape_topology("lab"))
    assert p["kubelet"]["reservedMemory"] == []


def test_irq_plan(shape_topology):
    p = plan({}, shape_topology("xeon2s"))
    assert p["irq"] == {
        "default_smp_affinity": "00000003,00000003",
        "housekeeping_cpus": "0-1,32-33",
        "irqbalance_banned_cpulist": "2-31,34-63",
        "irqbalance_banned_mask": "fffffffc,fffffffc",
        "irqbalance": "banned",
        "policy": "intersect",
    }


# ------------------------------------------------------------ runtime state
def test_runtime_is_the_applier_configuration_of_the_plan(shape_topology):
    p = plan({}, shape_topology("xeon2s"))
    rt = p["runtime"]
    reserved = p["cpu"]["reserved"]
    assert rt["irq"] == {"default_cpus": reserved, "cpus": reserved, "policy": "intersect"}
    assert rt["workqueue"] == {"cpus": reserved}
    assert rt["rps"] == {"cpus": reserved, "include": ["*"], "exclude": ["lo"]}
    assert rt["sysctl"] == p["sysctl"]
    assert rt["thp"] == p["thp"] == {"enabled": "never", "defrag": "never"}
    assert rt["hugepages"] == {"pools": p["hugepages"], "release_unplanned": False, "reclaim": True}
    assert rt["cpufreq"] == {"governor": "performance", "cpus": p["power"]["cpus"]}
    assert rt["cpuidle"] == {"cpus": p["cpu"]["isolated"], "max_cstate": 1, "poll_only": False}
    assert rt["energy_perf_bias"] == {"value": "performance", "cpus": p["power"]["cpus"]}
    assert rt["dpdk"] == {"devices": [], "noiommu": False}


def test_runtime_leaves_out_what_the_plan_leaves_to_the_machine(shape_topology):
    p = plan(
        {"power": {"governor": None, "max_cstate": None, "energy_perf_bias": None},
         "kernel": {"thp": "madvise"},
         "hugepages": {"release_unplanned": True},
         "housekeeping": {"irq_policy": "replace", "irqbalance": "disabled",
                          "rps_include": ["eth*", "eth*"], "rps_exclude": []}},
        shape_topology("lab"),
    )
    rt = p["runtime"]
    assert "cpufreq" not in rt and "cpuidle" not in rt and "energy_perf_bias" not in rt
    assert rt["thp"] == {"enabled": "madvise", "defrag": "madvise"}
    assert rt["hugepages"]["release_unplanned"] is True
    assert rt["irq"]["policy"] == "replace" and p["irq"]["irqbalance"] == "disabled"
    assert rt["rps"]["include"] == ["eth*"] and rt["rps"]["exclude"] == []


def test_runtime_idle_poll_alone_plans_cpuidle(shape_topology):
    p = plan({"power": {"max_cstate": None, "idle_poll": True}}, shape_topology("lab"))
    assert p["runtime"]["cpuidle"] == {"cpus": p["cpu"]["isolated"], "max_cstate": None, "poll_only": True}


# ------------------------------------------------------------ determinism
def test_profile_digest_is_stable_and_sees_defaults():
    a, _unused = normalize_profile({})
    b, _unused = normalize_profile(copy.deepcopy(DEFAULTS))
    assert a == b


def test_digest_changes_with_the_profile(shape_topology):
    t = shape_topology("lab")
    assert plan({}, t)["profile_digest"] == plan({"cpu": {"isolated": "auto"}}, t)["profile_digest"]
    assert plan({}, t)["profile_digest"] != plan({"kernel": {"thp": "madvise"}}, t)["profile_digest"]


def test_plan_does_not_modify_its_input(shape_topology):
    t = shape_topology("lab")
    profile = copy.deepcopy(LAB_PROFILE)
    before = json.dumps(t.to_dict(), sort_keys=True)
    plan(profile, t)
    assert profile == LAB_PROFILE
    assert json.dumps(t.to_dict(), sort_keys=True) == before


# -------------------------------------------------------------- properties
PROFILES = {
    "defaults": {},
    "first2": {"cpu": {"reserved_numa": "first", "reserved_cores": 2}, "numa": {"nic_locality": "ignore"}},
    "nosmt": {"cpu": {"smt": "disabled"}, "numa": {"nic_locality": "ignore"}},
    "balanced": {"cpu": {"isolation": "balanced"}, "numa": {"nic_locality": "ignore"}},
}


@pytest.mark.parametrize("profile_name", sorted(PROFILES))
@pytest.mark.parametrize("shape", SHAPE_NAMES)
def test_plan_properties(shape_topology, shape, profile_name):
    t = shape_topology(shape)
    p = plan(PROFILES[profile_name], t)
    online = set(t.cpus_online)
    reserved = set(cpus(p["cpu"]["reserved"]))
    isolated = set(cpus(p["cpu"]["isolated"]))
    siblings_off = set(cpus(p["cpu"]["smt_siblings_offline"]))
    # subsets of online, disjoint, covering every CPU that stays online
    assert reserved and isolated
    assert reserved | isolated <= online
    assert not reserved & isolated
    assert reserved | isolated | siblings_off == online
    assert not (reserved | isolated) & set(t.cpus_offline)
    assert 0 in reserved
    # whole cores while SMT is enabled; first threads only when disabled
    for core in t.cores():
        if p["cpu"]["smt"] == "enabled":
            assert set(core) <= reserved or set(core) <= isolated, core
        else:
            assert set(core[1:]) <= siblings_off
    # masks and per-node views agree with the cpulists
    assert set(parse_mask(p["cpu"]["reserved_mask"])) == reserved
    assert set(parse_mask(p["cpu"]["isolated_mask"])) == isolated
    assert set().union(*[cpus(n["cpus"]) for n in p["cpu"]["isolated_by_node"]]) == isolated
    assert sorted(p["cpu"]["isolated_preferred"]) == sorted(isolated)
    for entry in p["cpu"]["isolated_by_node"]:
        assert all(t.cpu(c).node == entry["node"] for c in cpus(entry["cpus"]))
    # kernel args: the owned keys, in the fixed order
    keys = [a.split("=")[0] for a in p["kernel_args"]]
    order = ["isolcpus", "nohz", "nohz_full", "rcu_nocbs", "irqaffinity", "systemd.cpu_affinity",
             "rcupdate.rcu_normal_after_boot", "intel_iommu", "iommu", "default_hugepagesz", "hugepagesz",
             "hugepages", "transparent_hugepage", "nosoftlockup", "nmi_watchdog", "skew_tick", "tsc",
             "mce", "intel_idle.max_cstate", "processor.max_cstate", "idle", "intel_pstate", "amd_pstate", "nosmt"]
    firsts = [order.index(k) for k in keys if k not in ("hugepagesz", "hugepages")]
    assert firsts == sorted(firsts)
    assert set(keys) <= set(p["kernel_arg_keys"])
    assert p["irq"]["irqbalance_banned_cpulist"] == p["cpu"]["isolated"]
    assert p["kubelet"]["reservedSystemCPUs"] == p["cpu"]["reserved"]


@pytest.mark.parametrize("shape", SHAPE_NAMES)
def test_plan_is_deterministic_and_works_from_a_saved_topology(shape_topology, shape):
    t = shape_topology(shape)
    profile = {"numa": {"nic_locality": "ignore"}}
    first = plan_json(plan(profile, t))
    assert plan_json(plan(copy.deepcopy(profile), shape_topology(shape))) == first
    saved = json.loads(json.dumps(t.to_dict()))
    assert plan_json(plan(profile, saved)) == first
    assert plan_json(plan(profile, Topology.from_dict(saved))) == first


def test_amd_pstate_on_an_older_kernel_warns(shape_topology):
    p = plan({}, shape_topology("epyc_nps4"))  # 5.15
    assert "amd_pstate=passive" in p["kernel_args"]
    assert "amd_pstate=passive needs kernel 6.2 or a backport; kernel 5.15.0-91-generic without one ignores it" \
        in p["warnings"]


def test_machine_without_numa_sysfs(custom_shape):
    shape = dataclasses.replace(sysfs_builder.single_socket_8core(), numa_sysfs=False)
    p = plan({"dpdk": {"devices": [{"pci": "0000:01:00.0"}]},
              "hugepages": {"pages": [{"size": "2M", "count": 512, "node": "nic"}]}}, custom_shape(shape))
    assert p["topology_summary"]["numa_sysfs"] is False
    assert p["cpu"]["reserved"] == "0" and p["cpu"]["isolated"] == "1-7"
    assert p["dpdk"]["nic_nodes"] == [0]
    assert p["hugepages"] == [{"size": "2M", "size_kb": 2048, "node": 0, "count": 512, "at_boot": True}]
    assert "hugepages=512" in p["kernel_args"]


# ------------------------------------------------------------- cpu.offline
def test_cpu_offline_takes_a_sibling_out_and_its_core_stays_whole(shape_topology):
    p = plan(dict(LAB_GROUP_PROFILE, cpu={"offline": "7"}), shape_topology("lab"))
    assert p["cpu"]["offline_planned"] == "7"
    assert p["cpu"]["reserved"] == "0-1,4-5"
    assert p["cpu"]["isolated"] == "2-3,6"
    assert p["cpu"]["online"] == "0-6" and p["cpu"]["offline"] == "7"
    assert p["runtime"]["cpu_offline"] == {"cpus": "7"}
    assert "nohz_full=2-3,6" in p["kernel_args"]
    assert p["kubelet"]["reservedSystemCPUs"] == "0-1,4-5"
    # no warning about the CPU the plan itself takes offline
    assert not [w for w in p["warnings"] if "present but offline" in w]
    # an explicit isolated set holds CPU 6 alone: with 7 offline, that is a whole core
    explicit = plan(dict(LAB_GROUP_PROFILE, cpu={"offline": "7", "reserved": "0-1,4-5", "isolated": "2-3,6"}),
                    shape_topology("lab"))
    assert explicit["cpu"]["isolated"] == "2-3,6"


def test_cpu_offline_plan_is_the_same_once_the_cpus_are_offline(shape_topology, custom_shape):
    profile = dict(LAB_GROUP_PROFILE, cpu={"offline": "3,7"})
    before = plan(profile, shape_topology("lab"))
    after = plan(profile, custom_shape(dataclasses.replace(sysfs_builder.lab_vm(), online=[0, 1, 2, 4, 5, 6])))
    assert before["cpu"]["isolated"] == "2,6"
    assert after["topology_summary"]["cpus_online"] == 6
    assert plan_json(before) == plan_json(after)


def test_no_cpu_offline_no_runtime_section(shape_topology):
    p = plan(LAB_GROUP_PROFILE, shape_topology("lab"))
    assert p["cpu"]["offline_planned"] == ""
    assert "cpu_offline" not in p["runtime"]


# ------------------------------------------------------ realtime_scheduling
def test_realtime_scheduling_turns_rt_throttling_off_and_asks_for_stalld(shape_topology):
    off = plan({}, shape_topology("lab"))
    assert "kernel.sched_rt_runtime_us" not in off["sysctl"]
    assert off["realtime_scheduling"] == {"enabled": False, "stalld": False}
    on = plan({"kernel": {"realtime_scheduling": True}}, shape_topology("lab"))
    assert on["sysctl"]["kernel.sched_rt_runtime_us"] == "-1"
    assert on["runtime"]["sysctl"]["kernel.sched_rt_runtime_us"] == "-1"
    assert on["realtime_scheduling"] == {"enabled": True, "stalld": True}
    # the generic kernel stays: real-time scheduling does not need PREEMPT_RT
    assert on["kernel"]["realtime"] is False


def test_fwupd_refresh_timer_is_a_planned_disabled_unit_and_ksm_is_stopped(shape_topology):
    p = plan({}, shape_topology("lab"))
    assert p["disabled_units"] == ["fwupd-refresh.timer"]
    assert p["runtime"]["ksm"] == {"run": "0"}


def test_energy_performance_preference_and_min_perf_pct(shape_topology):
    p = plan({}, shape_topology("lab"))
    assert p["runtime"]["epp"] == {"value": "performance", "cpus": "0-7"}
    assert "min_perf_pct" not in p["runtime"]
    p = plan({"power": {"min_perf_pct": 100, "energy_performance_preference": None}}, shape_topology("lab"))
    assert p["runtime"]["min_perf_pct"] == {"value": 100}
    assert "epp" not in p["runtime"]
