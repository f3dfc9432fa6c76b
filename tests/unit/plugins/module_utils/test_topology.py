# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""read_topology on fixture trees of real machine shapes, and the capture script."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

import sysfs_builder
SHAPE_NAMES = sorted(sysfs_builder.SHAPES)

from ansible_collections.bot4.hft.plugins.module_utils.topology import (
    Topology,
    TopologyError,
    lower_devices,
    read_topology,
)

CAPTURE = Path(__file__).resolve().parents[2] / "fixtures" / "capture_sysfs.py"


def by_id(topo):
    return {c.id: c for c in topo.cpus}


def nic(topo, address):
    found = topo.nic_by_address(address)
    assert found is not None, [n.address for n in topo.nics]
    return found


# ------------------------------------------------------------------ shapes
def test_single_socket_without_smt(shape_topology):
    t = shape_topology("single8")
    assert t.cpus_online == list(range(8))
    assert t.smt_active is False
    assert t.cores() == [[c] for c in range(8)]
    assert [n.id for n in t.nodes] == [0]
    assert t.nodes[0].cpus == list(range(8))
    assert t.nodes[0].mem_total_kb == 32 * 1024 * 1024 - 420_000
    assert t.cpu_vendor == "GenuineIntel"
    assert t.kernel_release == "6.8.0-45-generic"
    # single-node machines report -1 for PCI devices: unknown, not node -1
    assert nic(t, "0000:01:00.0").numa_node is None
    assert [n.address for n in t.nics] == ["0000:00:1f.6", "0000:01:00.0", "0000:01:00.1"]
    assert t.default_route_interfaces == ["eno1"]
    assert t.iommu_active and t.iommu_firmware == "DMAR"


def test_xeon_interleaved_numbering(shape_topology):
    t = shape_topology("xeon2s")
    cpus = by_id(t)
    assert len(t.cpus_online) == 64
    # cpu N on socket N % 2, sibling N + 32
    assert cpus[5].package == 1 and cpus[5].node == 1
    assert cpus[5].siblings == [5, 37]
    assert cpus[37].siblings == [5, 37]
    assert cpus[6].package == 0 and cpus[6].siblings == [6, 38]
    assert t.node(0).cpus == list(range(0, 64, 2))
    assert t.node(1).cpus == list(range(1, 64, 2))
    assert t.cores()[:3] == [[0, 32], [1, 33], [2, 34]]
    assert len(t.cores()) == 32
    assert t.distance(0, 1) == 21 and t.distance(1, 1) == 10
    x710 = nic(t, "0000:af:00.0")
    assert (x710.vendor, x710.device, x710.driver, x710.numa_node) == ("8086", "1572", "i40e", 1)
    assert [d.name for d in x710.netdevs] == ["ens5f0"]
    assert x710.netdevs[0].mac == "3c:fd:fe:00:00:a0"
    # VT-d is in the firmware, but the kernel runs without it
    assert not t.iommu_active and t.iommu_firmware == "DMAR"
    assert x710.iommu_group is None
    # sparse core ids are kept as the kernel reports them
    assert cpus[10].core == 8


def test_epyc_nps4(shape_topology):
    t = shape_topology("epyc_nps4")
    assert [n.id for n in t.nodes] == [0, 1, 2, 3]
    assert t.node(2).cpus == list(range(16, 24)) + list(range(48, 56))
    assert by_id(t)[17].siblings == [17, 49]
    assert t.distance(2, 3) == 11 and t.distance(0, 2) == 12
    cx6 = nic(t, "0000:81:00.0")
    assert (cx6.vendor_device, cx6.driver, cx6.numa_node, cx6.iommu_group) == ("15b3:101d", "mlx5_core", 2, 40)
    assert [d.name for d in cx6.netdevs] == ["enp129s0f0np0"]
    assert t.iommu_firmware == "IVRS" and t.iommu_active
    assert t.iommu_groups[20] == ["0000:01:00.0", "0000:01:00.1"]
    # the default route goes through bond0; its members are the devices below it
    assert t.default_route_interfaces == ["bond0"]
    assert t.default_route_devices == ["eno1", "eno2"]
    assert t.cpu_vendor == "AuthenticAMD"


def test_lower_devices_walks_vlans_bonds_and_bridges_once():
    # vlan10 on bond0 over eno1 and eno2; br0 holds bond0 as well (seen once)
    entries = {
        "/sys/class/net/vlan10": ["lower_bond0", "mtu"],
        "/sys/class/net/br0": ["lower_bond0"],
        "/sys/class/net/bond0": ["lower_eno1", "lower_eno2", "upper_vlan10"],
        "/sys/class/net/eno1": ["upper_bond0"],
    }
    tree = lower_devices(lambda path: entries.get(path, []), ["vlan10", "br0"])
    assert tree == {"vlan10": ["bond0"], "br0": ["bond0"], "bond0": ["eno1", "eno2"], "eno1": [], "eno2": []}
    assert lower_devices(lambda path: [], []) == {}


def test_offline_cpus_without_topology(shape_topology):
    t = shape_topology("offline2s")
    cpus = by_id(t)
    assert t.cpus_online == list(range(20)) + list(range(24, 32))
    assert t.cpus_present == list(range(32))
    assert t.cpus_possible == list(range(48))
    # offline is possible minus online, as the kernel prints it
    assert t.cpus_offline == list(range(20, 24)) + list(range(32, 48))
    off = cpus[21]
    assert off.online is False
    assert off.siblings == [] and off.core is None and off.package is None
    # the node of an offline CPU still comes from its cpuN/nodeM link
    assert off.node == 0
    # online siblings no longer list the offline thread
    assert cpus[5].siblings == [5]
    assert cpus[1].siblings == [1, 17]
    assert [1, 17] in t.cores() and [5] in t.cores()
    assert 21 not in t.node(0).cpus
    assert nic(t, "0000:3b:00.0").numa_node is None
    assert not t.iommu_active and t.iommu_firmware is None


def test_lab_vm(shape_topology):
    t = shape_topology("lab")
    assert t.cores() == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert t.node(0).cpus == [0, 1, 2, 3] and t.node(1).cpus == [4, 5, 6, 7]
    assert t.hugepage_sizes_kb == [2048, 1048576]
    assert [h.size_kb for h in t.node(1).hugepages] == [2048, 1048576]
    e1000e = nic(t, "0000:81:00.0")
    assert (e1000e.vendor_device, e1000e.driver, e1000e.numa_node, e1000e.iommu_group) == (
        "8086:10d3", "e1000e", 1, 9)
    virtio = nic(t, "0000:00:02.0")
    # virtio-net keeps its netdev below virtioN/
    assert [d.name for d in virtio.netdevs] == ["enp0s2"]
    assert virtio.numa_node is None and virtio.driver == "virtio-pci"
    assert t.default_route_interfaces == ["enp0s2"]
    assert t.iommu_groups[8] == ["0000:80:00.0"]
    assert "intel_iommu=on" in t.cmdline


def test_non_network_pci_devices_are_ignored(shape_topology):
    t = shape_topology("lab")
    assert "0000:00:03.0" not in [n.address for n in t.nics]  # virtio-blk
    assert "0000:00:00.0" not in [n.address for n in t.nics]  # host bridge


def test_ipv6_default_route_and_reject_routes(shape_topology):
    t = shape_topology("epyc_nps4")
    assert "lo" not in t.default_route_interfaces  # the unreachable ::/0 on lo is a reject route


def test_machine_without_numa_sysfs(custom_shape):
    shape = dataclasses.replace(sysfs_builder.single_socket_8core(), numa_sysfs=False)
    t = custom_shape(shape)
    assert t.numa_sysfs is False
    assert len(t.nodes) == 1 and t.nodes[0].id == 0
    assert t.nodes[0].cpus == list(range(8))
    assert t.nodes[0].mem_total_kb == sum(shape.node_mem_kb.values())
    assert [h.size_kb for h in t.nodes[0].hugepages] == [2048, 1048576]
    assert all(c.node == 0 for c in t.cpus)


@pytest.mark.parametrize("name, smt_file, expected, source", [
    ("xeon2s", True, True, "smt/active"),
    ("single8", False, False, "smt/active"),
    # No smt/active (older kernels, some virtual machines): thread_siblings_list says it.
    ("xeon2s", None, True, "thread_siblings"),
    ("lab", None, True, "thread_siblings"),
    ("single8", None, False, "thread_siblings"),
])
def test_smt_active_and_where_it_comes_from(custom_shape, name, smt_file, expected, source):
    shape = dataclasses.replace(sysfs_builder.SHAPES[name](), smt_active=smt_file)
    t = custom_shape(shape)
    assert (t.smt_active, t.smt_active_source) == (expected, source)
    saved = t.to_dict()["cpus"]
    assert (saved["smt_active"], saved["smt_active_source"]) == (expected, source)
    again = Topology.from_dict(t.to_dict())
    assert (again.smt_active, again.smt_active_source) == (expected, source)


def test_smt_active_with_siblings_offline_is_false_from_the_siblings(custom_shape):
    # nosmt: every second thread offline, so each online CPU lists itself only
    shape = sysfs_builder.SHAPES["xeon2s"]()
    first = {}
    for cpu in shape.cpus:
        first.setdefault((cpu.package, cpu.die, cpu.core_id), cpu.id)
    shape = dataclasses.replace(shape, smt_active=None, online=sorted(first.values()))
    t = custom_shape(shape)
    assert (t.smt_active, t.smt_active_source) == (False, "thread_siblings")


def test_smt_active_unknown_without_either_source(shape_root, tmp_path):
    root = tmp_path / "bare"
    shutil.copytree(shape_root("lab"), root, symlinks=True)
    shutil.rmtree(str(root / "sys/devices/system/cpu/smt"))
    for topo in root.glob("sys/devices/system/cpu/cpu*/topology"):
        (topo / "thread_siblings_list").unlink()
    t = read_topology(str(root))
    assert (t.smt_active, t.smt_active_source) == (None, None)


def test_boot_time_hugepages_are_read_per_node(custom_shape):
    shape = dataclasses.replace(
        sysfs_builder.lab_vm(), node_hugepages={(1, 1048576): 1, (0, 2048): 128}
    )
    t = custom_shape(shape)
    one_g = {h.size_kb: h for h in t.node(1).hugepages}[1048576]
    assert (one_g.nr, one_g.free, one_g.surplus) == (1, 1, 0)
    assert {h.size_kb: h.nr for h in t.node(0).hugepages} == {2048: 128, 1048576: 0}


def test_wrong_root_is_a_clear_error(tmp_path):
    with pytest.raises(TopologyError, match="is not readable"):
        read_topology(str(tmp_path))


def test_garbage_files_do_not_crash(shape_root, tmp_path):
    root = tmp_path / "broken"
    shutil.copytree(shape_root("lab"), root, symlinks=True)
    (root / "sys/devices/system/cpu/cpu3/topology/thread_siblings_list").write_text("garbage\n")
    (root / "sys/devices/system/node/node1/meminfo").write_text("nonsense\n")
    t = read_topology(str(root))
    assert by_id(t)[3].siblings == []
    assert t.node(1).mem_total_kb is None
    # cpu2 still names cpu3 as its sibling, so the core stays whole
    assert [2, 3] in t.cores()


# --------------------------------------------------------- serialisation
@pytest.mark.parametrize("name", SHAPE_NAMES)
def test_to_dict_is_json_and_round_trips(shape_topology, name):
    t = shape_topology(name)
    data = t.to_dict()
    text = json.dumps(data, sort_keys=True)
    again = Topology.from_dict(json.loads(text))
    assert again == t
    assert again.to_dict() == data
    assert data["cpus"]["online"] == sysfs_builder.cpulist(t.cpus_online)


def test_from_dict_rejects_other_formats(shape_topology):
    data = shape_topology("lab").to_dict()
    data["format"] = 99
    with pytest.raises(TopologyError, match="format 99"):
        Topology.from_dict(data)
    with pytest.raises(TopologyError, match="malformed"):
        Topology.from_dict({"format": 1, "cpus": {}})


# ----------------------------------------------------------------- capture
@pytest.mark.parametrize("name", SHAPE_NAMES)
def test_capture_script_round_trips_each_shape(shape_root, tmp_path, name):
    tarball = tmp_path / "capture.tar.gz"
    subprocess.run(
        [sys.executable, str(CAPTURE), "--root", shape_root(name), "-o", str(tarball)],
        check=True,
        capture_output=True,
    )
    out = tmp_path / "tree"
    out.mkdir()
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            assert not member.name.startswith("/") and ".." not in member.name.split("/")
        sysfs_builder.extract_tree(tar, out)
    assert read_topology(str(out)).to_dict() == read_topology(shape_root(name)).to_dict()
    # only what the reader needs: no cpumap, no core_siblings_list, no mtu
    names = set(tarfile.open(tarball).getnames())
    assert not any(n.endswith(("/cpumap", "/core_siblings_list", "/mtu")) for n in names)


def test_capture_anonymize_replaces_macs(shape_root, tmp_path):
    tarball = tmp_path / "anon.tar.gz"
    subprocess.run(
        [sys.executable, str(CAPTURE), "--root", shape_root("xeon2s"), "-o", str(tarball), "--anonymize"],
        check=True,
        capture_output=True,
    )
    out = tmp_path / "tree"
    out.mkdir()
    with tarfile.open(tarball) as tar:
        sysfs_builder.extract_tree(tar, out)
    t = read_topology(str(out))
    macs = [d.mac for n in t.nics for d in n.netdevs]
    assert macs and all(m.startswith("02:") for m in macs)
    assert "3c:fd:fe:00:00:a0" not in macs
    assert "root=REDACTED" in t.cmdline


@pytest.mark.skipif(not os.path.isfile("/sys/devices/system/cpu/online"), reason="no sysfs here")
def test_reads_this_machine():
    t = read_topology("/")
    assert t.cpus_online
    assert set(t.cpus_online) <= set(t.cpus_possible)
    assert sorted(c for core in t.cores() for c in core) == t.cpus_online
    json.dumps(t.to_dict())
