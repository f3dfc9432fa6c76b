# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Deferred tuning on a simulated fleet (hft_tune_mode=deferred, docs/fleet.md).

Three simulated nodes (one of each machine shape), each with a kwok Node of
the same name and two pods in the session's lab cluster:

1. a mode other than immediate or deferred, or a profile that needs a
   package installed (kernel.realtime, kernel.realtime_scheduling: stalld) on
   nodes seen below a root, stops the run before anything changes on any node;
2. a deferred run over the fleet writes the boot-time state of every node
   (GRUB drop-in and grub.cfg, the applier, its configuration, its boot unit
   enabled) and the record of a pending reboot, and changes nothing that runs:
   the kernel's runtime files (sysctls, IRQ and workqueue affinities, THP,
   hugepage pools), PID 1's status and the slices' cpusets are byte for byte
   what they were; no node is cordoned or rebooted;
3. drift.yml reports every node "pending reboot" and exits 0; a GRUB drop-in
   changed by hand on a pending node makes drift.yml fail for that node;
4. after the simulated reboot of one node (fleetctl.py reboot ROOT, which runs
   the boot unit), drift.yml reports it in line with its plan, and a default
   run takes the fast path on it (nothing changed, not cordoned, not
   rebooted) while the nodes still pending are tuned as usual (one reboot
   each); drift.yml then finds the whole fleet in line with its plans.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from test_fleet import ANNOTATION, FLEETCTL, node, playbook, sim, simulated_fleet

NODES = 3
# Names apart from test_fleet.py's fleet, whose kwok Nodes may still be going.
PREFIX = "fleet-deferred-"
DROPIN = "etc/default/grub.d/90-bot4-hft.cfg"
RECORD = "etc/bot4-hft/tuned.json"


@pytest.fixture(scope="module")
def fleet(lab_cluster, tmp_path_factory):
    yield from simulated_fleet(lab_cluster, tmp_path_factory.mktemp("fleet-deferred"), NODES, "fleet-deferred",
                               name_prefix=PREFIX)


def runtime_state(fleet, name: str) -> dict:
    """What runs on the node, as its files show it: the kernel's runtime files
    (sysctls, IRQ and workqueue affinities, THP, hugepage pools, CPU power),
    the kernel's command line and isolated sets, PID 1's status and the
    slices' cpusets, and the boot id."""
    root = fleet["root"][name]
    state = fleet["fleetctl"].kernel_state(root)
    for rel in ("proc/cmdline", "proc/1/status", "sys/devices/system/cpu/isolated",
                "sys/devices/system/cpu/nohz_full", "proc/sys/kernel/random/boot_id"):
        state[rel] = (root / rel).read_text()
    for path in sorted((root / "sys/fs/cgroup").rglob("*")):
        if path.is_file():
            state[path.relative_to(root).as_posix()] = path.read_text()
    return state


def record(fleet, name: str) -> dict:
    return json.loads((fleet["root"][name] / RECORD).read_text())


def drift(fleet, label: str) -> tuple[dict, dict, str]:
    run = playbook(fleet, "drift.yml", label)
    report = json.loads((fleet["dir"] / "drift" / "drift.json").read_text())
    text = (fleet["dir"] / "drift" / "drift.txt").read_text()
    return run, report, text


def pods(fleet, lab_cluster) -> dict:
    """uid -> node of the fleet's pods: an evicted pod comes back with another uid."""
    items = lab_cluster.kubectl_json("get", "pods", "-n", fleet["namespace"])["items"]
    return {p["metadata"]["uid"]: p["spec"].get("nodeName") for p in items}


def cordoned(lab_cluster, name: str) -> bool:
    obj = node(lab_cluster, name)
    return bool(obj["spec"].get("unschedulable")) or ANNOTATION in obj["metadata"].get("annotations", {})


def assert_untouched(fleet, lab_cluster, before: dict) -> None:
    for name in fleet["names"]:
        root = fleet["root"][name]
        assert not (root / "etc/bot4-hft").exists() and not (root / DROPIN).exists(), name
        assert runtime_state(fleet, name) == before[name], name
        assert sim(fleet, name)["boots"] == 1
        assert not cordoned(lab_cluster, name), name


def test_a_bad_tune_mode_changes_nothing(fleet, lab_cluster):
    before = {name: runtime_state(fleet, name) for name in fleet["names"]}
    run = playbook(fleet, "tune_nodes.yml", "bad-mode", "-e", "hft_tune_mode=tonight")
    assert run["rc"] != 0
    assert 'hft_tune_mode must be immediate (tune now) or deferred' in run["stdout"], run["stdout"][-3000:]
    assert 'got "tonight"' in run["stdout"]
    assert_untouched(fleet, lab_cluster, before)


@pytest.mark.parametrize("setting", ["realtime", "realtime_scheduling"])
def test_a_package_below_a_root_is_refused_before_anything_changes(fleet, lab_cluster, setting):
    """No package manager runs for a node seen below a root: preflight refuses the profile."""
    before = {name: runtime_state(fleet, name) for name in fleet["names"]}
    profile = dict(fleet["fleetctl"].FLEET_PROFILE, kernel={setting: True})
    extra = fleet["dir"] / f"profile-{setting}.json"
    extra.write_text(json.dumps({"hft_profile": profile}))
    run = playbook(fleet, "tune_nodes.yml", f"package-{setting}", "-e", f"@{extra}")
    assert run["rc"] != 0
    assert "where no package can be installed for it; kernel.realtime and kernel.realtime_scheduling (stalld) " \
        "need a real node" in " ".join(run["stdout"].split()), run["stdout"][-3000:]
    for name in fleet["names"]:
        assert run["recaps"][name]["failed"] == 1 and run["recaps"][name]["changed"] == 0, run["recaps"][name]
    assert_untouched(fleet, lab_cluster, before)


def test_deferred_run_then_reboot(fleet, lab_cluster):
    names = fleet["names"]
    before = {name: runtime_state(fleet, name) for name in names}
    pods_before = pods(fleet, lab_cluster)

    # 2. The deferred run: the boot-time state written, nothing that runs changed.
    run = playbook(fleet, "tune_nodes.yml", "deferred", "-e", "hft_tune_mode=deferred", "-e", "hft_tune_batch=100%")
    assert run["rc"] == 0, run["stdout"][-4000:]
    assert run["stdout"].count("PENDING REBOOT on") == NODES
    for name in names:
        root = fleet["root"][name]
        assert run["recaps"][name]["changed"] > 0, (name, run["recaps"][name])
        changed = sorted(k for k in before[name] if runtime_state(fleet, name).get(k) != before[name][k])
        assert not changed, (name, changed[:20])
        assert runtime_state(fleet, name) == before[name], name
        assert sim(fleet, name)["boots"] == 1, f"{name} rebooted"
        assert not cordoned(lab_cluster, name), f"{name} was cordoned"
        assert "isolcpus=" in (root / DROPIN).read_text()
        assert "isolcpus=" in (root / "boot/grub/grub.cfg").read_text()
        assert (root / "usr/local/sbin/bot4-hft-runtime").is_file()
        assert (root / "etc/systemd/system/multi-user.target.wants/bot4-hft-runtime.service").is_symlink()
        fragments = sorted(p.name for p in (root / "etc/bot4-hft/runtime.d").iterdir())
        assert {"10-hugepages.json", "50-housekeeping.json"} <= set(fragments), fragments
        assert (root / "etc/systemd/system.conf.d/90-bot4-hft.conf").is_file()
        assert (root / "etc/sysctl.d/90-bot4-hft.conf").is_file()
        rec = record(fleet, name)
        assert rec["pending_reboot"] is True and rec["manifest"] is True and rec["node"] == name
        assert rec["boot_id"] == before[name]["proc/sys/kernel/random/boot_id"].strip()
        assert len(rec["plan_sha256"]) == 64
    # Never drained: the same pods on the same nodes.
    assert pods(fleet, lab_cluster) == pods_before

    # 3. Drift: every node pending its reboot, no failure.
    run, report, text = drift(fleet, "drift-pending")
    assert run["rc"] == 0, run["stdout"][-4000:]
    assert report["drifted"] == [] and sorted(report["pending_reboot"]) == sorted(names), report["drifted"]
    for entry in report["nodes"]:
        assert entry["status"] == "pending reboot" and entry["pending_reboot"] is True, entry["host"]
        assert entry["items"] and entry["boot_state"] == [] and entry["at_reboot"] == entry["items"]
    for name in names:
        assert f"{name}: pending reboot (" in text, text[:2000]

    # A pending node whose boot-time state was changed by hand is not pending: drift fails for it.
    hand = fleet["root"][names[2]] / DROPIN
    original = hand.read_text()
    hand.write_text(original.replace(" nosoftlockup", ""))
    run, report, text = drift(fleet, "drift-hand-edit")
    assert run["rc"] != 0
    assert report["drifted"] == [names[2]], report["drifted"]
    assert sorted(report["pending_reboot"]) == sorted(names[:2])
    edited = next(e for e in report["nodes"] if e["host"] == names[2])
    assert edited["status"] == "differs" and edited["pending_reboot"] is True
    # the drop-in to write again, and grub.cfg to regenerate from it
    assert {(i["area"], i["item"]) for i in edited["boot_state"]} == {("kernel args", "bootloader configuration")}
    assert any(DROPIN in i["actual"] for i in edited["boot_state"]), edited["boot_state"]
    assert f"{names[2]}: {len(edited['items'])} difference(s); pending reboot, but {len(edited['boot_state'])} " \
        "in its boot-time state" in text, text[:3000]
    hand.write_text(original)

    # 4. The simulated reboot of one node: its boot unit applies the runtime state.
    rebooted, pending = names[0], names[1:]
    proc = subprocess.run([sys.executable, str(FLEETCTL), "reboot", str(fleet["root"][rebooted])],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"boots": 2, "boot_unit": "success"}
    run, report, text = drift(fleet, "drift-rebooted")
    assert run["rc"] == 0, run["stdout"][-4000:]
    assert report["drifted"] == [] and sorted(report["pending_reboot"]) == sorted(pending)
    assert f"{rebooted}: in line with its plan" in text

    # A default run: the fast path on the rebooted node; the pending ones are tuned as usual.
    run = playbook(fleet, "tune_nodes.yml", "complete", "-e", "hft_tune_batch=100%")
    assert run["rc"] == 0, run["stdout"][-4000:]
    assert run["recaps"][rebooted]["changed"] == 0, run["recaps"][rebooted]
    assert sim(fleet, rebooted)["boots"] == 2
    # never drained (the others were, so their pods are new)
    assert {uid for uid, on in pods(fleet, lab_cluster).items() if on == rebooted} == \
        {uid for uid, on in pods_before.items() if on == rebooted}
    assert not cordoned(lab_cluster, rebooted)
    assert "pending_reboot" not in record(fleet, rebooted) and "boot_id" not in record(fleet, rebooted)
    for name in pending:
        assert sim(fleet, name)["boots"] == 2, f"{name}: not tuned with one reboot"
        assert not cordoned(lab_cluster, name), f"{name} still cordoned"
        assert "pending_reboot" not in record(fleet, name)
    run, report, text = drift(fleet, "drift-complete")
    assert run["rc"] == 0, run["stdout"][-4000:]
    assert report["drifted"] == [] and report["pending_reboot"] == []
    assert all(e["status"] == "in plan" for e in report["nodes"]), text
