# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bot4-hft-runtime, section dpdk: PCI devices bound to a DPDK driver through
driver_override, checked before the first write, given back when dropped."""

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "runtime"))
import fakesys  # noqa: E402

NIC = "0000:81:00.0"  # the lab's e1000e on NUMA node 1, IOMMU group 7
MGMT = "0000:00:03.0"  # virtio-net enp0s3, carries the default route
DEV = "/sys/bus/pci/devices/" + NIC
STATE = "run/bot4-hft/dpdk-bindings.json"


def dpdk(*devices, **extra):
    cfg = {"devices": [{"pci": pci, "driver": driver} for pci, driver in devices]}
    cfg.update(extra)
    return {"dpdk": cfg}


VFIO = dpdk((NIC, "vfio-pci"))
BIND_CHANGES = [
    {"path": "/sys/bus/pci/drivers/vfio-pci", "before": "(not loaded)", "after": "modprobe vfio-pci"},
    {"path": DEV + "/driver_override", "before": "(null)", "after": "vfio-pci"},
    {"path": DEV + "/driver", "before": "e1000e", "after": "vfio-pci"},
]
RESTORE_CHANGES = [
    {"path": DEV + "/driver_override", "before": "vfio-pci", "after": "(null)"},
    {"path": DEV + "/driver", "before": "vfio-pci", "after": "e1000e"},
]


@pytest.fixture
def lab(tmp_path, monkeypatch):
    return fakesys.Machine(tmp_path, monkeypatch, "lab-vm")


def section(result):
    return result["sections"]["dpdk"]


def driver(lab, pci=NIC):
    return lab.kernel.driver_of(pci)


def state(lab):
    path = lab.root / STATE
    return json.loads(path.read_text())["devices"] if path.exists() else None


def add_device(lab, pci, group, driver_name=None, pci_class="0x020000", parent="pci0000:80/0000:80:00.0"):
    """Another PCI function in an IOMMU group, optionally bound to a driver."""
    base = lab.root / "sys/devices" / parent / pci
    base.mkdir(parents=True)
    for name, value in (("class", pci_class), ("vendor", "0x8086"), ("device", "0x10d3"), ("numa_node", "1"),
                        ("driver_override", "(null)")):
        (base / name).write_text(value + "\n")
    os.symlink(os.path.relpath(str(lab.root / "sys/kernel/iommu_groups" / str(group)), str(base)),
               str(base / "iommu_group"))
    os.symlink(os.path.relpath(str(base), str(lab.root / "sys/bus/pci/devices")),
               str(lab.root / "sys/bus/pci/devices" / pci))
    members = lab.root / "sys/kernel/iommu_groups" / str(group) / "devices"
    members.mkdir(parents=True, exist_ok=True)
    os.symlink(os.path.relpath(str(base), str(members)), str(members / pci))
    if driver_name:
        lab.kernel.bind_device(pci, driver_name)


def without_iommu(lab):
    shutil.rmtree(str(lab.root / "sys/kernel/iommu_groups"))
    (lab.root / "sys/kernel/iommu_groups").mkdir()
    os.unlink(str(lab.root / "sys/bus/pci/devices" / NIC / "iommu_group"))


# ----------------------------------------------------------------- binding
def test_check_reports_the_module_override_and_binding_and_writes_nothing(lab):
    code, result = lab.check(VFIO)
    assert code == 2, result["msg"]
    assert section(result)["changes"] == BIND_CHANGES
    assert lab.kernel.writes == [] and lab.kernel.modprobed == []
    assert driver(lab) == "e1000e"
    assert not (lab.root / STATE).exists()


def test_apply_binds_through_driver_override_exactly_as_checked(lab):
    code, result = lab.apply(VFIO)
    assert code == 0, result["msg"]
    assert section(result)["status"] == "changed"
    assert section(result)["changes"] == BIND_CHANGES
    assert lab.kernel.modprobed == ["vfio-pci"]
    assert lab.kernel.writes == [
        (DEV + "/driver_override", "vfio-pci"),
        ("/sys/bus/pci/drivers/e1000e/unbind", NIC),
        ("/sys/bus/pci/drivers_probe", NIC),
    ]
    assert driver(lab) == "vfio-pci"
    assert lab.read(DEV + "/driver_override") == "vfio-pci"
    # the e1000e's interface went away with its driver
    assert not (lab.root / "sys/class/net/enp129s0").exists()
    assert state(lab) == {NIC: {"driver": "vfio-pci", "original_driver": "e1000e"}}
    [entry] = section(result)["devices"]
    assert entry == {"pci": NIC, "id": "8086:10d3", "target": "vfio-pci", "action": "bind",
                     "driver_before": "e1000e", "driver": "vfio-pci", "driver_override": "vfio-pci",
                     "numa_node": 1, "iommu_group": 7, "netdevs": ["enp129s0"], "original_driver": "e1000e"}
    assert section(result)["iommu"] == "active"


def test_second_run_changes_nothing(lab):
    assert lab.apply(VFIO)[0] == 0
    lab.kernel.writes[:] = []
    lab.kernel.modprobed[:] = []
    code, result = lab.apply(VFIO)
    assert code == 0
    assert result["changed"] is False and section(result)["status"] == "ok"
    assert lab.kernel.writes == [] and lab.kernel.modprobed == []
    assert section(result)["devices"][0]["action"] == "none"
    assert lab.check(VFIO)[0] == 0


def test_bound_without_override_only_gets_the_override(lab):
    # bound by hand (e.g. dpdk-devbind) before: no unbind, no probe, just the override
    lab.kernel.modprobe("vfio-pci")
    lab.kernel.unbind_device(NIC, "e1000e")
    lab.kernel.bind_device(NIC, "vfio-pci")
    code, result = lab.check(VFIO)
    assert code == 2
    assert section(result)["changes"] == [{"path": DEV + "/driver_override", "before": "(null)",
                                           "after": "vfio-pci"}]
    code, result = lab.apply(VFIO)
    assert code == 0, result["msg"]
    assert lab.kernel.writes == [(DEV + "/driver_override", "vfio-pci")]
    # it had no kernel driver this program saw, so giving it back means no driver
    assert state(lab) == {NIC: {"driver": "vfio-pci", "original_driver": None}}


def test_uio_pci_generic_needs_no_iommu(lab):
    without_iommu(lab)
    code, result = lab.apply(dpdk((NIC, "uio_pci_generic")))
    assert code == 0, result["msg"]
    assert driver(lab) == "uio_pci_generic"
    assert lab.kernel.modprobed == ["uio_pci_generic"]
    assert section(result)["iommu"] == "none"


def test_id_check_catches_another_card_at_the_address(lab):
    config = {"dpdk": {"devices": [{"pci": NIC, "driver": "vfio-pci", "id": "8086:10fb"}]}}
    code, result = lab.apply(config)
    assert code == 1
    assert "0000:81:00.0: is a 8086:10d3 device, the configuration expects 8086:10fb" in result["msg"]
    assert lab.kernel.writes == []
    config["dpdk"]["devices"][0]["id"] = "8086:10d3"
    assert lab.apply(config)[0] == 0


# ---------------------------------------------------------------- restoring
@pytest.mark.parametrize("dropped", [dpdk(), dpdk((NIC, "kernel"))], ids=["removed", "driver-kernel"])
def test_device_no_longer_configured_goes_back_to_its_kernel_driver(lab, dropped):
    assert lab.apply(VFIO)[0] == 0
    lab.kernel.writes[:] = []
    code, result = lab.check(dropped)
    assert code == 2
    assert section(result)["changes"] == RESTORE_CHANGES
    assert lab.kernel.writes == []
    code, result = lab.apply(dropped)
    assert code == 0, result["msg"]
    assert section(result)["changes"] == RESTORE_CHANGES
    assert lab.kernel.writes == [
        (DEV + "/driver_override", ""),
        ("/sys/bus/pci/drivers/vfio-pci/unbind", NIC),
        ("/sys/bus/pci/drivers_probe", NIC),
    ]
    assert driver(lab) == "e1000e"
    assert lab.read(DEV + "/driver_override") == "(null)"
    assert (lab.root / "sys/class/net/enp129s0").is_symlink()
    assert state(lab) == {}
    assert section(result)["devices"][0]["action"] == "restore"
    lab.kernel.writes[:] = []
    code, result = lab.apply(dropped)
    assert code == 0 and result["changed"] is False and lab.kernel.writes == []


def test_device_it_never_bound_is_left_alone(lab):
    # bound to vfio-pci by someone else: not in the state, so not this program's to give back
    lab.kernel.modprobe("vfio-pci")
    lab.kernel.unbind_device(NIC, "e1000e")
    lab.kernel.bind_device(NIC, "vfio-pci")
    for config in (dpdk(), dpdk((NIC, "kernel"))):
        code, result = lab.apply(config)
        assert code == 0 and result["changed"] is False
    assert driver(lab) == "vfio-pci" and lab.kernel.writes == []


def test_switching_driver_keeps_the_original_kernel_driver(lab):
    assert lab.apply(VFIO)[0] == 0
    code, result = lab.apply(dpdk((NIC, "uio_pci_generic")))
    assert code == 0, result["msg"]
    assert driver(lab) == "uio_pci_generic"
    assert state(lab) == {NIC: {"driver": "uio_pci_generic", "original_driver": "e1000e"}}
    assert lab.apply(dpdk())[0] == 0
    assert driver(lab) == "e1000e"


def test_a_record_from_an_earlier_boot_is_ignored(lab):
    assert lab.apply(VFIO)[0] == 0
    lab.set("/proc/sys/kernel/random/boot_id", "6b0e0c1e-0000-4000-8000-0000000000ff")
    code, result = lab.apply(dpdk())
    assert code == 0 and result["changed"] is False
    assert driver(lab) == "vfio-pci"


def test_device_gone_from_the_bus_is_forgotten(lab):
    assert lab.apply(VFIO)[0] == 0
    os.unlink(str(lab.root / "sys/bus/pci/devices" / NIC))
    code, result = lab.apply(dpdk())
    assert code == 0 and result["changed"] is False
    assert "0000:81:00.0: bound to vfio-pci earlier, now gone from the PCI bus" in section(result)["notices"][0]
    assert state(lab) == {}


# ------------------------------------------------------------ refusals
def assert_nothing_done(lab):
    assert lab.kernel.writes == [] and lab.kernel.modprobed == []
    assert driver(lab) == "e1000e"
    assert lab.read(DEV + "/driver_override") == "(null)"
    assert not (lab.root / STATE).exists()


def test_iommu_group_with_another_bound_endpoint_is_refused(lab):
    add_device(lab, "0000:81:00.1", 7, "e1000e")
    for mode in (lab.check, lab.apply):
        code, result = mode(VFIO)
        assert code == 1
        assert section(result)["errors"][0] == (
            "0000:81:00.0: IOMMU group 7 is not viable for vfio-pci: it also holds 0000:81:00.1 (bound to "
            "e1000e); every endpoint of a group must be bound to vfio-pci or to no driver (bind them too, "
            "or move the card)")
        assert "nothing was changed" in section(result)["notices"][-1]
    lab.kernel.writes[:] = []
    assert_nothing_done(lab)


@pytest.mark.parametrize(
    "other",
    [
        {"pci": "0000:81:00.1"},  # no driver
        {"pci": "0000:80:00.1", "driver_name": "pcieport", "pci_class": "0x060400"},  # a PCIe port
        {"pci": "0000:80:00.2", "pci_class": "0x060400", "driver_name": "e1000e"},  # any bridge
    ],
    ids=["unbound", "pcieport", "bridge"],
)
def test_iommu_group_with_unbound_devices_and_bridges_is_viable(lab, other):
    add_device(lab, group=7, **other)
    code, result = lab.apply(VFIO)
    assert code == 0, result["msg"]
    assert driver(lab) == "vfio-pci"


def test_group_members_bound_together_are_viable(lab):
    add_device(lab, "0000:81:00.1", 7, "e1000e")
    code, result = lab.apply(dpdk((NIC, "vfio-pci"), ("0000:81:00.1", "vfio-pci")))
    assert code == 0, result["msg"]
    assert driver(lab) == driver(lab, "0000:81:00.1") == "vfio-pci"


def test_management_nic_with_the_default_route_is_refused(lab):
    code, result = lab.apply(dpdk((NIC, "vfio-pci"), (MGMT, "vfio-pci")))
    assert code == 1
    assert section(result)["errors"] == [
        "0000:00:03.0 (enp0s3) carries the default route: binding it to vfio-pci would cut this node off "
        "the network"]
    # the valid NIC of the same configuration is not bound either: nothing half-applied
    assert_nothing_done(lab)
    assert driver(lab, MGMT) == "virtio-pci"


def test_default_route_through_a_bond_is_seen(lab):
    bond = lab.root / "sys/devices/virtual/net/bond0"
    bond.mkdir(parents=True)
    os.symlink("../../devices/virtual/net/bond0", str(lab.root / "sys/class/net/bond0"))
    os.symlink("../../../pci0000:80/0000:80:00.0/0000:81:00.0/net/enp129s0", str(bond / "lower_enp129s0"))
    lab.set("/proc/net/route", "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
            "bond0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0")
    code, result = lab.apply(VFIO)
    assert code == 1
    assert "0000:81:00.0 (enp129s0) carries the default route" in result["msg"]
    assert_nothing_done(lab)


def test_missing_device_is_refused_and_nothing_else_is_bound(lab):
    code, result = lab.apply(dpdk((NIC, "vfio-pci"), ("0000:82:00.0", "vfio-pci")))
    assert code == 1
    assert section(result)["errors"] == [
        "0000:82:00.0: no such PCI device (/sys/bus/pci/devices/0000:82:00.0 does not exist)"]
    assert result["msg"] == "dpdk: " + section(result)["errors"][0]
    assert_nothing_done(lab)


def test_vfio_without_iommu_is_refused(lab):
    without_iommu(lab)
    code, result = lab.apply(VFIO)
    assert code == 1
    assert section(result)["errors"] == [
        "0000:81:00.0: vfio-pci needs an IOMMU and the running kernel has none (/sys/kernel/iommu_groups is "
        "empty): boot with the planned IOMMU arguments (intel_iommu=on iommu=pt), enable VT-d/AMD-Vi in the "
        "firmware, or allow vfio's unsafe no-IOMMU mode (noiommu)"]
    assert_nothing_done(lab)


def test_noiommu_mode_is_switched_on_before_the_bind(lab):
    without_iommu(lab)
    config = dpdk((NIC, "vfio-pci"), noiommu=True)
    param = "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode"
    expected = [BIND_CHANGES[0], {"path": param, "before": "N", "after": "Y"}] + BIND_CHANGES[1:]
    code, result = lab.check(config)
    assert code == 2
    assert section(result)["changes"] == expected
    assert lab.kernel.writes == []
    code, result = lab.apply(config)
    assert code == 0, result["msg"]
    assert section(result)["changes"] == expected
    assert lab.kernel.writes[0] == (param, "Y")
    assert lab.read(param) == "Y"
    assert driver(lab) == "vfio-pci"
    assert section(result)["iommu"] == "noiommu"
    assert any("unsafe no-IOMMU mode" in n for n in section(result)["notices"])
    lab.kernel.writes[:] = []
    code, result = lab.apply(config)
    assert code == 0 and result["changed"] is False and lab.kernel.writes == []


def test_noiommu_is_not_used_when_there_is_an_iommu(lab):
    code, result = lab.apply(dpdk((NIC, "vfio-pci"), noiommu=True))
    assert code == 0, result["msg"]
    assert lab.read("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode") == "N"
    assert section(result)["iommu"] == "active"


# ---------------------------------------------------- failures while binding
def test_module_that_does_not_load_stops_before_any_bind(lab):
    lab.kernel.modprobe_fails["vfio_pci"] = "modprobe: FATAL: Module vfio-pci not found"
    code, result = lab.apply(VFIO)
    assert code == 1
    assert section(result)["errors"] == [
        "cannot load the vfio-pci driver: modprobe: FATAL: Module vfio-pci not found"]
    assert lab.kernel.writes == []
    assert driver(lab) == "e1000e"


def test_probe_that_refuses_hands_the_device_back(lab):
    lab.kernel.probe_fails.add((NIC, "vfio-pci"))
    code, result = lab.apply(VFIO)
    assert code == 1
    assert section(result)["errors"] == [
        "0000:81:00.0: after drivers_probe it is bound to no driver, not vfio-pci (the kernel log says why: "
        "dmesg)"]
    assert "0000:81:00.0: handed back to the kernel (driver now e1000e)" in section(result)["notices"]
    assert driver(lab) == "e1000e"
    assert lab.read(DEV + "/driver_override") == "(null)"
    assert not (lab.root / STATE).exists() or state(lab) == {}


# ------------------------------------------------------------ configuration
@pytest.mark.parametrize(
    "cfg, message",
    [
        ({"devices": [{"pci": "81:00.0", "driver": "vfio-pci"}]}, "dpdk.devices[0].pci must be a PCI address"),
        ({"devices": [{"pci": NIC, "driver": "igb_uio"}]},
         "dpdk.devices[0].driver must be one of vfio-pci, uio_pci_generic, kernel (got 'igb_uio')"),
        ({"devices": [{"pci": NIC, "driver": "vfio-pci"}, {"pci": NIC, "driver": "kernel"}]},
         "dpdk.devices[1]: 0000:81:00.0 is listed twice"),
        ({"devices": [{"pci": NIC, "driver": "vfio-pci", "id": "8086"}]}, "dpdk.devices[0].id must be"),
        ({"devices": [], "noiommu": "yes"}, "dpdk.noiommu must be true or false"),
        ({"devices": {}}, "dpdk.devices must be a list"),
        ({"device": []}, "section dpdk: unknown keys device"),
    ],
)
def test_bad_configuration_is_refused(lab, cfg, message):
    code, result = lab.apply({"dpdk": cfg})
    assert code == 1
    assert message in result["msg"]
    assert lab.kernel.writes == []


def test_cli_applies_a_fragment_and_reports_it(lab, capsys, tmp_path):
    path = tmp_path / "40-dpdk.json"
    path.write_text(json.dumps({"format": 1, "dpdk": VFIO["dpdk"]}))
    code = lab.applier.main(["--apply", "--config", str(path), "--section", "dpdk", "--root", str(lab.root)])
    out, err = capsys.readouterr()
    assert code == 0, out
    assert json.loads(out)["sections"]["dpdk"]["changes"] == BIND_CHANGES
    assert "bot4-hft-runtime: dpdk: 3 changed" in err


def test_kernel_driver_that_takes_the_device_meanwhile_is_unbound(lab, monkeypatch):
    # At boot: the device has no driver yet when it is read, then udev loads
    # e1000e, which takes it just before driver_override is written.
    lab.kernel.unbind_device(NIC, "e1000e")
    handle = lab.kernel.handle

    def racing(ctx, original, abspath, value):
        if abspath == DEV + "/driver_override" and value == "vfio-pci":
            lab.kernel.bind_device(NIC, "e1000e")
        handle(ctx, original, abspath, value)

    monkeypatch.setattr(lab.kernel, "handle", racing)
    code, result = lab.apply(VFIO)
    assert code == 0, result["msg"]
    assert driver(lab) == "vfio-pci"
    assert ("/sys/bus/pci/drivers/e1000e/unbind", NIC) in lab.kernel.writes
    assert section(result)["changes"][-1] == {"path": DEV + "/driver", "before": "(none)", "after": "vfio-pci"}
    assert state(lab) == {NIC: {"driver": "vfio-pci", "original_driver": None}}


def test_kernel_driver_module_unloaded_meanwhile_is_loaded_again(lab):
    assert lab.apply(VFIO)[0] == 0
    shutil.rmtree(str(lab.root / "sys/bus/pci/drivers/e1000e"))  # rmmod e1000e
    code, result = lab.apply(dpdk())
    assert code == 0, result["msg"]
    assert lab.kernel.modprobed[-1] == "e1000e"
    assert driver(lab) == "e1000e"
    assert state(lab) == {}


def test_device_no_kernel_driver_takes_back_stays_recorded(lab):
    assert lab.apply(VFIO)[0] == 0
    shutil.rmtree(str(lab.root / "sys/bus/pci/drivers/e1000e"))
    lab.kernel.modprobe_fails["e1000e"] = "modprobe: FATAL: Module e1000e not found"
    code, result = lab.apply(dpdk())
    assert code == 1
    assert section(result)["errors"] == [
        "0000:81:00.0: after drivers_probe it is bound to no driver, not back on a kernel driver (it was e1000e)"]
    assert driver(lab) is None
    # still this program's to give back: the next run tries again
    assert state(lab) == {NIC: {"driver": "vfio-pci", "original_driver": "e1000e"}}
    del lab.kernel.modprobe_fails["e1000e"]
    code, result = lab.apply(dpdk())
    assert code == 0, result["msg"]
    assert driver(lab) == "e1000e" and state(lab) == {}
