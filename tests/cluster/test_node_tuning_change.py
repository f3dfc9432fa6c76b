"""A profile change on the tuned, joined lab VM, then untune (runs after test_node_rolling.py).

* The node group's profile changes (molecule/node/vars/profile_change.yml:
  another reserved and isolated set, the other isolation mode, no DPDK
  device): a tuning run cordons and drains the node, reboots it exactly once
  (a new boot id, one more kernel banner on the serial console), gives the NIC
  back to its kernel driver, moves the kubelet to the new reserved CPUs and
  gives the node back. The node suite then checks the new state from inside
  (its `changed` phase).
* Last, untune_nodes.yml puts back what the node's manifest recorded and boots
  the node once with the kernel arguments it had before any tuning. The node
  then has the same files, kernel arguments, sysctls and sysfs values as before
  its first tuning run (tests/cluster/node_snapshot.py, taken when the VM had
  just joined).
"""

from __future__ import annotations

import importlib.util
import json

import pytest
import yaml

from conftest import (CORDON_TASK, REPO, UNCORDON_TASK, boots, node_object, node_ready, node_snapshot,
                      node_suite_scratch, run_node_suite, run_playbook, run_tune, task_section, wait_until)

# The node suite's profile helpers (the same change as molecule's side_effect).
_spec = importlib.util.spec_from_file_location("bot4_node_profiles", REPO / "molecule" / "node" / "tests" / "profiles.py")
node_profiles = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(node_profiles)


def boot_id(vm) -> str:
    return vm.ssh("cat /proc/sys/kernel/random/boot_id").strip()


@pytest.fixture(scope="module")
def changed(joined_vm, tuned):
    vm = joined_vm
    profile = node_profiles.changed_profile()
    plan_dir = vm.inventory.parent / "plans-changed"
    ids = {"before": boot_id(vm), "boots_before": boots(vm)}
    run = run_tune(vm, "profile-change", "-e", f"preflight_plan_dir={plan_dir}", profile=profile)
    wait_until(lambda: node_ready(vm), timeout=600, interval=5, what="the node Ready after the change")
    ids.update(after=boot_id(vm), boots_after=boots(vm))
    # What the node suite's test_profile_change_rebooted_exactly_once reads.
    (node_suite_scratch(vm, "changed") / f"boot-ids-{vm.node}.json").write_text(json.dumps(ids))
    plan = json.loads((plan_dir / f"{vm.node}.json").read_text())["plan"]
    return {"run": run, "ids": ids, "plan_dir": plan_dir, "plan": plan}


def test_profile_change_reboots_once_and_gives_the_node_back(joined_vm, changed):
    vm, run, ids = joined_vm, changed["run"], changed["ids"]
    assert run["recap"]["failed"] == 0 and run["recap"]["changed"] > 0
    assert ids["boots_after"] - ids["boots_before"] == 1, ids
    assert ids["after"] != ids["before"], ids
    for task in (CORDON_TASK, UNCORDON_TASK):
        assert "changed:" in task_section(run["stdout"], task), task
    now = node_object(vm)
    assert not now["spec"].get("unschedulable")
    assert "hft.bot4.io/tuning" not in now["metadata"].get("annotations", {})
    # The kubelet follows the new reserved set, with a healthy restart.
    config = yaml.safe_load(vm.ssh("cat /var/lib/kubelet/config.yaml"))
    assert config["reservedSystemCPUs"] == changed["plan"]["cpu"]["reserved"], config
    state = json.loads(vm.ssh("cat /var/lib/kubelet/cpu_manager_state"))
    assert state["policyName"] == "static", state
    assert vm.ssh("systemctl is-active kubelet; systemctl show kubelet -p NRestarts --value").split() == [
        "active", "0"]


def test_node_suite_after_the_profile_change(joined_vm, changed):
    """From inside: the new isolated set and isolation mode, the NIC given back
    to e1000e with nothing of the DPDK setup left, exactly one more reboot."""
    counts = run_node_suite(joined_vm, "changed", changed["plan_dir"])
    assert counts["tests"] >= 25, counts


def snapshot_differences(before: dict, after: dict, sysctls) -> list[str]:
    """What differs between two node snapshots: every file and value, and the given sysctls."""
    out = []
    for part in ("files", "values"):
        for key in sorted(set(before[part]) | set(after[part])):
            if before[part].get(key) != after[part].get(key):
                out.append(f"{key}: {before[part].get(key, 'absent')} -> {after[part].get(key, 'absent')}")
    for key in sorted(sysctls):
        if before["sysctl"].get(key) != after["sysctl"].get(key):
            out.append(f"sysctl {key}: {before['sysctl'].get(key)} -> {after['sysctl'].get(key)}")
    return out


def test_untune_restores_the_original_kernel_arguments(joined_vm, tuned):
    vm = joined_vm
    before = boots(vm)
    run = run_playbook(vm, "untune_nodes.yml", "untune")
    assert "Put back every path the collection wrote" in run["stdout"]
    assert boots(vm) == before + 1, "untune reboots exactly once"
    wait_until(lambda: node_ready(vm), timeout=600, interval=5, what="the node Ready after untune")
    assert vm.ssh("cat /proc/cmdline").strip() == vm.original_cmdline
    assert vm.ssh("cat /sys/devices/system/cpu/isolated").strip() == ""
    assert vm.ssh("systemctl is-enabled bot4-hft-runtime.service 2>&1 || true").strip() != "enabled"
    config = yaml.safe_load(vm.ssh("cat /var/lib/kubelet/config.yaml"))
    assert "cpuManagerPolicy" not in config and config["cgroupDriver"] == "systemd", config
    state = vm.ssh("systemctl is-active kubelet; systemctl show kubelet -p NRestarts --value").split()
    assert state == ["active", "0"], state
    assert not node_object(vm)["spec"].get("unschedulable")
    driver = vm.ssh("basename $(readlink /sys/bus/pci/devices/0000:81:00.0/driver)").strip()
    assert driver == "e1000e"
    assert vm.ssh("test -e /var/lib/bot4-hft && echo left || echo gone").strip() == "gone"


def test_a_tuned_then_untuned_node_is_the_node_from_before(joined_vm, tuned):
    """Same files (below /etc, /usr/local, /boot/grub, the kubelet's configuration),
    kernel arguments, sysfs values and sysctls as before the first tuning run."""
    plan = json.loads((tuned["plan_dir"] / f"{joined_vm.node}.json").read_text())["plan"]
    after = node_snapshot(joined_vm)
    assert len(joined_vm.original_snapshot["files"]) > 1000 and len(after["values"]) > 20, after["values"]
    differences = snapshot_differences(joined_vm.original_snapshot, after, plan["runtime"]["sysctl"])
    assert differences == [], "\n".join(differences)
