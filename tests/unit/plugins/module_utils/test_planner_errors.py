# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every validation rule of the planner: each bad profile fails with a
message that names the field and the reason."""

import dataclasses

import pytest

import sysfs_builder

from ansible_collections.bot4.hft.plugins.module_utils.planner import ProfileError, plan

LAB_DPDK = {"devices": [{"pci": "0000:81:00.0"}]}


def errors_of(profile, topo):
    with pytest.raises(ProfileError) as exc:
        plan(profile, topo)
    err = exc.value
    # the message lists every problem, one per line, field first
    for field, reason in err.errors:
        assert "- %s: %s" % (field, reason) in str(err)
    return err.errors


def assert_error(errors, field, *fragments):
    reasons = [r for f, r in errors if f == field]
    assert reasons, "no error for %s in %r" % (field, errors)
    assert any(all(x in r for x in fragments) for r in reasons), (field, fragments, reasons)


@pytest.fixture
def lab(shape_topology):
    return shape_topology("lab")


# ------------------------------------------------------------- profile shape
def test_unknown_top_level_key_suggests_the_right_one(lab):
    errors = errors_of({"cpus": {"isolated": "2-3"}}, lab)
    assert_error(errors, "hft_profile.cpus", "unknown key", "did you mean 'cpu'?")


def test_unknown_nested_key_is_named(lab):
    errors = errors_of({"cpu": {"isolcpus": "2-3"}, "power": {"governer": "performance"}}, lab)
    assert_error(errors, "hft_profile.cpu.isolcpus", "unknown key", "known keys: isolated, isolation")
    assert_error(errors, "hft_profile.power.governer", "did you mean 'governor'?")


def test_wrong_types(lab):
    errors = errors_of(
        {
            "cpu": {"reserved_cores": "two"},
            "kernel": {"nosoftlockup": "yes", "extra_args": "quiet"},
            "hugepages": {"pages": {"size": "1G"}},
            "dpdk": "0000:81:00.0",
        },
        lab,
    )
    assert_error(errors, "hft_profile.cpu.reserved_cores", "must be an integer, got str 'two'")
    assert_error(errors, "hft_profile.kernel.nosoftlockup", "must be true or false")
    assert_error(errors, "hft_profile.kernel.extra_args", "must be a list of kernel arguments")
    assert_error(errors, "hft_profile.hugepages.pages", "must be a list of {size, count, node}")
    assert_error(errors, "hft_profile.dpdk", "must be a mapping")


def test_boolean_is_not_an_integer(lab):
    errors = errors_of({"cpu": {"reserved_cores": True}}, lab)
    assert_error(errors, "hft_profile.cpu.reserved_cores", "must be an integer, got boolean true")


def test_enum_values_are_listed(lab):
    errors = errors_of(
        {
            "cpu": {"isolation": "full"},
            "numa": {"topology_policy": "strict", "nic_locality": "maybe"},
            "kernel": {"thp": "sometimes"},
            "dpdk": {"driver": "igb_uio"},
        },
        lab,
    )
    assert_error(errors, "hft_profile.cpu.isolation", "must be one of static, balanced, got str 'full'")
    assert_error(errors, "hft_profile.numa.topology_policy", "none, best-effort, restricted, single-numa-node")
    assert_error(errors, "hft_profile.numa.nic_locality", "required, preferred, ignore")
    assert_error(errors, "hft_profile.kernel.thp", "never, madvise, always")
    assert_error(errors, "hft_profile.dpdk.driver", "vfio-pci, uio_pci_generic")


def test_yaml_booleans_in_enum_fields_get_a_hint(lab):
    errors = errors_of({"cpu": {"smt": False}}, lab)
    assert_error(errors, "hft_profile.cpu.smt", "got boolean false", "quote the value")


def test_cpulist_syntax(lab):
    errors = errors_of({"cpu": {"isolated": "2-", "reserved": "0-1;4-5"}}, lab)
    assert_error(errors, "hft_profile.cpu.isolated", "invalid cpulist '2-'")
    assert_error(errors, "hft_profile.cpu.reserved", "'0-1;4-5' is not a CPU number")


def test_hugepage_entries_shape(lab):
    errors = errors_of(
        {
            "hugepages": {
                "default_size": "3X",
                "pages": [
                    {"size": "1G", "count": 1},
                    {"size": "2M", "count": -4, "node": 0},
                    {"size": 2048, "count": 1, "node": "nic-node"},
                    {"size": "2M", "count": 8, "node": 0},
                ],
            }
        },
        lab,
    )
    assert_error(errors, "hft_profile.hugepages.default_size", "'3X' is not a size such as 2M or 1G")
    assert_error(errors, "hft_profile.hugepages.pages[0].node", "is required")
    assert_error(errors, "hft_profile.hugepages.pages[1].count", "must be >= 0, got -4")
    assert_error(errors, "hft_profile.hugepages.pages[2].size", "must be a size string", "got int 2048")
    assert_error(errors, "hft_profile.hugepages.pages[2].node", 'must be a NUMA node id, "nic" or "all"')


def test_duplicate_hugepage_entries(lab):
    errors = errors_of({"hugepages": {"pages": [
        {"size": "2M", "count": 8, "node": 0},
        {"size": "2048kB", "count": 16, "node": 0},
    ]}}, lab)
    assert_error(errors, "hft_profile.hugepages.pages[1]", "duplicates hft_profile.hugepages.pages[0]",
                 "size 2M, node 0")


def test_dpdk_selector_shape(lab):
    errors = errors_of({"dpdk": {"devices": [
        {"pci": "0000:81:00.0", "interface": "enp129s0"},
        {},
        {"pci": "81:00"},
        {"id": "8086-10d3"},
        {"interface": "enp129s0", "index": 1},
        {"pci": "0000:81:00.0", "driver": "igb_uio"},
    ]}}, lab)
    assert_error(errors, "hft_profile.dpdk.devices[0]", "exactly one of pci, interface or id (got pci, interface)")
    assert_error(errors, "hft_profile.dpdk.devices[1]", "(got none)")
    assert_error(errors, "hft_profile.dpdk.devices[2].pci", "must be a PCI address such as 0000:81:00.0")
    assert_error(errors, "hft_profile.dpdk.devices[3].id", '"vendor:device" PCI id')
    assert_error(errors, "hft_profile.dpdk.devices[4].index", "is only used with id")
    assert_error(errors, "hft_profile.dpdk.devices[5].driver", "vfio-pci, uio_pci_generic, kernel")


@pytest.mark.parametrize(
    "arg, key",
    [
        ("isolcpus=3", "isolcpus"),
        ("nohz_full=2-3", "nohz_full"),
        ("intel-iommu=on", "intel_iommu"),  # the kernel treats - and _ alike
        ("hugepages=4", "hugepages"),
        ("nosmt", "nosmt"),
        ("intel_idle.max_cstate=0", "intel_idle.max_cstate"),
    ],
)
def test_extra_args_cannot_set_owned_keys(lab, arg, key):
    errors = errors_of({"kernel": {"extra_args": ["mitigations=off", arg]}}, lab)
    assert_error(errors, "hft_profile.kernel.extra_args[1]", "sets %s, which the collection owns" % key,
                 "use hft_profile.")
    assert len(errors) == 1


def test_extra_args_must_be_single_arguments(lab):
    errors = errors_of({"kernel": {"extra_args": ["quiet splash", "", "audit=0", "audit=0"]}}, lab)
    assert_error(errors, "hft_profile.kernel.extra_args[0]", "give one argument per list item")
    assert_error(errors, "hft_profile.kernel.extra_args[1]", "must be a non-empty string")
    assert_error(errors, "hft_profile.kernel.extra_args[3]", "'audit=0' is listed twice")


def test_sysctl_and_kubelet_values(lab):
    errors = errors_of({
        "sysctl": {"net.core.busy_poll": True, "bad key": 1},
        "kubelet": {"system_reserved_memory": "lots", "cpu_manager_policy_options": {"full-pcpu-only": True},
                    "cpu_manager_policy": "Static"},
    }, lab)
    assert_error(errors, "hft_profile.sysctl.net.core.busy_poll", "must be a string or a number, got boolean")
    assert_error(errors, "hft_profile.sysctl.bad key", "is not a sysctl name")
    assert_error(errors, "hft_profile.kubelet.system_reserved_memory", "'lots' is not a memory quantity")
    assert_error(errors, "hft_profile.kubelet.cpu_manager_policy", "static")
    assert_error(errors, "hft_profile.kubelet.cpu_manager_policy_options.full-pcpu-only",
                 "unknown key", "did you mean 'full-pcpus-only'?")


# ---------------------------------------------------------------- CPU sets
def test_cpuset_slices(lab):
    errors = errors_of({"cpu": {"isolated": "2-3,6-7"}, "housekeeping": {
        "cpuset_slices": ["system.slice", "kubepods.slice", "-.slice", "../etc.slice", "ssh.service", 3]}}, lab)
    assert_error(errors, "hft_profile.housekeeping.cpuset_slices[1]", "the kubelet's pods")
    assert_error(errors, "hft_profile.housekeeping.cpuset_slices[2]", "the root slice")
    assert_error(errors, "hft_profile.housekeeping.cpuset_slices[3]", "must be a systemd slice name")
    assert_error(errors, "hft_profile.housekeeping.cpuset_slices[4]", "must be a systemd slice name")
    assert_error(errors, "hft_profile.housekeeping.cpuset_slices[5]", "must be a systemd slice name", "got int 3")
    assert not [f for f, _unused in errors if f.endswith("cpuset_slices[0]")]
    errors = errors_of({"cpu": {"isolated": "2-3,6-7"}, "housekeeping": {"cpuset_slices": "system.slice"}}, lab)
    assert_error(errors, "hft_profile.housekeeping.cpuset_slices", "must be a list")


def test_cpuset_slices_in_the_plan(lab):
    base = {"cpu": {"isolated": "2-3,6-7"}}
    assert plan(base, lab)["cpuset_slices"] == ["system.slice", "user.slice"]
    custom = dict(base, housekeeping={"cpuset_slices": ["system.slice", "system.slice", "machine.slice"]})
    assert plan(custom, lab)["cpuset_slices"] == ["system.slice", "machine.slice"]
    assert plan(dict(base, housekeeping={"cpuset_slices": None}), lab)["cpuset_slices"] == []


def test_cpus_that_do_not_exist(lab):
    errors = errors_of({"cpu": {"isolated": "2-3,6-7,96-99"}}, lab)
    assert_error(errors, "hft_profile.cpu.isolated", "CPUs 96-99 do not exist on this node (online: 0-7)")


def test_offline_cpus(shape_topology):
    t = shape_topology("offline2s")
    errors = errors_of({"cpu": {"reserved": "0,8,16,24", "isolated": "1-7,9-15,17-23,25-31"}}, t)
    assert_error(errors, "hft_profile.cpu.isolated", "CPUs 20-23 are offline (online: 0-19,24-31)")


def test_possible_but_absent_cpus_do_not_exist(shape_topology):
    t = shape_topology("offline2s")
    errors = errors_of({"cpu": {"isolated": "40-41"}}, t)
    assert_error(errors, "hft_profile.cpu.isolated", "CPUs 40-41 do not exist on this node")


def test_half_cores_name_the_missing_siblings(shape_topology):
    t = shape_topology("xeon2s")
    errors = errors_of({"cpu": {"reserved": "0,32", "isolated": "1-31,33-62"}}, t)
    # cpu 31's sibling is 63 with interleaved numbering
    assert_error(errors, "hft_profile.cpu.isolated", "holds half cores: 31 without 63",
                 "whole cores (all SMT siblings)")


def test_half_core_in_reserved(lab):
    errors = errors_of({"cpu": {"reserved": "0-1,4", "isolated": "2-3,5-7"}}, lab)
    assert_error(errors, "hft_profile.cpu.reserved", "holds half cores: 4 without 5")
    assert_error(errors, "hft_profile.cpu.isolated", "holds half cores: 5 without 4")


def test_smt_disabled_rejects_second_threads(shape_topology):
    t = shape_topology("xeon2s")
    errors = errors_of({"cpu": {"smt": "disabled", "isolated": "2-31,34-35"}}, t)
    assert_error(errors, "hft_profile.cpu.isolated", "CPUs 34-35 are SMT siblings that cpu.smt: disabled takes "
                 "offline (nosmt)", "(0-31)")


def test_overlap_of_reserved_and_isolated(lab):
    errors = errors_of({"cpu": {"reserved": "0-3", "isolated": "2-7"}}, lab)
    assert_error(errors, "hft_profile.cpu.isolated", "CPUs 2-3 are in both cpu.reserved and cpu.isolated")


def test_cpus_in_neither_set(lab):
    errors = errors_of({"cpu": {"reserved": "0-1", "isolated": "2-3,6-7"}}, lab)
    assert_error(errors, "hft_profile.cpu", "CPUs 4-5 are neither reserved nor isolated")


def test_no_housekeeping_cpu_left(shape_topology):
    t = shape_topology("single8")
    # only the field that was given is blamed, and CPU 0 (isolated too) is not reported again
    assert errors_of({"cpu": {"isolated": "0-7"}}, t) == [(
        "hft_profile.cpu.isolated",
        "leaves no housekeeping CPU: the OS, kubelet and IRQs need at least one reserved CPU (isolated: 0-7, "
        "online: 0-7)")]


def test_no_cpu_left_to_isolate(shape_topology):
    t = shape_topology("single8")
    assert errors_of({"cpu": {"reserved": "0-7"}}, t) == [
        ("hft_profile.cpu.reserved", "leaves no CPU to isolate (reserved: 0-7, online: 0-7)")]


def test_boot_cpu_cannot_be_isolated(lab):
    errors = errors_of({"cpu": {"reserved": "2-3,4-5"}}, lab)
    assert errors == [("hft_profile.cpu.reserved", "leaves CPU 0 isolated, but CPU 0 is the boot CPU: the kernel keeps "
                       "timekeeping on it and drops it from nohz_full, so it cannot be isolated; reserve it")]
    errors = errors_of({"cpu": {"reserved": "2-3", "isolated": "0-1,4-7"}}, lab)
    assert_error(errors, "hft_profile.cpu.isolated", "CPU 0 is the boot CPU", "drops it from nohz_full")


def test_reserved_cores_more_than_a_node_has(lab):
    # one error for the field, and none about the isolated set or CPU 0 that would follow from it
    assert errors_of({"cpu": {"reserved_cores": 3}}, lab) == [
        ("hft_profile.cpu.reserved_cores", "3 cores per node asked, but node 0 has only 2 online cores, node 1 only 2")]


def test_reserved_cores_more_than_the_machine_has(lab):
    errors = errors_of({"cpu": {"reserved_cores": 5, "reserved_numa": "first"}}, lab)
    assert_error(errors, "hft_profile.cpu.reserved_cores", "5 cores asked, but this node has only 4 online cores")


def test_reserved_cores_taking_every_core(lab):
    errors = errors_of({"cpu": {"reserved_cores": 2}}, lab)
    assert_error(errors, "hft_profile.cpu.isolated", "no CPU left to isolate")


def test_reserved_numa_nodes_must_exist_and_include_the_boot_node(shape_topology):
    t = shape_topology("epyc_nps4")
    errors = errors_of({"cpu": {"reserved_numa": [1, 7]}}, t)
    assert_error(errors, "hft_profile.cpu.reserved_numa", "NUMA node 7 does not exist (nodes: 0-3)")
    assert_error(errors, "hft_profile.cpu.reserved_numa", "must include node 0, the node of boot CPU 0")


def test_reserved_numa_node_without_cpus(custom_shape):
    shape = sysfs_builder.lab_vm()
    # a memory-only node 2 (CXL or HBM style): memory, no CPUs
    shape = dataclasses.replace(
        shape,
        node_mem_kb={**shape.node_mem_kb, 2: 8 * 1024 * 1024},
        node_distances={0: [10, 20, 30], 1: [20, 10, 30], 2: [30, 30, 10]},
    )
    t = custom_shape(shape)
    errors = errors_of({"cpu": {"reserved_numa": [0, 2]}}, t)
    assert_error(errors, "hft_profile.cpu.reserved_numa", "NUMA node 2 has no online CPUs")


def test_nic_locality_required(lab):
    errors = errors_of({"cpu": {"reserved": "0-1,4-7", "isolated": "2-3"}, "dpdk": LAB_DPDK}, lab)
    assert_error(errors, "hft_profile.cpu.isolated",
                 "no isolated CPU on NUMA node 1, where DPDK device 0000:81:00.0 sits (isolated: 2-3)",
                 "numa.nic_locality is required")


def test_nic_locality_preferred_only_warns(lab):
    result = plan({"cpu": {"reserved": "0-1,4-7", "isolated": "2-3"}, "dpdk": LAB_DPDK,
                   "numa": {"nic_locality": "preferred"}}, lab)
    assert any("no isolated CPU on NUMA node 1" in w for w in result["warnings"])


def test_nic_with_unknown_numa_node_and_required_locality(shape_topology):
    t = shape_topology("offline2s")
    errors = errors_of({"dpdk": {"devices": [{"interface": "ens1f0"}], "driver": "uio_pci_generic"}}, t)
    assert_error(errors, "hft_profile.dpdk.devices[0]", "the NUMA node of 0000:3b:00.0 is unknown",
                 "numa_node reads -1", "set numa.nic_locality to preferred or ignore")


# --------------------------------------------------------------- hugepages
def test_hugepages_that_do_not_fit_say_the_numbers(lab):
    errors = errors_of({"hugepages": {"pages": [
        {"size": "1G", "count": 2, "node": 1},
        {"size": "2M", "count": 256, "node": 1},
    ]}}, lab)
    # node 1 has 3076572 kB = 3004 MiB; 1 GiB stays for the kernel -> 1980 MiB fit
    assert_error(
        errors,
        "hft_profile.hugepages.pages",
        "node 1 would get 2 x 1G (pages[0]) + 256 x 2M (pages[1]) = 2560 MiB of hugepages",
        "it has 3004 MiB of memory and 1024 MiB must stay free for the kernel",
        "at most 1980 MiB fit",
    )


def test_hugepage_margin_is_ten_percent_on_big_nodes(shape_topology):
    t = shape_topology("xeon2s")
    # node 1: 192 GiB - 256 MiB = 196352 MiB; 10 % = 19635 MiB > 1 GiB
    errors = errors_of({"hugepages": {"pages": [{"size": "1G", "count": 180, "node": 1}]}}, t)
    assert_error(errors, "hft_profile.hugepages.pages", "node 1 would get 180 x 1G (pages[0]) = 184320 MiB",
                 "19635 MiB must stay free", "at most 176716 MiB fit")
    plan({"hugepages": {"pages": [{"size": "1G", "count": 172, "node": 1}]}}, t)


def test_all_nodes_hugepages_are_checked_on_each_node(lab):
    errors = errors_of({"hugepages": {"pages": [{"size": "2M", "count": 1000, "node": "all"}]}}, lab)
    fields = [r for f, r in errors if f == "hft_profile.hugepages.pages"]
    assert len(fields) == 2 and "node 0" in fields[0] and "node 1" in fields[1]


def test_hugepage_size_not_supported_by_the_machine(custom_shape):
    shape = dataclasses.replace(sysfs_builder.single_socket_8core(), hugepage_sizes_kb=[2048])
    t = custom_shape(shape)
    errors = errors_of({"hugepages": {"pages": [{"size": "1G", "count": 1, "node": 0}]}}, t)
    assert_error(errors, "hft_profile.hugepages.default_size", "1G pages are not supported by this machine "
                 "(supported: 2M)")
    assert_error(errors, "hft_profile.hugepages.pages[0].size", "1G pages are not supported")


def test_hugepages_on_a_node_that_does_not_exist(lab):
    errors = errors_of({"hugepages": {"pages": [{"size": "2M", "count": 8, "node": 2}]}}, lab)
    assert_error(errors, "hft_profile.hugepages.pages[0].node", "NUMA node 2 does not exist (nodes: 0-1)")


def test_hugepages_on_the_nic_node_need_a_nic(lab):
    errors = errors_of({"hugepages": {"pages": [{"size": "1G", "count": 1, "node": "nic"}]}}, lab)
    assert_error(errors, "hft_profile.hugepages.pages[0].node", "node: nic needs at least one dpdk.devices entry")


def test_hugepages_asked_twice_for_one_node(lab):
    errors = errors_of({"dpdk": LAB_DPDK, "hugepages": {"pages": [
        {"size": "1G", "count": 1, "node": "nic"},
        {"size": "1G", "count": 1, "node": 1},
    ]}}, lab)
    assert_error(errors, "hft_profile.hugepages.pages[1]", "asks for 1G pages on node 1, which "
                 "hft_profile.hugepages.pages[0] already does")


# -------------------------------------------------------------------- DPDK
def test_unknown_pci_address(lab):
    errors = errors_of({"dpdk": {"devices": [{"pci": "0000:82:00.0"}]}}, lab)
    assert_error(errors, "hft_profile.dpdk.devices[0].pci", "no network device at 0000:82:00.0",
                 "0000:81:00.0 (8086:10d3, enp129s0)")


def test_unknown_interface(lab):
    errors = errors_of({"dpdk": {"devices": [{"interface": "ens5f1"}]}}, lab)
    assert_error(errors, "hft_profile.dpdk.devices[0].interface", "no network interface named ens5f1",
                 "(interfaces: enp0s2, enp129s0)", "select it by pci")


def test_unknown_vendor_device_id(lab):
    errors = errors_of({"dpdk": {"devices": [{"id": "8086:10fb"}]}}, lab)
    assert_error(errors, "hft_profile.dpdk.devices[0].id", "no network device with id 8086:10fb",
                 "ids present: 1af4:1041, 8086:10d3")


def test_vendor_device_index_out_of_range(shape_topology):
    t = shape_topology("xeon2s")
    errors = errors_of({"dpdk": {"devices": [{"id": "8086:1572", "index": 2}]}}, t)
    assert_error(errors, "hft_profile.dpdk.devices[0].index", "8086:1572 matches 2 devices "
                 "(0000:af:00.0, 0000:af:00.1); index 2 is out of range")


def test_same_device_selected_twice(lab):
    errors = errors_of({"dpdk": {"devices": [{"pci": "0000:81:00.0"}, {"interface": "enp129s0"}]}}, lab)
    assert_error(errors, "hft_profile.dpdk.devices[1]", "selects 0000:81:00.0 again (already selected by "
                 "hft_profile.dpdk.devices[0])")


def test_management_nic_carrying_the_default_route(lab):
    errors = errors_of({"dpdk": {"devices": [{"id": "1af4:1041"}]}}, lab)
    assert_error(errors, "hft_profile.dpdk.devices[0]", "0000:00:02.0 (enp0s2) carries the default route",
                 "would cut this node off the network")


def test_bond_member_carrying_the_default_route(shape_topology):
    t = shape_topology("epyc_nps4")
    errors = errors_of({"dpdk": {"devices": [{"interface": "eno2"}]}}, t)
    assert_error(errors, "hft_profile.dpdk.devices[0]", "0000:01:00.1 (eno2) carries the default route")


def test_vfio_without_iommu(shape_topology):
    t = shape_topology("offline2s")
    errors = errors_of({"numa": {"nic_locality": "ignore"}, "dpdk": {"devices": [{"pci": "0000:3b:00.0"}]}}, t)
    assert_error(errors, "hft_profile.dpdk.driver", "vfio-pci needs an IOMMU and this node has none",
                 "dpdk.allow_noiommu: true")


def test_vfio_with_iommu_switched_off(lab):
    # the lab's IOMMU is on only through intel_iommu=on, which "off" would drop
    errors = errors_of({"kernel": {"iommu": "off"}, "dpdk": LAB_DPDK}, lab)
    assert_error(errors, "hft_profile.dpdk.driver", "vfio-pci needs an IOMMU and kernel.iommu is off",
                 "only through intel_iommu=on")


def test_iommu_on_by_kernel_default_survives_iommu_off(shape_topology):
    # AMD-Vi is on without any argument: kernel.iommu off adds none and vfio still works
    t = shape_topology("epyc_nps4")
    result = plan({"kernel": {"iommu": "off"}, "dpdk": {"devices": [{"pci": "0000:c1:00.0"}]}}, t)
    assert "iommu=pt" not in result["kernel_args"]
    assert result["dpdk"]["noiommu"] is False


def test_vfio_with_iommu_off_on_a_node_without_groups(shape_topology):
    t = shape_topology("xeon2s")
    errors = errors_of({"kernel": {"iommu": "off"}, "dpdk": {"devices": [{"pci": "0000:af:00.0"}]}}, t)
    assert_error(errors, "hft_profile.dpdk.driver", "vfio-pci needs an IOMMU and kernel.iommu is off")


# ------------------------------------------------------------------- misc
def test_guided_pstate_on_intel(lab):
    errors = errors_of({"power": {"pstate": "guided"}}, lab)
    assert_error(errors, "hft_profile.power.pstate", "guided is an amd_pstate mode")


def test_latency_gate_cpus_must_be_isolated(lab):
    errors = errors_of({"latency_gate": {"cpus": "1-3"}}, lab)
    assert_error(errors, "hft_profile.latency_gate.cpus", "CPUs 1 are not isolated (isolated: 2-3,6-7)")


def test_static_memory_manager_needs_reserved_memory(lab):
    errors = errors_of({"kubelet": {"system_reserved_memory": 0, "kube_reserved_memory": "0Mi",
                                    "eviction_hard_memory": "0"}}, lab)
    assert_error(errors, "hft_profile.kubelet.memory_manager_policy", "Static needs some reserved memory")


def test_all_problems_are_reported_at_once(lab):
    with pytest.raises(ProfileError) as exc:
        plan(
            {
                "cpu": {"isolated": "2-3,6-7,96-99", "smt": "on"},
                "hugepages": {"pages": [{"size": "1G", "count": 1, "node": 5}]},
                "dpdk": {"devices": [{"pci": "0000:82:00.0"}], "driver": "igb_uio"},
                "kernel": {"extra_args": ["isolcpus=1"]},
                "typo": 1,
            },
            lab,
        )
    err = exc.value
    fields = [f for f, _unused in err.errors]
    assert "hft_profile.typo" in fields
    assert "hft_profile.cpu.smt" in fields
    assert "hft_profile.dpdk.driver" in fields
    assert "hft_profile.kernel.extra_args[0]" in fields
    assert str(err).startswith("hft_profile is invalid (%d problems):\n- " % len(err.errors))
    assert err.as_list()[0] == {"field": err.errors[0][0], "reason": err.errors[0][1]}


def test_shape_and_machine_problems_are_reported_together(lab):
    errors = errors_of({
        "kernel": {"extra_args": ["nosmt"]},
        "power": {"governor": "fast"},
        "cpu": {"isolated": "2-3,6-7,96-99"},
        "hugepages": {"pages": [{"size": "1G", "count": 1, "node": 5}]},
    }, lab)
    assert [f for f, _unused in errors] == [
        "hft_profile.power.governor",
        "hft_profile.kernel.extra_args[0]",
        "hft_profile.cpu.isolated",
        "hft_profile.hugepages.pages[0].node",
    ]


def test_machine_checks_of_a_broken_section_are_not_reported(lab):
    # cpu.smt is wrong, so the CPU rules ran on defaults: their findings would mislead
    errors = errors_of({"cpu": {"smt": "on", "isolated": "96-99"},
                        "dpdk": {"devices": [{"pci": "0000:82:00.0"}]}}, lab)
    assert [f for f, _unused in errors] == ["hft_profile.cpu.smt", "hft_profile.dpdk.devices[0].pci"]


def test_topology_rules_report_together(lab):
    errors = errors_of({
        "cpu": {"isolated": "2-3,6-7,96-99"},
        "hugepages": {"pages": [{"size": "1G", "count": 1, "node": 5}]},
        "dpdk": {"devices": [{"pci": "0000:82:00.0"}]},
    }, lab)
    assert {f for f, _unused in errors} == {
        "hft_profile.cpu.isolated",
        "hft_profile.hugepages.pages[0].node",
        "hft_profile.dpdk.devices[0].pci",
    }


@pytest.mark.parametrize("field, value, reason", [
    ("irqbalance", "off", "must be one of banned, disabled"),
    ("irq_policy", "all", "must be one of intersect, replace"),
    ("rps_include", "eth0", "must be a list of interface name patterns"),
    ("rps_exclude", ["eth 0"], "must be an interface name or fnmatch pattern"),
    ("rps_include", ["../x"], "must be an interface name or fnmatch pattern"),
])
def test_housekeeping_choices_are_checked(lab, field, value, reason):
    with pytest.raises(ProfileError) as err:
        plan({"housekeeping": {field: value}}, lab)
    assert len(err.value.errors) == 1
    path, text = err.value.errors[0]
    assert path.startswith("hft_profile.housekeeping." + field)
    assert reason in text


def test_release_unplanned_is_a_boolean(lab):
    with pytest.raises(ProfileError) as err:
        plan({"hugepages": {"release_unplanned": "yes"}}, lab)
    assert err.value.errors == [("hft_profile.hugepages.release_unplanned", "must be true or false, got str 'yes'")]


# ------------------------------------------------------------- real-time kernel
def test_realtime_must_be_a_boolean(lab):
    errors = errors_of({"kernel": {"realtime": "PREEMPT_RT"}}, lab)
    assert errors == [("hft_profile.kernel.realtime", "must be true or false, got str 'PREEMPT_RT'")]


@pytest.mark.parametrize("realtime,flavour", [(True, "realtime"), (False, "generic"), (None, "generic")])
def test_the_plan_carries_the_kind_of_kernel(lab, realtime, flavour):
    profile = {} if realtime is None else {"kernel": {"realtime": realtime}}
    result = plan(profile, lab)
    assert result["kernel"] == {"realtime": flavour == "realtime", "flavour": flavour}
    # The kind of kernel is no kernel argument.
    assert result["kernel_args"] == plan({}, lab)["kernel_args"]
