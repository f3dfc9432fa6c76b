"""Re-tuning runs on the lab VM as a real node: rolling, drain-aware, verified.

Runs after test_node_pinning.py on the same joined VM (session fixture
`joined_vm`): a no-op run touches nothing; drift.yml reports settings changed
by hand and exits non-zero, and nothing on a clean node; a run that has
something to repair cordons the node only during its turn and uncordons it
after verify and the latency gate; a run whose gate fails stops with the node
cordoned and the reason on it, and the next good run gives it back; last,
untune_nodes.yml removes the tuning and boots the node once with the kernel
arguments it had before any tuning.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO
from test_node_pinning import boots, run_tune

ANNOTATION = "hft.bot4.io/tuning"


def node(vm) -> dict:
    return vm.cluster.kubectl_json("get", "node", vm.node)


def run_drift(vm, label: str) -> tuple[int, dict, str]:
    venv_bin = Path(sys.executable).parent
    report_dir = vm.inventory.parent / f"drift-{label}"
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_NOCOLOR="1", PATH=f"{venv_bin}:{os.environ.get('PATH', '')}")
    started = time.monotonic()
    proc = subprocess.run(
        [str(venv_bin / "ansible-playbook"), "-i", str(vm.inventory),
         str(REPO / "playbooks" / "drift.yml"), "-e", f"drift_report_dir={report_dir}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1800, check=False)
    print(f"\ndrift.yml ({label}): rc {proc.returncode} in {time.monotonic() - started:.0f}s",
          file=sys.stderr)
    report = json.loads((report_dir / "drift.json").read_text())
    return proc.returncode, report, proc.stdout


def break_node(vm) -> dict:
    """Change a planned sysctl and the unbound workqueues' CPU mask by hand.

    (An IRQ's affinity is not used: irqbalance, which runs with the isolated
    CPUs banned, moves a hand-set IRQ back within seconds.)
    """
    vm.ssh("sysctl -qw kernel.numa_balancing=1; echo ff > /sys/devices/virtual/workqueue/cpumask")
    return {"sysctl": "/proc/sys/kernel/numa_balancing",
            "workqueue": "/sys/devices/virtual/workqueue/cpumask"}


@pytest.fixture(scope="module")
def settled(joined_vm):
    """The VM tuned to the group's profile (a first run, or a no-op after the pinning tests)."""
    return run_tune(joined_vm, "settle")


def tune(vm, label, *args):
    return run_tune(vm, label, *args)


def test_noop_run_changes_nothing_and_never_cordons(joined_vm, settled):
    before = boots(joined_vm)
    run = tune(joined_vm, "noop")
    assert run["recap"]["changed"] == 0, run["stdout"][-3000:]
    assert "TASK [Cordon the node and record why]" in run["stdout"]
    cordon = run["stdout"].split("TASK [Cordon the node and record why]", 1)[1].split("TASK [", 1)[0]
    assert "skipping:" in cordon, cordon
    assert boots(joined_vm) == before
    assert not node(joined_vm)["spec"].get("unschedulable")


def test_drift_reports_hand_changes_and_fails(joined_vm, settled):
    broken = break_node(joined_vm)
    rc, report, out = run_drift(joined_vm, "broken")
    assert rc != 0, out[-2000:]
    assert report["drifted"] == [joined_vm.node]
    items = report["nodes"][0]["items"]
    assert any(i["area"] == "sysctl" and i["item"] == broken["sysctl"] for i in items), items
    assert any(i["area"] == "workqueue" and i["item"] == broken["workqueue"] for i in items), items
    text = (joined_vm.inventory.parent / "drift-broken" / "drift.txt").read_text()
    assert broken["sysctl"] in text and "difference(s)" in text


def test_repair_run_cordons_only_during_its_turn(joined_vm, settled):
    before = boots(joined_vm)
    run = tune(joined_vm, "repair")
    assert run["recap"]["changed"] > 0
    for task in ("Cordon the node and record why", "Uncordon the node and clear the annotation"):
        section = run["stdout"].split(f"TASK [{task}]", 1)[1].split("TASK [", 1)[0]
        assert "changed:" in section, (task, section)
    assert "TASK [bot4.hft.latency_gate : Measure latency" in run["stdout"]
    assert boots(joined_vm) == before, "a sysctl and an IRQ need no reboot"
    now = node(joined_vm)
    assert not now["spec"].get("unschedulable")
    assert ANNOTATION not in now["metadata"].get("annotations", {})
    result = json.loads((REPO / ".cache" / "latency" / f"{joined_vm.node}.json").read_text())
    assert result["passed"] and result["per_cpu"], result


def test_drift_clean_node_exits_zero(joined_vm, settled):
    rc, report, out = run_drift(joined_vm, "clean")
    assert rc == 0, out[-3000:]
    assert report["drifted"] == [] and report["nodes"][0]["items"] == []


def test_failed_gate_stops_the_run_and_leaves_the_node_cordoned(joined_vm, settled):
    break_node(joined_vm)
    venv = Path(sys.executable).parent
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [str(venv / "ansible-playbook"), "-i", str(joined_vm.inventory),
         str(REPO / "playbooks" / "tune_nodes.yml"),
         "-e", f"hft_kubeconfig={joined_vm.cluster.kubeconfig}", "-e", "latency_gate_max_us=1"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=3600, check=False)
    assert proc.returncode != 0, proc.stdout[-3000:]
    assert "latency gate failed" in proc.stdout
    now = node(joined_vm)
    assert now["spec"].get("unschedulable") is True
    reason = now["metadata"]["annotations"][ANNOTATION]
    assert reason.startswith("failed at") and "latency" in reason.lower(), reason

    # The next good run takes the node through verify and the gate again and gives it back.
    tune(joined_vm, "after-failure")
    now = node(joined_vm)
    assert not now["spec"].get("unschedulable")
    assert ANNOTATION not in now["metadata"].get("annotations", {})


def test_untune_restores_the_original_kernel_arguments(joined_vm, settled):
    vm = joined_vm
    before = boots(vm)
    venv = Path(sys.executable).parent
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [str(venv / "ansible-playbook"), "-i", str(vm.inventory),
         str(REPO / "playbooks" / "untune_nodes.yml"), "-e", f"hft_kubeconfig={vm.cluster.kubeconfig}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=3600, check=False)
    (vm.inventory.parent / "untune.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert boots(vm) == before + 1, "untune reboots exactly once"
    assert vm.ssh("cat /proc/cmdline").strip() == vm.original_cmdline
    assert vm.ssh("cat /sys/devices/system/cpu/isolated").strip() == ""
    assert vm.ssh("systemctl is-enabled bot4-hft-runtime.service 2>&1 || true").strip() != "enabled"
    config = vm.ssh("cat /var/lib/kubelet/config.yaml")
    assert "cpuManagerPolicy" not in config and "cgroupDriver: systemd" in config
    state = vm.ssh("systemctl is-active kubelet; systemctl show kubelet -p NRestarts --value").split()
    assert state == ["active", "0"], state
    now = node(vm)
    assert not now["spec"].get("unschedulable")
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in now["status"]["conditions"])
    driver = vm.ssh("basename $(readlink /sys/bus/pci/devices/0000:81:00.0/driver)").strip()
    assert driver == "e1000e"
