# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bot4-hft-runtime, sections irq, workqueue and rps: housekeeping on reserved CPUs."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "runtime"))
import fakesys  # noqa: E402

RESERVED = "0-1,4-5"
LAB_IRQ = {"irq": {"default_cpus": RESERVED, "cpus": RESERVED}}


@pytest.fixture
def lab(tmp_path, monkeypatch):
    return fakesys.Machine(tmp_path, monkeypatch, "lab-vm")


@pytest.fixture
def metal(tmp_path, monkeypatch):
    return fakesys.Machine(tmp_path, monkeypatch, "metal-2s")


def affinity(machine, irq):
    return machine.read("/proc/irq/%d/smp_affinity_list" % irq)


def isolated_irqs(machine, isolated, skip=()):
    bad = []
    for path in sorted((machine.root / "proc/irq").glob("*/smp_affinity_list")):
        irq = int(path.parent.name)
        cpus = set(machine.applier.parse_cpulist(path.read_text()))
        if irq not in skip and cpus & set(isolated):
            bad.append(irq)
    return bad


# ----------------------------------------------------------------------- irq
def test_irq_check_lists_every_move_and_writes_nothing(lab):
    code, result = lab.check(LAB_IRQ)
    assert code == 2
    sec = result["sections"]["irq"]
    changes = {c["path"]: (c["before"], c["after"]) for c in sec["changes"]}
    assert changes["/proc/irq/default_smp_affinity"] == ("ff", "33")
    # an IRQ on all CPUs keeps its reserved part
    assert changes["/proc/irq/0/smp_affinity_list"] == ("0-7", "0-1,4-5")
    # one on an isolated CPU only (virtio0-config) moves to the whole reserved set
    assert changes["/proc/irq/29/smp_affinity_list"] == ("2", "0-1,4-5")
    # one partly reserved keeps its reserved CPUs (NUMA locality of a NIC queue)
    assert changes["/proc/irq/1/smp_affinity_list"] == ("0-3", "0-1")
    # already inside the reserved set: untouched (16, and the managed queue IRQ 30 on CPU 4)
    assert "/proc/irq/16/smp_affinity_list" not in changes
    assert "/proc/irq/30/smp_affinity_list" not in changes
    # in check mode nothing is known about managed IRQs yet: they are listed too
    assert changes["/proc/irq/32/smp_affinity_list"] == ("6", "0-1,4-5")
    assert lab.kernel.writes == []


def test_irq_apply_moves_everything_but_managed_irqs_and_counts_them(lab):
    code, result = lab.apply(LAB_IRQ)
    assert code == 0, result["msg"]
    sec = result["sections"]["irq"]
    assert sec["status"] == "changed"
    # the virtio-blk queue IRQs on isolated CPUs (32, 33, 36, 37) are managed:
    # EIO, skipped and counted; those on reserved CPUs are never written.
    assert sec["managed_skipped"] == 4
    assert sec["managed_irqs"] == [32, 33, 36, 37]
    assert any("4 managed IRQ(s)" in n for n in sec["notices"])
    assert sec["errors"] == []
    assert isolated_irqs(lab, [2, 3, 6, 7], skip={32, 33, 36, 37}) == []
    assert affinity(lab, 32) == "6"
    assert lab.applier.parse_mask(lab.read("/proc/irq/default_smp_affinity")) == [0, 1, 4, 5]
    assert sec["irqs_total"] == 32
    assert sec["irqs_moved"] == len(sec["changes"]) - 1  # minus default_smp_affinity


def test_irq_second_apply_and_check_report_no_change(lab):
    lab.apply(LAB_IRQ)
    lab.kernel.writes[:] = []
    code, result = lab.check(LAB_IRQ)
    # the managed IRQs learnt in this boot are not reported again
    assert code == 0, result["sections"]["irq"]["changes"]
    assert result["sections"]["irq"]["managed_skipped"] == 4
    code, result = lab.apply(LAB_IRQ)
    assert code == 0
    assert result["changed"] is False
    # apply retries the managed ones (an IRQ number can be reused) but changes nothing
    assert sorted(set(lab.kernel.paths_written())) == [
        "/proc/irq/%d/smp_affinity_list" % irq for irq in (32, 33, 36, 37)]


def test_managed_irq_memory_is_per_boot(lab):
    lab.apply(LAB_IRQ)
    state = lab.root / "run/bot4-hft/managed-irqs.json"
    assert json.loads(state.read_text())["irqs"] == [32, 33, 36, 37]
    lab.set("/proc/sys/kernel/random/boot_id", "another-boot")
    code, result = lab.check(LAB_IRQ)
    assert code == 2
    assert [c["path"] for c in result["sections"]["irq"]["changes"]] == [
        "/proc/irq/%d/smp_affinity_list" % irq for irq in (32, 33, 36, 37)]


def test_irq_policy_replace_uses_the_whole_reserved_set(lab):
    code, result = lab.apply({"irq": {"cpus": RESERVED, "policy": "replace"}})
    assert code == 0
    assert affinity(lab, 1) == "0-1,4-5"


def test_other_write_errors_fail_the_section_with_the_irq(lab, monkeypatch):
    import errno
    original = lab.applier.Context.write

    def write(ctx, path, value):
        if path == "/proc/irq/9/smp_affinity_list":
            raise OSError(errno.EINVAL, "Invalid argument")
        return original(ctx, path, value)

    monkeypatch.setattr(lab.applier.Context, "write", write)
    code, result = lab.apply(LAB_IRQ)
    assert code == 1
    assert "/proc/irq/9/smp_affinity_list: writing '0-1' failed: Invalid argument" in result["msg"]


def test_wide_masks_on_a_40_cpu_machine(metal):
    reserved = "0,20"
    code, result = metal.apply({"irq": {"default_cpus": reserved, "cpus": reserved},
                                "workqueue": {"cpus": reserved}})
    assert code == 0, result["msg"]
    assert metal.read("/proc/irq/default_smp_affinity") == "00,00100001"
    assert metal.read("/sys/devices/virtual/workqueue/cpumask") == "00,00100001"
    assert affinity(metal, 40) == "0"
    assert affinity(metal, 41) == "0,20"
    code, result = metal.check({"irq": {"default_cpus": reserved, "cpus": reserved},
                                "workqueue": {"cpus": reserved}})
    assert code == 0


@pytest.mark.parametrize(
    "cfg, message",
    [
        ({"cpus": ""}, "irq.cpus is empty"),
        ({"cpus": "0-x"}, "irq.cpus: invalid cpulist"),
        ({"cpus": RESERVED, "policy": "spread"}, "irq.policy must be intersect or replace"),
        ({"cpu": RESERVED}, "unknown keys cpu"),
    ],
)
def test_bad_irq_configuration(lab, cfg, message):
    code, result = lab.apply({"irq": cfg})
    assert code == 1
    assert message in result["msg"]
    assert lab.kernel.writes == []


# ----------------------------------------------------------------- workqueue
def test_workqueue_cpumask_check_apply_idempotent(lab):
    config = {"workqueue": {"cpus": RESERVED}}
    code, result = lab.check(config)
    assert code == 2
    # the global mask first: a workqueue's own mask must lie inside it
    assert result["sections"]["workqueue"]["changes"] == [
        {"path": "/sys/devices/virtual/workqueue/cpumask", "before": "ff", "after": "33"},
        {"path": "/sys/devices/virtual/workqueue/writeback/cpumask", "before": "ff", "after": "33"}]
    code, result = lab.apply(config)
    assert code == 0
    assert lab.read("/sys/devices/virtual/workqueue/cpumask") == "33"
    assert lab.read("/sys/devices/virtual/workqueue/writeback/cpumask") == "33"
    assert lab.check(config)[0] == 0
    lab.kernel.writes[:] = []
    assert lab.apply(config)[1]["changed"] is False
    assert lab.kernel.writes == []


def test_workqueue_missing_on_old_kernels_is_a_notice(lab):
    (lab.root / "sys/devices/virtual/workqueue/cpumask").unlink()
    code, result = lab.apply({"workqueue": {"cpus": RESERVED}})
    assert code == 0
    assert result["sections"]["workqueue"]["status"] == "skipped"
    assert "does not exist on this kernel" in result["sections"]["workqueue"]["notices"][0]


# ----------------------------------------------------------------------- rps
def test_rps_masks_of_every_rx_queue_but_loopback(lab):
    config = {"rps": {"cpus": RESERVED}}
    code, result = lab.check(config)
    assert code == 2
    paths = [c["path"] for c in result["sections"]["rps"]["changes"]]
    assert paths == [
        "/sys/class/net/enp0s3/queues/rx-0/rps_cpus",
        "/sys/class/net/enp129s0/queues/rx-0/rps_cpus",
    ]
    code, result = lab.apply(config)
    assert code == 0
    assert lab.read("/sys/class/net/enp129s0/queues/rx-0/rps_cpus") == "33"
    assert lab.read("/sys/class/net/lo/queues/rx-0/rps_cpus") == "00"
    # transmit queues are not touched
    assert lab.read("/sys/class/net/enp129s0/queues/tx-0/xps_cpus") == "00"
    assert result["sections"]["rps"]["rx_queues"] == 2
    assert lab.check(config)[0] == 0


def test_rps_include_and_exclude_patterns(lab):
    code, result = lab.apply({"rps": {"cpus": RESERVED, "include": ["enp*"], "exclude": ["enp0s*"]}})
    assert code == 0
    assert [c["path"] for c in result["sections"]["rps"]["changes"]] == [
        "/sys/class/net/enp129s0/queues/rx-0/rps_cpus",
    ]
    assert lab.read("/sys/class/net/enp0s3/queues/rx-0/rps_cpus") == "00"


def test_rps_without_queues_is_a_notice(lab):
    code, result = lab.apply({"rps": {"cpus": RESERVED, "include": ["nothing*"]}})
    assert code == 0
    assert result["sections"]["rps"]["notices"] == [
        "no receive queue with rps_cpus found (no matching interface, or a kernel without RPS)"]
