"""The lab node looks like a two-socket HFT server and boots like bare metal.

Checked from inside the VM (testinfra over the scenario's inventory) after
converge's reboot and again after side_effect's; the topology module's answer is compared with what
independent tools (lscpu, numactl, lspci) report on the same node.
"""
import json
import os
import re

import pytest

from conftest import SCRATCH, expand, lab_status


DATAPLANE_NIC_ID = "8086:10d3"  # the e1000e NIC the lab attaches to NUMA node 1


def read(host, path):
    return host.file(path).content_string.strip()


# The machine's shape; the CPUs the plan takes offline (cpu.offline, the
# profile change's CPU 7) leave the kernel's online lists.
def offline(plan):
    return expand(plan["cpu"]["offline_planned"])


def test_eight_cpus(host, plan):
    assert read(host, "/sys/devices/system/cpu/possible") == "0-7"
    assert expand(read(host, "/sys/devices/system/cpu/online")) == set(range(8)) - offline(plan)


def test_two_numa_nodes(host, plan):
    assert read(host, "/sys/devices/system/node/online") == "0-1"
    assert expand(read(host, "/sys/devices/system/node/node0/cpulist")) == set(range(0, 4)) - offline(plan)
    assert expand(read(host, "/sys/devices/system/node/node1/cpulist")) == set(range(4, 8)) - offline(plan)


def test_smt_siblings_pair_up(host, plan):
    for cpu in sorted(set(range(8)) - offline(plan)):
        first = cpu & ~1
        siblings = read(host, f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        assert expand(siblings) == {first, first + 1} - offline(plan), cpu


def test_two_sockets(host, plan):
    packages = {read(host, f"/sys/devices/system/cpu/cpu{cpu}/topology/physical_package_id")
                for cpu in sorted(set(range(8)) - offline(plan))}
    assert packages == {"0", "1"}


def test_1g_pages_supported(host):
    assert host.file("/sys/kernel/mm/hugepages/hugepages-1048576kB").is_directory
    assert re.search(r"^flags\s*:.*\bpdpe1gb\b", host.file("/proc/cpuinfo").content_string, re.M)


def test_iommu_present(host):
    groups = host.check_output("ls /sys/kernel/iommu_groups").split()
    assert groups, "no IOMMU groups: the guest has no active IOMMU"
    assert host.check_output("ls /sys/class/iommu").split(), "no IOMMU unit in /sys/class/iommu"


def test_dataplane_nic_on_numa_node_1(host):
    # Its driver depends on the phase (vfio-pci as the lab profile plans it,
    # e1000e once the scenario's change drops it): see test_dpdk.py.
    addresses = host.check_output(f"lspci -D -n -d {DATAPLANE_NIC_ID}").split()
    assert addresses, f"no {DATAPLANE_NIC_ID} NIC on the node"
    address = addresses[0]
    assert read(host, f"/sys/bus/pci/devices/{address}/numa_node") == "1"
    # the generic kernel has its driver (Debian's cloud kernel does not)
    assert host.run("modinfo -n e1000e").rc == 0, "the running kernel has no e1000e module"


def test_booted_through_grub_from_its_disk(host):
    cmdline = read(host, "/proc/cmdline")
    # Only a bootloader puts BOOT_IMAGE= on the command line; QEMU's -kernel does not.
    assert cmdline.startswith("BOOT_IMAGE=/boot/vmlinuz-"), cmdline
    assert re.search(r"(^| )root=UUID=[0-9a-f-]+( |$)", cmdline), cmdline
    assert host.file("/boot/grub/grub.cfg").exists


def test_qemu_was_started_without_a_kernel_image():
    status = lab_status()
    nodes = status["nodes"]
    assert nodes and all(node["running"] for node in nodes), status
    for node in nodes:
        with open(node["qemu_argv_file"], encoding="utf-8") as handle:
            starts = json.load(handle)["history"]
        assert starts
        for start in starts:
            argv = start["argv"]
            assert "-kernel" not in argv and "-initrd" not in argv, argv
            assert "-no-reboot" not in argv, argv


def test_grub_ran_at_every_boot():
    # The serial console is appended across boots: converge's boot and the
    # scenario's reboot each went through the disk's GRUB.
    for node in lab_status()["nodes"]:
        with open(node["console_log"], encoding="utf-8", errors="replace") as handle:
            console = handle.read()
        assert console.count("GNU GRUB") >= 2, f"{node['name']}: GRUB did not show on the console twice"


@pytest.mark.after_change
def test_profile_change_rebooted_exactly_once(host):
    name = host.backend.get_hostname()
    path = os.path.join(SCRATCH, f"boot-ids-{name}.json")
    with open(path, encoding="utf-8") as handle:
        ids = json.load(handle)
    assert ids["before"] != ids["after"], ids
    assert read(host, "/proc/sys/kernel/random/boot_id") == ids["after"]
    # Kernel banners on the serial console: one more boot, not two.
    assert ids["boots_after"] - ids["boots_before"] == 1, ids


@pytest.fixture(scope="module")
def topology(host):
    result = host.ansible("bot4.hft.node_topology_info", check=False)
    assert "topology" in result, result
    return result["topology"]


def test_module_cpus_match_lscpu(host, topology, plan):
    rows = [line.split(",") for line in host.check_output("lscpu -p=CPU,CORE,SOCKET,NODE").splitlines()
            if not line.startswith("#")]
    lscpu = {int(cpu): (int(core), int(socket), int(node)) for cpu, core, socket, node in rows}
    module = {c["id"]: c for c in topology["cpus"]["list"] if c["online"]}
    assert sorted(module) == sorted(lscpu)
    for cpu, (core, socket, node) in lscpu.items():
        assert module[cpu]["package"] == socket
        assert module[cpu]["node"] == node
        same_core = sorted(c for c, (k, s, _n) in lscpu.items() if (k, s) == (core, socket))
        expected = f"{same_core[0]}-{same_core[-1]}" if len(same_core) > 1 else str(cpu)
        assert module[cpu]["siblings"] == expected
    # cpu.offline (the scenario's profile change takes CPU 7 offline)
    assert topology["cpus"]["offline"] == plan["cpu"]["offline_planned"]
    assert topology["cpus"]["online"] == plan["cpu"]["online"]
    assert topology["cpus"]["smt_active"] is True


def test_module_numa_nodes_match_numactl(host, topology):
    out = host.check_output("numactl -H")
    numactl = {}
    for node, cpus in re.findall(r"^node (\d+) cpus: ([\d ]+)$", out, re.M):
        numactl.setdefault(int(node), {})["cpus"] = [int(c) for c in cpus.split()]
    for node, size in re.findall(r"^node (\d+) size: (\d+) MB$", out, re.M):
        numactl[int(node)]["size_mb"] = int(size)
    module = {n["id"]: n for n in topology["numa"]["nodes"]}
    assert sorted(module) == sorted(numactl) == [0, 1]
    for node, facts in numactl.items():
        cpus = facts["cpus"]
        assert module[node]["cpus"] == f"{cpus[0]}-{cpus[-1]}"
        assert module[node]["mem_total_kb"] // 1024 == facts["size_mb"]
        sizes = sorted(h["size_kb"] for h in module[node]["hugepages"])
        assert sizes == [2048, 1048576]


def test_module_nics_match_lspci(host, topology):
    out = host.check_output("lspci -D -n -v -k")
    lspci = {}
    for block in out.strip().split("\n\n"):
        head = re.match(r"^(\S+) (\w{4}): (\w{4}):(\w{4})", block)
        if not head or not head.group(2).startswith("02"):
            continue
        address = head.group(1)
        driver = re.search(r"Kernel driver in use: (\S+)", block)
        numa = re.search(r"NUMA node: (\d+)", block)
        lspci[address] = {
            "vendor_device": f"{head.group(3)}:{head.group(4)}",
            "driver": driver.group(1) if driver else None,
            "numa_node": int(numa.group(1)) if numa else None,
            "iommu_group": None,
        }
    # IOMMU groups from the groups' side of sysfs (the module follows each
    # device's iommu_group link): /sys/kernel/iommu_groups/N/devices/ADDRESS.
    for line in host.check_output("ls -d /sys/kernel/iommu_groups/*/devices/*").split():
        parts = line.split("/")
        if parts[-1] in lspci:
            lspci[parts[-1]]["iommu_group"] = int(parts[4])
    module = {n["address"]: n for n in topology["nics"]}
    assert sorted(module) == sorted(lspci)
    for address, facts in lspci.items():
        nic = module[address]
        assert f"{nic['vendor'].removeprefix('0x')}:{nic['device'].removeprefix('0x')}" == facts["vendor_device"]
        assert nic["driver"] == facts["driver"]
        assert facts["iommu_group"] is not None
        assert nic["iommu_group"] == facts["iommu_group"]
        if facts["numa_node"] is not None:
            assert nic["numa_node"] == facts["numa_node"]
    dataplane = [n for n in topology["nics"] if f"{n['vendor']}:{n['device']}".replace("0x", "") == DATAPLANE_NIC_ID]
    assert len(dataplane) == 1 and dataplane[0]["numa_node"] == 1, dataplane
    # A network interface exists only while the kernel's e1000e driver has the
    # NIC: bound to vfio-pci (after converge) it has none.
    if dataplane[0]["driver"] == "e1000e":
        assert dataplane[0]["netdevs"], "the module found no network interface on the data-plane NIC"
    else:
        assert dataplane[0]["driver"] == "vfio-pci", dataplane
        assert not dataplane[0]["netdevs"], dataplane


def test_module_reads_kernel_state(host, topology):
    assert topology["cmdline"] == read(host, "/proc/cmdline")
    assert topology["kernel_release"] == host.check_output("uname -r")
    assert topology["cpu_vendor"] == "GenuineIntel"
    assert topology["iommu"]["active"] is True
    groups = {g["group"] for g in topology["iommu"]["groups"]}
    assert groups == {int(g) for g in host.check_output("ls /sys/kernel/iommu_groups").split()}
