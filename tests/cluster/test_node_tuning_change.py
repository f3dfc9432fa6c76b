"""A profile change on the tuned, joined lab VM, then untune (runs after test_node_rolling.py).

* The change is first made in deferred mode (hft_tune_mode=deferred, for a
  maintenance window): the run writes the boot-time state (GRUB drop-in, the
  boot unit's configuration, the kubelet's configuration for its next start)
  and records a pending reboot, but it does not cordon, drain or reboot the
  node, and what runs is untouched: the kernel command line, the isolated
  set, the IRQ and workqueue masks, PID 1's CPUs and the running kubelet (same
  process, no restart). drift.yml then reports the node "pending reboot" and
  exits 0. The run in the default mode below completes it.
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

from conftest import (CORDON_TASK, DRAIN_TASK, REPO, UNCORDON_TASK, boots, node_object, node_ready, node_snapshot,
                      node_suite_scratch, run_node_suite, run_playbook, run_tune, task_section, wait_until)

# The node suite's profile helpers (the same change as molecule's side_effect).
_spec = importlib.util.spec_from_file_location("bot4_node_profiles", REPO / "molecule" / "node" / "tests" / "profiles.py")
node_profiles = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(node_profiles)


def boot_id(vm) -> str:
    return vm.ssh("cat /proc/sys/kernel/random/boot_id").strip()


# What runs on the node, read in one SSH call: a deferred run leaves all of it as it was.
RUNNING = {
    "cmdline": "cat /proc/cmdline",
    "isolated": "cat /sys/devices/system/cpu/isolated",
    "workqueue": "cat /sys/devices/virtual/workqueue/cpumask",
    "irq default": "cat /proc/irq/default_smp_affinity",
    "pid 1": "grep Cpus_allowed_list /proc/1/status",
    "kubelet": "systemctl show kubelet -p MainPID -p NRestarts -p ActiveState",
    "cpu manager policy": "grep -o '\"policyName\":\"[a-z]*\"' /var/lib/kubelet/cpu_manager_state",
    "boot id": "cat /proc/sys/kernel/random/boot_id",
}


def running_state(vm) -> dict:
    marker = "==bot4-hft=="
    out = vm.ssh(f"; echo {marker}; ".join(RUNNING.values()))
    parts = [part.strip() for part in out.split(marker)]
    assert len(parts) == len(RUNNING), out
    return dict(zip(RUNNING, parts))


@pytest.fixture(scope="module")
def deferred(joined_vm, tuned):
    """The profile change in deferred mode: boot-time state written, nothing that runs changed."""
    vm = joined_vm
    profile = node_profiles.changed_profile()
    plan_dir = vm.inventory.parent / "plans-deferred"
    before = {"state": running_state(vm), "boots": boots(vm)}
    run = run_tune(vm, "profile-change-deferred", "-e", "hft_tune_mode=deferred",
                   "-e", f"preflight_plan_dir={plan_dir}", profile=profile)
    after = {"state": running_state(vm), "boots": boots(vm)}
    plan = json.loads((plan_dir / f"{vm.node}.json").read_text())["plan"]
    # drift.yml against the same (changed) profile
    report_dir = vm.inventory.parent / "drift-deferred"
    drift = run_playbook(vm, "drift.yml", "drift-deferred", "-e", f"drift_report_dir={report_dir}",
                         "-e", f"node_picture_dir={report_dir / 'pictures'}", profile=profile)
    drift["report"] = json.loads((report_dir / "drift.json").read_text())
    drift["text"] = (report_dir / "drift.txt").read_text()
    return {"run": run, "before": before, "after": after, "plan": plan, "drift": drift}


def test_deferred_change_writes_the_boot_state_and_changes_nothing_that_runs(joined_vm, deferred):
    vm, run, plan = joined_vm, deferred["run"], deferred["plan"]
    assert run["recap"]["failed"] == 0 and run["recap"]["changed"] > 0, run["recap"]
    assert f"PENDING REBOOT on {vm.node}" in run["stdout"]
    # Not cordoned, drained or rebooted; the kubelet and the kernel run as before.
    assert f"TASK [{CORDON_TASK}" not in run["stdout"] or "changed:" not in task_section(run["stdout"], CORDON_TASK)
    assert f"TASK [{DRAIN_TASK}" not in run["stdout"] or "changed:" not in task_section(run["stdout"], DRAIN_TASK)
    assert deferred["after"]["boots"] == deferred["before"]["boots"]
    assert deferred["after"]["state"] == deferred["before"]["state"]
    assert not node_object(vm)["spec"].get("unschedulable")
    # Written for the next boot: the new kernel arguments and the kubelet's next start.
    nohz_full = f"nohz_full={plan['cpu']['isolated']}"
    assert nohz_full in vm.ssh("cat /etc/default/grub.d/90-bot4-hft.cfg").replace('"', " ").split()
    assert nohz_full not in deferred["after"]["state"]["cmdline"].split(), deferred["after"]["state"]["cmdline"]
    config = yaml.safe_load(vm.ssh("cat /var/lib/kubelet/config.yaml"))
    assert config["reservedSystemCPUs"] == plan["cpu"]["reserved"], config
    record = json.loads(vm.ssh("cat /etc/bot4-hft/tuned.json"))
    assert record["pending_reboot"] is True
    assert record["boot_id"] == deferred["before"]["state"]["boot id"]


def test_drift_reports_the_deferred_node_pending_its_reboot(joined_vm, deferred):
    report = deferred["drift"]["report"]
    assert report["drifted"] == [] and report["pending_reboot"] == [joined_vm.node], report
    entry = report["nodes"][0]
    assert entry["status"] == "pending reboot" and entry["boot_state"] == [], entry
    assert entry["items"] and entry["at_reboot"] == entry["items"]
    areas = {item["area"] for item in entry["items"]}
    assert "kernel args" in areas, areas
    assert f"{joined_vm.node}: pending reboot (" in deferred["drift"]["text"]


@pytest.fixture(scope="module")
def changed(joined_vm, tuned, deferred):
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
