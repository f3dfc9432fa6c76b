"""QEMU command lines (pure functions) and QEMU process control (pidfile, QMP).

The node hardware imitates a two-socket server:

* q35 + Intel IOMMU with interrupt remapping (IOMMU groups, real vfio-pci),
* ``sockets x cores x threads`` vCPUs with an Intel vendor string (so that SMT
  siblings show in ``thread_siblings_list``), one NUMA node per socket, each
  backed by its own memory backend,
* a virtio-net management NIC and a virtio-blk disk on the root bus ``pcie.0``,
* an e1000e data-plane NIC behind a PCIe expander bridge (``pxb-pcie``) that is
  attached to the last NUMA node (node 1 by default), like a NIC in the second
  socket's PCIe slot.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional

from .common import pid_cmdline, proc_start_time, terminate

QEMU_BINARY = "qemu-system-x86_64"
FW_CFG_PREFIX = "opt/bot4"
# SMT siblings only show in the guest with an Intel vendor string; "max" exposes
# pdpe1gb (1 GiB pages) and avx2 under TCG. Named models (Skylake-Server...) hang
# early in boot under TCG.
NODE_CPU = "max,vendor=GenuineIntel"


@dataclass(frozen=True)
class Hardware:
    """vCPU/NUMA layout of a node. One NUMA node per socket."""

    sockets: int = 2
    cores: int = 2  # per socket
    threads: int = 2  # per core
    memory_per_numa_node_mib: int = 3072

    def __post_init__(self) -> None:
        for name in ("sockets", "cores", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.memory_per_numa_node_mib < 512:
            raise ValueError("memory per NUMA node must be at least 512 MiB")

    @property
    def cpus(self) -> int:
        return self.sockets * self.cores * self.threads

    @property
    def numa_nodes(self) -> int:
        return self.sockets

    @property
    def memory_mib(self) -> int:
        return self.memory_per_numa_node_mib * self.numa_nodes

    @property
    def data_nic_numa_node(self) -> int:
        return min(1, self.numa_nodes - 1)

    def node_cpus(self, node: int) -> str:
        per = self.cores * self.threads
        return f"{node * per}-{node * per + per - 1}"


# TCG's threading: "single" runs every vCPU on one host thread. Multi-threaded
# TCG (one host thread per vCPU) boots faster on a many-core host, but Debian
# 12's QEMU 7.2 was seen to die with a general protection fault in a vCPU
# thread during a guest's boot on the 2-core lab hosts (about one boot in
# twenty, host busy), which a test sees as a VM that vanished mid-reboot.
TCG_THREAD_ENV = "BOT4_LAB_TCG_THREAD"
TCG_THREADS = ("single", "multi")


def tcg_thread() -> str:
    value = os.environ.get(TCG_THREAD_ENV, "single")
    if value not in TCG_THREADS:
        raise ValueError(f"{TCG_THREAD_ENV}={value!r}: expected single or multi")
    return value


def accel_args(accel: str) -> List[str]:
    if accel == "kvm":
        return ["-accel", "kvm"]
    if accel == "tcg":
        return ["-accel", f"tcg,thread={tcg_thread()}"]
    raise ValueError(f"unknown accelerator {accel!r} (kvm or tcg)")


def machine_args(hw: Hardware) -> List[str]:
    """Machine, IOMMU, CPU model, SMP topology and NUMA nodes."""
    argv = [
        "-machine", "q35,kernel-irqchip=split",
        # The IOMMU must exist before any other PCI device is created.
        # caching-mode=on is only needed to pass devices through with vfio in
        # a nested guest; emulated devices bound to vfio-pci in the guest work
        # without it.
        "-device", "intel-iommu,intremap=on",
        "-cpu", NODE_CPU,
        "-smp", f"{hw.cpus},sockets={hw.sockets},cores={hw.cores},threads={hw.threads}",
        "-m", f"{hw.memory_mib}M",
    ]
    for node in range(hw.numa_nodes):
        argv += [
            "-object", f"memory-backend-ram,id=m{node},size={hw.memory_per_numa_node_mib}M",
            "-numa", f"node,nodeid={node},cpus={hw.node_cpus(node)},memdev=m{node}",
        ]
    return argv


@dataclass
class NodeSpec:
    """Everything needed to start one lab node."""

    name: str
    disk: Path
    ssh_port: int
    mgmt_mac: str
    data_mac: str
    authorized_keys: Path
    console_log: Path
    qmp_socket: Path
    pidfile: Path
    accel: str = "tcg"
    hardware: Hardware = field(default_factory=Hardware)
    qemu: str = QEMU_BINARY


def node_argv(spec: NodeSpec, daemonize: bool = True) -> List[str]:
    """QEMU argv of a normal node boot: firmware -> the disk's own GRUB -> kernel.

    No -kernel/-append: the kernel command line comes only from the guest's
    bootloader configuration, as on bare metal. No -no-reboot: a guest reboot
    goes through firmware and GRUB again inside the same QEMU process.
    """
    hw = spec.hardware
    argv = [spec.qemu, "-name", f"guest={spec.name},debug-threads=on"]
    argv += accel_args(spec.accel)
    argv += machine_args(hw)
    argv += [
        "-smbios", f"type=1,manufacturer=bot4-lab,product=bot4-lab-node,serial={spec.name}",
        "-rtc", "base=utc",
        # only the devices listed here (no default CD-ROM, NIC, parallel port...)
        "-nodefaults",
        "-display", "none",
        "-device", "VGA,bus=pcie.0",
        # system disk
        "-drive", f"file={spec.disk},if=none,id=disk0,format=qcow2,discard=unmap",
        "-device", "virtio-blk-pci,drive=disk0,bus=pcie.0,bootindex=1",
        # management NIC: SSH forwarded from the host's loopback only
        "-netdev", f"user,id=mgmt0,hostfwd=tcp:127.0.0.1:{spec.ssh_port}-:22",
        "-device", f"virtio-net-pci,netdev=mgmt0,mac={spec.mgmt_mac},bus=pcie.0,romfile=",
        # data-plane NIC behind a PCIe expander bridge on the last NUMA node
        "-device", f"pxb-pcie,id=pxb1,bus_nr=128,numa_node={hw.data_nic_numa_node},bus=pcie.0",
        "-device", "pcie-root-port,id=rp1,bus=pxb1,chassis=1",
        "-netdev", "user,id=data0,restrict=on,net=10.0.3.0/24",
        "-device", f"e1000e,netdev=data0,mac={spec.data_mac},bus=rp1,romfile=",
        # node seed, read by bot4-lab-seed.service at every boot
        "-fw_cfg", f"name={FW_CFG_PREFIX}/hostname,string={spec.name}",
        "-fw_cfg", f"name={FW_CFG_PREFIX}/mgmt_mac,string={spec.mgmt_mac}",
        "-fw_cfg", f"name={FW_CFG_PREFIX}/authorized_keys,file={spec.authorized_keys}",
        # serial console, appended across VM restarts
        "-chardev", f"file,id=console0,path={spec.console_log},append=on",
        "-serial", "chardev:console0",
        "-qmp", f"unix:{spec.qmp_socket},server=on,wait=off",
        "-pidfile", str(spec.pidfile),
    ]
    if daemonize:
        argv.append("-daemonize")
    return argv


def install_argv(
    qemu: str, accel: str, disk_raw: Path, kernel: Path, initrd: Path,
    console_log: Path, init: str,
) -> List[str]:
    """The one-time install boot of a fresh image (the only boot with -kernel)."""
    return [
        qemu, "-name", "guest=bot4-lab-image-install",
        *accel_args(accel),
        "-machine", "q35", "-cpu", "max", "-smp", "2", "-m", "2048M",
        "-display", "none", "-no-reboot", "-nic", "none",
        "-drive", f"file={disk_raw},if=none,id=disk0,format=raw",
        "-device", "virtio-blk-pci,drive=disk0,bus=pcie.0",
        "-kernel", str(kernel), "-initrd", str(initrd),
        "-append", f"root=/dev/vda1 rw console=ttyS0,115200n8 no_timer_check panic=-1 init={init}",
        "-chardev", f"file,id=console0,path={console_log}",
        "-serial", "chardev:console0",
    ]


def probe_argv(qemu: str, accel: str, kernel: Path, console_log: Path) -> List[str]:
    """Boot only the node kernel, no disk, on the nodes' machine and CPU model:
    enough to see whether the accelerator really runs lab guests."""
    return [
        qemu, "-name", "guest=bot4-lab-accel-probe",
        *accel_args(accel),
        "-machine", "q35,kernel-irqchip=split", "-cpu", NODE_CPU, "-smp", "2", "-m", "512M",
        "-display", "none", "-no-reboot", "-nic", "none",
        "-kernel", str(kernel), "-append", "console=ttyS0,115200n8 no_timer_check panic=-1",
        "-chardev", f"file,id=console0,path={console_log}",
        "-serial", "chardev:console0",
    ]


# --------------------------------------------------------------------------- processes


def read_pid(pidfile: Path) -> Optional[int]:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def is_our_qemu(pid: Optional[int], marker: str) -> bool:
    """True if pid is alive and is a QEMU whose argv mentions marker (its pidfile).

    Guards against pid reuse: a stale pidfile never makes us signal a stranger.
    """
    if not pid:
        return False
    argv = pid_cmdline(pid)
    if not argv or "qemu" not in Path(argv[0]).name:
        return False
    if proc_start_time(pid) is None:  # gone, or a zombie
        return False
    return any(marker in a for a in argv)


def kill(pid: int, marker: str, grace: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL; True when the process is gone."""
    return terminate([pid], grace, alive=lambda p: is_our_qemu(p, marker), interval=0.5)


class QMPError(Exception):
    pass


def qmp_command(sock_path: Path, command: str, timeout: float = 10.0, **arguments) -> dict:
    """Run one QMP command over the node's unix socket and return its reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(sock_path))
        except OSError as exc:
            raise QMPError(f"cannot connect to {sock_path}: {exc}") from exc
        reader = sock.makefile("rb")

        def receive() -> dict:
            while True:
                line = reader.readline()
                if not line:
                    raise QMPError("QMP connection closed")
                msg = json.loads(line)
                if "event" in msg:
                    continue
                return msg

        greeting = receive()
        if "QMP" not in greeting:
            raise QMPError(f"unexpected QMP greeting: {greeting}")
        for cmd, args in (("qmp_capabilities", {}), (command, arguments)):
            payload = {"execute": cmd}
            if args:
                payload["arguments"] = args
            sock.sendall(json.dumps(payload).encode() + b"\n")
            reply = receive()
            if "error" in reply:
                raise QMPError(f"{cmd}: {reply['error']}")
        return reply
