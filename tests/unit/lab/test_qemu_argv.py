"""QEMU command lines of lab nodes: the hardware that makes a VM look like a
two-socket HFT server, and no -kernel on normal boots."""

from pathlib import Path

import pytest

from bot4lab import qemu


def spec(**kw):
    base = dict(
        name="t-node-1", disk=Path("/s/t-node-1.qcow2"), ssh_port=10022,
        mgmt_mac="52:54:00:00:00:01", data_mac="52:54:00:00:00:02",
        authorized_keys=Path("/s/id_ed25519.pub"), console_log=Path("/s/t-node-1.console.log"),
        qmp_socket=Path("/s/t-node-1.qmp"), pidfile=Path("/s/t-node-1.pid"))
    base.update(kw)
    return qemu.NodeSpec(**base)


def pairs(argv):
    """(option, value) pairs of an argv, for options that take a value."""
    return [(argv[i], argv[i + 1]) for i in range(1, len(argv) - 1) if argv[i].startswith("-")]


def values(argv, option):
    return [v for o, v in pairs(argv) if o == option]


def devices(argv):
    return [dict(kv.split("=", 1) if "=" in kv else (kv, None) for kv in d.split(",")[1:]) |
            {"driver": d.split(",")[0]} for d in values(argv, "-device")]


def test_normal_boot_uses_the_disks_own_bootloader():
    argv = qemu.node_argv(spec())
    for forbidden in ("-kernel", "-initrd", "-append", "-no-reboot"):
        assert forbidden not in argv
    assert values(argv, "-drive") == [
        "file=/s/t-node-1.qcow2,if=none,id=disk0,format=qcow2,discard=unmap"]


def test_default_topology_two_sockets_smt_numa():
    argv = qemu.node_argv(spec())
    assert values(argv, "-machine") == ["q35,kernel-irqchip=split"]
    assert values(argv, "-cpu") == ["max,vendor=GenuineIntel"]
    assert values(argv, "-smp") == ["8,sockets=2,cores=2,threads=2"]
    assert values(argv, "-m") == ["6144M"]
    assert values(argv, "-object") == [
        "memory-backend-ram,id=m0,size=3072M", "memory-backend-ram,id=m1,size=3072M"]
    assert values(argv, "-numa") == [
        "node,nodeid=0,cpus=0-3,memdev=m0", "node,nodeid=1,cpus=4-7,memdev=m1"]


def test_no_default_devices():
    argv = qemu.node_argv(spec())
    assert "-nodefaults" in argv
    assert {d["driver"] for d in devices(argv)} == {
        "intel-iommu", "VGA", "virtio-blk-pci", "virtio-net-pci", "pxb-pcie", "pcie-root-port",
        "e1000e"}


def test_iommu_is_the_first_device():
    devs = devices(qemu.node_argv(spec()))
    assert devs[0]["driver"] == "intel-iommu"
    assert devs[0]["intremap"] == "on"


def test_data_nic_behind_pxb_on_numa_node_1_and_everything_else_on_pcie0():
    devs = devices(qemu.node_argv(spec()))
    by_driver = {d["driver"]: d for d in devs}
    pxb = by_driver["pxb-pcie"]
    assert pxb["numa_node"] == "1" and pxb["bus"] == "pcie.0" and pxb["bus_nr"] == "128"
    rp = by_driver["pcie-root-port"]
    assert rp["bus"] == pxb["id"]
    nic = by_driver["e1000e"]
    assert nic["bus"] == rp["id"]
    assert nic["mac"] == "52:54:00:00:00:02"
    # only bridges plug into the expander; every other device sits on pcie.0
    for d in devs:
        if d["driver"] in ("intel-iommu", "pcie-root-port", "e1000e"):
            continue
        assert d["bus"] == "pcie.0", d
    assert by_driver["virtio-net-pci"]["mac"] == "52:54:00:00:00:01"


def test_networking_forwards_ssh_on_loopback_only_and_restricts_data_net():
    netdevs = values(qemu.node_argv(spec(ssh_port=10555)), "-netdev")
    assert netdevs[0] == "user,id=mgmt0,hostfwd=tcp:127.0.0.1:10555-:22"
    assert netdevs[1].startswith("user,id=data0,restrict=on")


def test_seed_console_qmp_pidfile():
    argv = qemu.node_argv(spec())
    assert values(argv, "-fw_cfg") == [
        "name=opt/bot4/hostname,string=t-node-1",
        "name=opt/bot4/mgmt_mac,string=52:54:00:00:00:01",
        "name=opt/bot4/authorized_keys,file=/s/id_ed25519.pub",
    ]
    assert values(argv, "-chardev") == [
        "file,id=console0,path=/s/t-node-1.console.log,append=on"]
    assert values(argv, "-serial") == ["chardev:console0"]
    assert values(argv, "-qmp") == ["unix:/s/t-node-1.qmp,server=on,wait=off"]
    assert values(argv, "-pidfile") == ["/s/t-node-1.pid"]
    assert argv[-1] == "-daemonize"


def test_accelerators(monkeypatch):
    monkeypatch.delenv("BOT4_LAB_TCG_THREAD", raising=False)
    assert values(qemu.node_argv(spec()), "-accel") == ["tcg,thread=single"]
    monkeypatch.setenv("BOT4_LAB_TCG_THREAD", "multi")
    assert values(qemu.node_argv(spec()), "-accel") == ["tcg,thread=multi"]
    monkeypatch.setenv("BOT4_LAB_TCG_THREAD", "many")
    with pytest.raises(ValueError, match="BOT4_LAB_TCG_THREAD"):
        qemu.node_argv(spec())
    monkeypatch.delenv("BOT4_LAB_TCG_THREAD")
    assert values(qemu.node_argv(spec(accel="kvm")), "-accel") == ["kvm"]
    with pytest.raises(ValueError):
        qemu.node_argv(spec(accel="hvf"))


def test_custom_layout():
    hw = qemu.Hardware(sockets=2, cores=4, threads=1, memory_per_numa_node_mib=2048)
    argv = qemu.node_argv(spec(hardware=hw))
    assert values(argv, "-smp") == ["8,sockets=2,cores=4,threads=1"]
    assert values(argv, "-m") == ["4096M"]
    assert values(argv, "-numa") == [
        "node,nodeid=0,cpus=0-3,memdev=m0", "node,nodeid=1,cpus=4-7,memdev=m1"]


def test_single_socket_puts_the_nic_on_node_0():
    hw = qemu.Hardware(sockets=1)
    devs = {d["driver"]: d for d in devices(qemu.node_argv(spec(hardware=hw)))}
    assert devs["pxb-pcie"]["numa_node"] == "0"
    assert values(qemu.node_argv(spec(hardware=hw)), "-numa") == ["node,nodeid=0,cpus=0-3,memdev=m0"]


@pytest.mark.parametrize("kw", [dict(sockets=0), dict(threads=0), dict(memory_per_numa_node_mib=100)])
def test_bad_hardware(kw):
    with pytest.raises(ValueError):
        qemu.Hardware(**kw)


def test_install_boot_is_the_only_kernel_boot():
    argv = qemu.install_argv("qemu-system-x86_64", "tcg", Path("/t/disk.raw"), Path("/t/vmlinuz"),
                             Path("/t/initrd.img"), Path("/t/console.log"), "/usr/local/sbin/x")
    assert values(argv, "-kernel") == ["/t/vmlinuz"]
    assert "-no-reboot" in argv
    assert "root=/dev/vda1" in values(argv, "-append")[0]
    assert "init=/usr/local/sbin/x" in values(argv, "-append")[0]


def test_probe_boots_kernel_without_disk():
    argv = qemu.probe_argv("qemu-system-x86_64", "kvm", Path("/k"), Path("/c"))
    assert values(argv, "-accel") == ["kvm"]
    assert "-drive" not in argv and values(argv, "-kernel") == ["/k"]


def test_is_our_qemu_rejects_dead_and_foreign_pids(tmp_path):
    import os
    assert not qemu.is_our_qemu(None, "x")
    assert not qemu.is_our_qemu(os.getpid(), "x")  # pytest is not a QEMU
    assert qemu.read_pid(tmp_path / "missing.pid") is None
    (tmp_path / "bad.pid").write_text("nope")
    assert qemu.read_pid(tmp_path / "bad.pid") is None
