"""Re-tuning runs on the lab VM as a real node: rolling, drain-aware, verified.

Runs on the joined VM after the pinning module (session fixture `tuned`), which
already shows the first run (cordoned and drained for its turn, one reboot,
given back) and the no-op run (nothing changed, never cordoned). Here:

* drift.yml reports settings changed by hand and exits non-zero;
* a run over two nodes whose first one fails (a setting broken by hand, then an
  impossibly low latency limit: the lab profile with latency_gate.max_us 1)
  stops there: that node stays cordoned with the reason in its annotation, and
  the second node is never reached. The second node is a kwok node of the lab
  cluster; its SSH side is the same lab VM, so the preflight of both reads a
  real topology;
* the next good run takes the failed node through verify and the gate again
  (no reboot: nothing in its boot state differs) and gives it back. It runs with
  `--tags verify,latency_gate` (re-check and give back, no tuning task), as an
  operator does after fixing a limit: the failed run has repaired the node
  already, and the pinning module's no-op run shows that the tuning roles
  change nothing on a tuned node;
* drift.yml on the clean node reports nothing and exits 0.

test_node_tuning_change.py runs next: the profile change, then untune.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest
import yaml

from conftest import (CORDON_TASK, REPO, UNCORDON_TASK, boots, node_object, node_ready, run_playbook, run_tune,
                      task_section)

GROUP_VARS = REPO / "inventories" / "lab" / "group_vars" / "hft_nodes.yml"
ANNOTATION = "hft.bot4.io/tuning"
SYSCTL = "/proc/sys/kernel/numa_balancing"
WORKQUEUE = "/sys/devices/virtual/workqueue/cpumask"
# The tasks of a tuning role that carry the `always` tag: argument and plan checks.
ALWAYS_TAGGED = re.compile(r"Validating arguments against arg spec |Check that the plan has what this role renders$"
                           r"|Check that the OS family is supported$|Read the OS family$|Load the OS family's variables$")


def run_drift(vm, label: str, expect_rc: int) -> dict:
    report_dir = vm.inventory.parent / f"drift-{label}"
    run = run_playbook(vm, "drift.yml", f"drift-{label}", "-e", f"drift_report_dir={report_dir}",
                       "-e", f"node_picture_dir={report_dir / 'pictures'}", expect_rc=expect_rc)
    run["report"] = json.loads((report_dir / "drift.json").read_text())
    run["text"] = (report_dir / "drift.txt").read_text()
    run["pictures"] = report_dir / "pictures"
    return run


def picture_texts(path) -> list[str]:
    """Every text of a node picture (SVG)."""
    return ["".join(t.itertext()) for t in ET.parse(path).getroot().iter("{http://www.w3.org/2000/svg}text")]


def break_node(vm) -> None:
    """Change a planned sysctl and the unbound workqueues' CPU mask by hand.

    (An IRQ's affinity is not used: irqbalance, which runs with the isolated
    CPUs banned, moves a hand-set IRQ back within seconds.)
    """
    vm.ssh(f"sysctl -qw kernel.numa_balancing=1; echo ff > {WORKQUEUE}")


@pytest.fixture(scope="module")
def fleet_inventory(joined_vm, tuned):
    """The VM first, then a kwok node of the same cluster as the next node in the rolling order."""
    vm = joined_vm
    kwok = sorted(n["metadata"]["name"] for n in vm.cluster.kubectl_json("get", "nodes")["items"]
                  if n["metadata"]["name"] != vm.node)
    assert kwok, "the lab cluster has no kwok node"
    hosts = yaml.safe_load(vm.inventory.read_text())
    group = hosts["all"]["children"]["hft_nodes"]["hosts"]
    group["next-node"] = {**group[vm.node], "hft_node_name": kwok[0]}
    path = vm.inventory.parent / "fleet.yml"
    path.write_text(yaml.safe_dump(hosts, sort_keys=False))
    return {"path": path, "next": kwok[0]}


def test_drift_reports_hand_changes_and_fails(joined_vm, tuned):
    break_node(joined_vm)
    run = run_drift(joined_vm, "broken", expect_rc=2)
    report = run["report"]
    assert report["drifted"] == [joined_vm.node], report
    items = report["nodes"][0]["items"]
    assert any(i["area"] == "sysctl" and i["item"] == SYSCTL for i in items), items
    assert any(i["area"] == "workqueue" and i["item"] == WORKQUEUE for i in items), items
    assert SYSCTL in run["text"] and "difference(s)" in run["text"]
    # The node's picture names the same differences; the fleet's page links it.
    texts = picture_texts(run["pictures"] / f"{joined_vm.node}.svg")
    assert f"{len(items)} differences from its plan" in texts, texts
    assert any(t.startswith(f"[sysctl] {SYSCTL}: ") for t in texts), texts
    assert f'href="{joined_vm.node}.html"' in (run["pictures"] / "index.html").read_text()
    # Check mode: the drift run changed nothing on the node.
    assert joined_vm.ssh(f"cat {SYSCTL}").strip() == "1"


def test_failed_node_stops_the_run_and_stays_cordoned(joined_vm, tuned, fleet_inventory):
    vm = joined_vm
    before = boots(vm)
    next_before = node_object(vm, fleet_inventory["next"])
    # The gate's limit is the profile's: the lab profile with latency_gate.max_us 1.
    profile = yaml.safe_load(GROUP_VARS.read_text())["hft_profile"]
    profile.setdefault("latency_gate", {})["max_us"] = 1
    run = run_tune(vm, "failed-gate", profile=profile, inventory=fleet_inventory["path"], expect_rc=2)
    out = run["stdout"]
    assert "latency gate failed" in out, out[-3000:]
    # The node was cordoned for its turn and repaired before the gate failed.
    assert "changed:" in task_section(out, CORDON_TASK)
    assert vm.ssh(f"cat {SYSCTL}").strip() == "0"
    assert boots(vm) == before, "a sysctl and the workqueue mask need no reboot"
    # What the failed run wrote is kept as the collection's own (an untune restores it).
    written = task_section(out, "Keep in the node's manifest what each recorded path holds after the failed run")
    assert "ok:" in written or "changed:" in written, written
    now = node_object(vm)
    assert now["spec"].get("unschedulable") is True
    reason = now["metadata"]["annotations"][ANNOTATION]
    assert reason.startswith("failed at") and "latency" in reason.lower(), reason
    # The next node was never reached: only the preflight ran on it, and its
    # Node object is as it was.
    tune_play = out.split("PLAY [Tune the HFT nodes", 1)[1]
    assert "[next-node]" not in tune_play.split("PLAY RECAP", 1)[0]
    assert run["recaps"]["next-node"]["changed"] == 0
    next_now = node_object(vm, fleet_inventory["next"])
    assert next_now["spec"].get("unschedulable") == next_before["spec"].get("unschedulable")
    assert ANNOTATION not in next_now["metadata"].get("annotations", {})
    latency = json.loads((REPO / ".cache" / "latency" / f"{vm.node}.json").read_text())
    assert not latency["passed"] and int(latency["max_us_limit"]) == 1, latency


def test_next_good_run_gives_the_failed_node_back(joined_vm, tuned):
    vm = joined_vm
    before = boots(vm)
    run = run_tune(vm, "after-failure", "--tags", "verify,latency_gate")
    out = run["stdout"]
    # The tuning roles still validate their arguments and the plan (tasks tagged
    # `always`), but none of their tasks that reads or changes the node runs.
    ran = re.findall(r"^TASK \[bot4\.hft\.(housekeeping|cpu_power|dpdk) : (.*?)\] \*", out, re.M)
    applied = [f"{role}: {task}" for role, task in ran if not ALWAYS_TAGGED.match(task)]
    assert ran and not applied, f"tuning tasks ran with --tags verify,latency_gate: {applied}"
    for task in (CORDON_TASK, UNCORDON_TASK):
        assert "changed:" in task_section(out, task), task
    assert "TASK [bot4.hft.verify : " in out.split("TASK [bot4.hft.node_drain : Wait for the node to be Ready]", 1)[1]
    assert boots(vm) == before
    now = node_object(vm)
    assert not now["spec"].get("unschedulable")
    assert ANNOTATION not in now["metadata"].get("annotations", {})
    assert node_ready(vm)
    latency = json.loads((REPO / ".cache" / "latency" / f"{vm.node}.json").read_text())
    assert latency["passed"] and latency["per_cpu"], latency


def test_drift_on_a_clean_node_reports_nothing(joined_vm, tuned):
    run = run_drift(joined_vm, "clean", expect_rc=0)
    assert run["report"]["drifted"] == [] and run["report"]["nodes"][0]["items"] == []
    assert "in its plan" in picture_texts(run["pictures"] / f"{joined_vm.node}.svg")
