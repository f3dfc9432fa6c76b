"""The rolling runs on a simulated fleet (lab/fleet/fleetctl.py, docs/fleet.md).

Six simulated nodes (the fixtures' machine shapes: two-socket with SMT,
single-socket without, a CPU-less NUMA node), each with a kwok Node of the same
name and two pods in the session's lab cluster. tune_nodes.yml, drift.yml and
untune_nodes.yml run unchanged, with `hft_tune_batch: 50%` (three nodes per
batch), and the faults the rolling run promises to handle:

1. batch 1 fails three ways at once: a node that never comes back from its
   reboot, one whose verify fails after the reboot, one whose drain a
   PodDisruptionBudget blocks. The run stops: each failed node stays cordoned
   with its reason in hft.bot4.io/tuning; batch 2 is untouched (not cordoned,
   nothing written below its root, never rebooted);
2. the next run (faults gone, one node of batch 2 over the latency limit)
   resumes: batch 1 is tuned and given back; in batch 2 the two other nodes
   are tuned and the slow one stays cordoned with the gate's reason;
3. the next run gives that node back without a reboot; every other node takes
   the fast path (nothing changed, never cordoned, never rebooted);
4. drift.yml finds the fleet in line with its plans; untune_nodes.yml puts
   every node back on its original kernel arguments with one more reboot.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import REPO, ansible_env, wait_until

FLEETCTL = REPO / "lab" / "fleet" / "fleetctl.py"
NODES = 6
ANNOTATION = "hft.bot4.io/tuning"


def load_fleetctl():
    """lab/fleet/fleetctl.py (a script) as a module."""
    sys.path.insert(0, str(FLEETCTL.parent))
    import fleetctl
    return fleetctl


def simulated_fleet(lab_cluster, directory: Path, count: int, namespace_prefix: str, name_prefix: str | None = None):
    """``count`` simulated nodes below ``directory`` (names from fleetctl, or
    ``name_prefix``), each with a kwok Node of the same name and two pods in a
    namespace of their own; yields the fleet, then deletes the pods, while kwok
    still runs their nodes, and the nodes."""
    fleetctl = load_fleetctl()
    with pytest.MonkeyPatch.context() as patch:
        if name_prefix:
            patch.setattr(fleetctl, "NAME_PREFIX", name_prefix)
        hosts = fleetctl.build_fleet(directory, count, str(lab_cluster.kubeconfig))
        names = [fleetctl.node_name(i) for i in range(1, count + 1)]
    version = lab_cluster.kubectl_json("version")["serverVersion"]["gitVersion"]
    namespace = f"{namespace_prefix}-{uuid.uuid4().hex[:6]}"
    lab_cluster.apply(fleetctl.kwok_objects(names, version, pods_per_node=2, namespace=namespace))

    def pods_running():
        pods = lab_cluster.kubectl_json("get", "pods", "-n", namespace)["items"]
        return set(names) <= {p["spec"].get("nodeName") for p in pods if p["status"].get("phase") == "Running"}

    wait_until(pods_running, 120, what="two pods running on every fleet node")
    yield {"fleetctl": fleetctl, "dir": directory, "hosts": hosts, "names": names, "namespace": namespace,
           "root": {name: directory / "nodes" / name for name in names}}
    lab_cluster.kubectl("delete", "namespace", namespace, "--timeout=120s", check=False)
    lab_cluster.kubectl("delete", "node", *names, "--wait=false", check=False)


@pytest.fixture(scope="module")
def fleet(lab_cluster, tmp_path_factory):
    yield from simulated_fleet(lab_cluster, tmp_path_factory.mktemp("fleet"), NODES, "fleet")


def playbook(fleet, name: str, label: str, *args: str) -> dict:
    venv_bin = Path(sys.executable).parent
    started = time.monotonic()
    proc = subprocess.run(
        [str(venv_bin / "ansible-playbook"), "-i", str(fleet["hosts"]), str(REPO / "playbooks" / name),
         "-e", f"node_picture_dir={fleet['dir'] / 'pictures'}", "-e", f"drift_report_dir={fleet['dir'] / 'drift'}",
         *args],
        cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=1200, check=False)
    elapsed = time.monotonic() - started
    (fleet["dir"] / f"{label}.log").write_text(proc.stdout + proc.stderr)
    print(f"\n{name} ({label}): rc {proc.returncode} in {elapsed:.0f}s", file=sys.stderr)
    recaps = {host: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
              for host, counts in re.findall(r"^(\S+)\s*:\s*(ok=.*)$", proc.stdout.split("PLAY RECAP")[-1],
                                             re.MULTILINE)}
    return {"rc": proc.returncode, "recaps": recaps, "stdout": proc.stdout}


def sim(fleet, name: str) -> dict:
    return fleet["fleetctl"].load_sim(fleet["root"][name])


def set_faults(fleet, name: str, **faults) -> None:
    record = sim(fleet, name)
    record["faults"] = faults
    fleet["fleetctl"].save_sim(fleet["root"][name], record)


def node(lab_cluster, name: str) -> dict:
    return lab_cluster.kubectl_json("get", "node", name)


def held(lab_cluster, name: str) -> str | None:
    """The node's tuning annotation when it is cordoned, else None."""
    obj = node(lab_cluster, name)
    if not obj["spec"].get("unschedulable"):
        return None
    return obj["metadata"].get("annotations", {}).get(ANNOTATION, "")


def cmdline(fleet, name: str) -> str:
    return (fleet["root"][name] / "proc/cmdline").read_text().strip()


def untouched(fleet, lab_cluster, name: str) -> None:
    root = fleet["root"][name]
    assert sim(fleet, name)["boots"] == 1, f"{name} rebooted"
    assert not (root / "etc/bot4-hft").exists() and not (root / "var/lib/bot4-hft").exists(), (
        f"{name}: the collection wrote below its root")
    assert not list((root / "etc/default/grub.d").iterdir()), f"{name}: a GRUB drop-in"
    assert not node(lab_cluster, name)["spec"].get("unschedulable"), f"{name} was cordoned"


def tuned(fleet, lab_cluster, name: str) -> None:
    root = fleet["root"][name]
    record = json.loads((root / "etc/bot4-hft/tuned.json").read_text())
    assert record["node"] == name and record["manifest"] is True
    assert "isolcpus=" in cmdline(fleet, name)
    assert (root / "sys/devices/system/cpu/isolated").read_text().strip()
    assert sim(fleet, name)["boot_unit"] == "success"
    obj = node(lab_cluster, name)
    assert not obj["spec"].get("unschedulable"), f"{name} still cordoned"
    assert ANNOTATION not in obj["metadata"].get("annotations", {}), obj["metadata"].get("annotations")


def test_fleet_rolling_runs(fleet, lab_cluster):
    names = fleet["names"]
    first, second = names[:3], names[3:]
    original = {name: cmdline(fleet, name) for name in names}

    # 1. Batch 1 fails three ways; batch 2 is never reached.
    set_faults(fleet, names[0], never_back=True)
    set_faults(fleet, names[1], boot_sysctl="kernel.numa_balancing=1")
    lab_cluster.apply({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                       "metadata": {"name": "hold-" + names[2], "namespace": fleet["namespace"]},
                       "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"fleet-node": names[2]}}}})
    run = playbook(fleet, "tune_nodes.yml", "faults", "-e", "hft_tune_batch=50%", "-e", "hft_drain_timeout=5")
    assert run["rc"] == 2, run["stdout"][-4000:]
    for name in first:
        assert run["recaps"][name]["rescued"] == 1, (name, run["recaps"][name])
    reasons = {name: held(lab_cluster, name) for name in first}
    assert "did not come back" in reasons[names[0]], reasons
    assert "planned state" in reasons[names[1]] and "kernel/numa_balancing" in reasons[names[1]], reasons
    assert "Drain the node" in reasons[names[2]], reasons
    assert sim(fleet, names[0])["boots"] == 1 and sim(fleet, names[1])["boots"] == 2
    assert sim(fleet, names[2])["boots"] == 1
    for name in second:
        untouched(fleet, lab_cluster, name)

    # 2. The next run resumes; one node of batch 2 is over the latency limit.
    for name in first:
        set_faults(fleet, name)
    lab_cluster.kubectl("delete", "pdb", "-n", fleet["namespace"], "hold-" + names[2])
    set_faults(fleet, names[4], latency_us=5_000_000)
    run = playbook(fleet, "tune_nodes.yml", "resume", "-e", "hft_tune_batch=50%")
    assert run["rc"] == 2, run["stdout"][-4000:]
    for name in first + [names[3], names[5]]:
        tuned(fleet, lab_cluster, name)
    assert "latency gate failed" in held(lab_cluster, names[4]), held(lab_cluster, names[4])
    # The node whose verify failed booted into its plan already: no second reboot.
    assert [sim(fleet, name)["boots"] for name in first] == [2, 2, 2]

    # 3. The gate passes now: that node is given back without a reboot; the
    # others take the fast path.
    set_faults(fleet, names[4])
    boots = {name: sim(fleet, name)["boots"] for name in names}
    run = playbook(fleet, "tune_nodes.yml", "clean", "-e", "hft_tune_batch=50%")
    assert run["rc"] == 0, run["stdout"][-4000:]
    tuned(fleet, lab_cluster, names[4])
    assert {name: sim(fleet, name)["boots"] for name in names} == boots
    for name in names:
        if name != names[4]:
            assert run["recaps"][name]["changed"] == 0, (name, run["recaps"][name])

    # 4. Drift, then untune.
    run = playbook(fleet, "drift.yml", "drift")
    assert run["rc"] == 0, run["stdout"][-4000:]
    report = json.loads((fleet["dir"] / "drift" / "drift.json").read_text())
    assert report["drifted"] == [] and len(report["nodes"]) == NODES, report
    run = playbook(fleet, "untune_nodes.yml", "untune", "-e", "hft_tune_batch=100%")
    assert run["rc"] == 0, run["stdout"][-4000:]
    for name in names:
        assert cmdline(fleet, name) == original[name]
        assert sim(fleet, name)["boots"] == boots[name] + 1
        assert not (fleet["root"][name] / "etc/bot4-hft").exists()
        assert not list((fleet["root"][name] / "etc/default/grub.d").iterdir())
