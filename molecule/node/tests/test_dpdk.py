"""The lab's data NIC is handed to DPDK as planned, and given back when the plan drops it.

The lab profile selects the e1000e on NUMA node 1 (id 8086:10d3) for vfio-pci.
After converge and its reboot, bot4-hft-runtime.service has bound it again in
this boot through driver_override (driver_override does not survive a reboot),
its IOMMU group is viable and vfio has made the group's device node. The
scenario's profile change (side_effect) drops the device (dpdk.devices: []):
after that run and its reboot the NIC is on e1000e again, driver_override
cleared, its interface back, and nothing of the DPDK setup is left.
"""
import json
import os
import re

import pytest

DATAPLANE_NIC_ID = "8086:10d3"
DATAPLANE_NETDEV = "enp129s0"  # the e1000e's name while the kernel driver has it
MODULES_LOAD = "/etc/modules-load.d/bot4-hft-dpdk.conf"
MODPROBE = "/etc/modprobe.d/bot4-hft-dpdk.conf"
FRAGMENT = "/etc/bot4-hft/runtime.d/40-dpdk.json"
STATE = "/run/bot4-hft/dpdk-bindings.json"
# What may share an IOMMU group with a vfio-pci device: no driver, vfio-pci,
# drivers that do no DMA of their own, and PCI bridges (class 0x0604xx).
GROUP_DRIVERS = (None, "vfio-pci", "pci-stub", "pcieport")


def read(host, path):
    return host.file(path).content_string.strip()


def driver(host, address):
    link = host.run(f"readlink /sys/bus/pci/devices/{address}/driver")
    return os.path.basename(link.stdout.strip()) if link.rc == 0 else None


@pytest.fixture(scope="module")
def nic(host):
    addresses = host.check_output(f"lspci -D -n -d {DATAPLANE_NIC_ID}").split()
    assert addresses, f"no {DATAPLANE_NIC_ID} NIC on the node"
    return addresses[0]


def test_plan_selects_the_data_nic_for_vfio_pci(plan, phase, nic):
    devices = plan["dpdk"]["devices"]
    if phase == "converged":
        assert [(d["pci"], d["vendor_device"], d["target_driver"], d["numa_node"]) for d in devices] == [
            (nic, DATAPLANE_NIC_ID, "vfio-pci", 1)]
        assert plan["dpdk"]["noiommu"] is False
        # vfio-pci needs the IOMMU: the plan turns it on (passthrough for the host's own DMA)
        assert "intel_iommu=on" in plan["kernel_args"] and "iommu=pt" in plan["kernel_args"]
        # the NIC's NUMA node has isolated CPUs (numa.nic_locality: required)
        node1 = [n["cpus"] for n in plan["cpu"]["isolated_by_node"] if n["node"] == 1]
        assert node1 == ["6-7"], plan["cpu"]["isolated_by_node"]
    else:
        assert devices == []


def test_runtime_configuration_lists_the_planned_devices(host, plan):
    doc = json.loads(read(host, FRAGMENT))
    assert doc["dpdk"] == {
        "devices": [{"pci": d["pci"], "driver": d["target_driver"], "id": d["vendor_device"]}
                    for d in plan["dpdk"]["devices"]],
        "noiommu": False,
    }


def test_management_nic_keeps_the_default_route(host):
    route = host.check_output("ip -o -4 route show default")
    dev = re.search(r"\bdev (\S+)", route).group(1)
    assert host.file(f"/sys/class/net/{dev}").exists, route
    assert dev != DATAPLANE_NETDEV


@pytest.mark.before_change
def test_nic_bound_to_vfio_pci_with_driver_override(host, nic):
    assert driver(host, nic) == "vfio-pci"
    assert read(host, f"/sys/bus/pci/devices/{nic}/driver_override") == "vfio-pci"
    assert read(host, f"/sys/bus/pci/devices/{nic}/numa_node") == "1"
    # its interface went away with the kernel driver
    assert not host.file(f"/sys/class/net/{DATAPLANE_NETDEV}").exists


@pytest.mark.before_change
def test_iommu_group_is_viable_and_vfio_owns_it(host, nic):
    group = os.path.basename(host.check_output(f"readlink /sys/bus/pci/devices/{nic}/iommu_group"))
    members = host.check_output(f"ls /sys/kernel/iommu_groups/{group}/devices").split()
    assert nic in members
    for other in members:
        if other == nic:
            continue
        pci_class = int(read(host, f"/sys/bus/pci/devices/{other}/class"), 16)
        assert driver(host, other) in GROUP_DRIVERS or pci_class >> 8 == 0x0604, (
            f"IOMMU group {group} also holds {other} on {driver(host, other)}")
    assert host.run(f"test -c /dev/vfio/{group}").rc == 0, f"vfio made no /dev/vfio/{group}"


@pytest.mark.before_change
def test_bound_again_by_the_boot_unit_in_this_boot(host, nic):
    # Only the applier writes this record, per boot; after converge's reboot
    # Ansible only compared (verify, idempotence), so the boot unit bound it.
    state = json.loads(read(host, STATE))
    assert state["boot_id"] == read(host, "/proc/sys/kernel/random/boot_id")
    assert list(state["devices"]) == [nic]
    assert state["devices"][nic]["driver"] == "vfio-pci"
    # e1000e, or nothing when the unit ran before udev had loaded e1000e
    assert state["devices"][nic]["original_driver"] in ("e1000e", None)
    journal = host.check_output("journalctl -b -u bot4-hft-runtime.service --no-pager -o cat")
    assert re.search(r"bot4-hft-runtime: dpdk: \d+ changed", journal), journal


@pytest.mark.before_change
def test_vfio_modules_load_at_boot_and_no_noiommu_mode(host):
    modules = [line for line in host.file(MODULES_LOAD).content_string.splitlines()
               if line.strip() and not line.startswith("#")]
    assert modules == ["vfio-pci", "vfio_iommu_type1"]
    assert host.file("/sys/module/vfio_pci").is_directory
    # the lab VM has an IOMMU: vfio's unsafe no-IOMMU mode is neither configured nor on
    assert not host.file(MODPROBE).exists
    noiommu = host.run("cat /sys/module/vfio/parameters/enable_unsafe_noiommu_mode")
    assert noiommu.rc != 0 or noiommu.stdout.strip() == "N", noiommu.stdout


@pytest.mark.after_change
def test_nic_back_on_e1000e_with_driver_override_cleared(host, nic):
    assert driver(host, nic) == "e1000e"
    assert read(host, f"/sys/bus/pci/devices/{nic}/driver_override") == "(null)"
    assert host.check_output(f"ls /sys/bus/pci/devices/{nic}/net").split() == [DATAPLANE_NETDEV]


@pytest.mark.after_change
def test_nothing_of_the_dpdk_setup_is_left(host):
    assert not host.file(MODULES_LOAD).exists
    assert not host.file(MODPROBE).exists
    state = host.run(f"cat {STATE}")
    assert state.rc != 0 or json.loads(state.stdout)["devices"] == {}, state.stdout
