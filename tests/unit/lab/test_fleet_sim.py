"""The simulated node of lab/fleet/fleetctl.py: its tree and its reboot, the
one simulated step (docs/fleet.md)."""

import json
import sys
from pathlib import Path

import pytest

FLEET_DIR = Path(__file__).resolve().parents[3] / "lab" / "fleet"
if str(FLEET_DIR) not in sys.path:
    sys.path.insert(0, str(FLEET_DIR))

import fleetctl  # noqa: E402


def read(root, rel):
    return (root / rel).read_text().strip()


@pytest.fixture
def node(tmp_path):
    root = tmp_path / "fleet-node-001"
    fleetctl.build_node(root, "xeon2s")
    return root


def test_a_new_node_booted_once_from_its_own_grub_cfg(node):
    assert fleetctl.load_sim(node)["boots"] == 1
    assert read(node, "proc/cmdline").startswith("BOOT_IMAGE=/boot/vmlinuz-")
    assert " ro quiet" in read(node, "proc/cmdline")
    assert read(node, "sys/devices/system/cpu/isolated") == ""
    assert read(node, "sys/devices/system/cpu/nohz_full") == "(null)"
    assert read(node, "proc/1/status").endswith("Cpus_allowed_list:\t0-63")


def test_the_reboot_boots_the_new_arguments_and_systemd_affinity(node):
    (node / "etc/default/grub.d/90-bot4-hft.cfg").write_text(
        'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT isolcpus=managed_irq,domain,2-31 '
        'nohz_full=2-31 hugepagesz=2M hugepages=0:8,1:4"\n')
    (node / "etc/systemd/system.conf.d").mkdir(parents=True)
    (node / "etc/systemd/system.conf.d/90-bot4-hft.conf").write_text("[Manager]\nCPUAffinity=0 1 32 33\n")
    (node / "etc/systemd/system/system.slice.d").mkdir(parents=True)
    (node / "etc/systemd/system/system.slice.d/90-bot4-hft.conf").write_text("[Slice]\nAllowedCPUs=0 1\n")
    (node / "proc/sys/kernel/numa_balancing").write_text("0\n")
    fleetctl.subprocess.run([sys.executable, str(fleetctl.MKCONFIG), "--root", str(node),
                             "-o", str(node / "boot/grub/grub.cfg")], check=True)
    record = fleetctl.boot(node)
    assert record["boots"] == 2 and record["boot_unit"] == "not enabled"
    assert "isolcpus=managed_irq,domain,2-31" in read(node, "proc/cmdline").split()
    assert read(node, "sys/devices/system/cpu/isolated") == "2-31"
    assert read(node, "sys/devices/system/cpu/nohz_full") == "2-31"
    hp = "sys/devices/system/node/node%d/hugepages/hugepages-2048kB/nr_hugepages"
    assert (read(node, hp % 0), read(node, hp % 1)) == ("8", "4")
    assert read(node, "proc/1/status").endswith("Cpus_allowed_list:\t0-1,32-33")
    assert read(node, "sys/fs/cgroup/system.slice/cpuset.cpus.effective") == "0-1"
    assert read(node, "sys/fs/cgroup/user.slice/cpuset.cpus.effective") == "0-63"
    # A reboot gives the kernel's runtime state back as the node starts with it.
    assert read(node, "proc/sys/kernel/numa_balancing") == "1"


def test_faults(node):
    record = fleetctl.load_sim(node)
    record["faults"] = {"never_back": True}
    fleetctl.save_sim(node, record)
    before = read(node, "proc/cmdline")
    with pytest.raises(fleetctl.SimulationFault, match="did not come back"):
        fleetctl.boot(node)
    assert fleetctl.load_sim(node)["boots"] == 1 and read(node, "proc/cmdline") == before
    record["faults"] = {"boot_sysctl": "kernel.numa_balancing=0", "latency_us": 250}
    fleetctl.save_sim(node, record)
    assert fleetctl.boot(node)["boots"] == 2
    assert read(node, "proc/sys/kernel/numa_balancing") == "0"
    result = fleetctl.latency(node, "2-3")
    assert json.loads(read(node, "run/bot4-hft-latency.json")) == result
    assert [t["max"] for t in result["thread"].values()] == [250, 250]


def test_an_unknown_fault_is_refused(node, capsys):
    assert fleetctl.main(["fault", str(node), "--set", "slow=1"]) == 2
    assert "unknown fault 'slow'" in capsys.readouterr().err


def test_a_fleet_has_at_least_one_node(tmp_path):
    with pytest.raises(SystemExit, match="at least one node"):
        fleetctl.build_fleet(tmp_path, 0)
