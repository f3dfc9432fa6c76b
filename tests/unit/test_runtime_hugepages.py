# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bot4-hft-runtime, section hugepages: per-NUMA-node pools with read-back."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "runtime"))
import fakesys  # noqa: E402

NODE = "/sys/devices/system/node/node%d/hugepages/hugepages-%dkB/nr_hugepages"
G1 = 1048576
M2 = 2048


def pools(*entries, **extra):
    cfg = {"pools": [{"node": n, "size_kb": s, "count": c} for n, s, c in entries]}
    cfg.update(extra)
    return {"hugepages": cfg}


@pytest.fixture
def lab(tmp_path, monkeypatch):
    return fakesys.Machine(tmp_path, monkeypatch, "lab-vm")


@pytest.fixture
def metal(tmp_path, monkeypatch):
    return fakesys.Machine(tmp_path, monkeypatch, "metal-2s")


def test_lab_plan_check_reports_only_what_boot_did_not_provide(lab):
    # The lab plan: 1G x1 on node 1 (boot gave it) and 2M x128 on node 0 (runtime).
    code, result = lab.check(pools((1, G1, 1), (0, M2, 128)))
    assert code == 2
    sec = result["sections"]["hugepages"]
    assert sec["status"] == "would_change"
    assert sec["changes"] == [{"path": NODE % (0, M2), "before": "0", "after": "128"}]
    assert lab.kernel.writes == []


def test_lab_plan_apply_then_second_apply_changes_nothing(lab):
    config = pools((1, G1, 1), (0, M2, 128))
    code, result = lab.apply(config)
    assert code == 0, result["msg"]
    assert lab.read(NODE % (0, M2)) == "128"
    assert lab.read(NODE % (1, G1)) == "1"
    assert result["sections"]["hugepages"]["changes"] == [
        {"path": NODE % (0, M2), "before": "0", "after": "128"}
    ]
    rows = {(r["node"], r["size"]): r for r in result["sections"]["hugepages"]["pools"]}
    assert rows[(0, "2M")] == {"node": 0, "size": "2M", "size_kb": M2, "requested": 128, "before": 0, "now": 128,
                               "differs": False, "short": False, "at_boot": False}
    lab.kernel.writes[:] = []
    code, result = lab.apply(config)
    assert code == 0
    assert result["changed"] is False
    assert lab.kernel.writes == []
    assert lab.check(config)[0] == 0


def test_shortfall_fails_loudly_with_requested_and_got_per_node_and_size(lab):
    # As seen in a real guest: hugepages=0:1,1:1 gave node 1 its page, node 0 none,
    # and node 0 cannot find a free gigabyte at runtime either.
    code, result = lab.apply(pools((0, G1, 1), (1, G1, 1), (0, M2, 128)))
    assert code == 1
    assert result["failed"] is True
    sec = result["sections"]["hugepages"]
    assert sec["status"] == "failed"
    assert sec["shortfall"] == [
        {"node": 0, "size": "1G", "size_kb": G1, "requested": 1, "before": 0, "now": 0,
         "differs": True, "short": True, "at_boot": False}
    ]
    message = sec["errors"][0]
    assert "node 0 1G pages: requested 1, got 0" in message
    assert "MemFree 2853 MiB" in message
    assert "node 0 1G pages: requested 1, got 0" in result["msg"]
    # the rest of the plan is still applied
    assert lab.read(NODE % (0, M2)) == "128"
    # it retried once after compacting memory
    assert lab.kernel.compacted == 1
    assert any("retried 1 short pool" in n for n in sec["notices"])


def test_partial_allocation_reports_the_number_got(lab):
    lab.kernel.capacity[(0, M2)] = 100
    code, result = lab.apply(pools((0, M2, 128)))
    assert code == 1
    assert "node 0 2M pages: requested 128, got 100" in result["msg"]
    # what was allocated is reported as a change too
    assert result["sections"]["hugepages"]["changes"] == [
        {"path": NODE % (0, M2), "before": "0", "after": "100"}
    ]


def test_compaction_retry_can_fill_the_pool(lab):
    lab.kernel.capacity[(0, G1)] = 0
    lab.kernel.compaction_gain[(0, G1)] = 1
    code, result = lab.apply(pools((0, G1, 1)))
    assert code == 0, result["msg"]
    assert lab.read(NODE % (0, G1)) == "1"
    assert lab.kernel.paths_written().count(NODE % (0, G1)) == 2


def test_no_reclaim_means_no_retry(lab):
    code, result = lab.apply(pools((0, G1, 1), reclaim=False))
    assert code == 1
    assert lab.kernel.compacted == 0


def test_release_unplanned_frees_leftover_pools_first(metal):
    config = pools((1, G1, 4), release_unplanned=True)
    code, result = metal.check(config)
    assert code == 2
    assert result["sections"]["hugepages"]["changes"] == [
        {"path": NODE % (0, M2), "before": "16", "after": "0"},
        {"path": NODE % (1, G1), "before": "0", "after": "4"},
    ]
    code, result = metal.apply(config)
    assert code == 0
    # the release is written before the allocation
    written = metal.kernel.paths_written()
    assert written.index(NODE % (0, M2)) < written.index(NODE % (1, G1))
    assert metal.read(NODE % (0, M2)) == "0"
    assert metal.check(config)[0] == 0


def test_unplanned_pools_are_left_alone_by_default(metal):
    code, result = metal.apply(pools((1, G1, 4)))
    assert code == 0
    assert metal.read(NODE % (0, M2)) == "16"


def test_unknown_node_or_size_is_an_error_naming_what_exists(lab):
    code, result = lab.check(pools((3, M2, 1)))
    assert code == 1
    assert "NUMA node 3 has no hugepage pools (nodes with pools: 0-1)" in result["msg"]
    code, result = lab.check(pools((0, 16 * 1024 * 1024, 1)))
    assert code == 1
    assert "NUMA node 0 has no 16G hugepage pool (sizes there: 2M, 1G)" in result["msg"]


def test_machine_without_numa_sysfs_uses_the_global_pools(tmp_path, monkeypatch):
    machine = fakesys.Machine(tmp_path, monkeypatch, "lab-vm")
    import shutil
    shutil.rmtree(str(machine.root / "sys/devices/system/node"))
    glob_path = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
    machine.set(glob_path, "0")
    code, result = machine.apply(pools((0, M2, 64)))
    assert code == 0, result["msg"]
    assert machine.read(glob_path) == "64"


@pytest.mark.parametrize(
    "cfg, message",
    [
        ({"pools": [{"node": 0, "size_kb": M2}]}, "hugepages.pools[0].count must be a non-negative integer"),
        ({"pools": [{"node": -1, "size_kb": M2, "count": 1}]}, "hugepages.pools[0].node must be"),
        ({"pools": [{"node": 0, "size_kb": M2, "count": 1}] * 2}, "node 0 2M pages are listed twice"),
        ({"pools": {}}, "hugepages.pools must be a list"),
        ({"pool": []}, "unknown keys pool"),
    ],
)
def test_bad_configuration_is_rejected_before_any_write(lab, cfg, message):
    code, result = lab.apply({"hugepages": cfg})
    assert code == 1
    assert message in result["msg"]
    assert lab.kernel.writes == []


def test_plan_entries_are_accepted_as_they_are(lab):
    # The roles pass the plan's own entries: size, size_kb, node, count, at_boot.
    entry = {"size": "2M", "size_kb": M2, "node": 0, "count": 8, "at_boot": False}
    code, result = lab.apply({"hugepages": {"pools": [entry]}})
    assert code == 0, result["msg"]
    assert lab.read(NODE % (0, M2)) == "8"


def test_check_marks_pools_short_now_and_those_reserved_at_boot(lab):
    # what the hugepages role uses to decide whether only a reboot can help
    config = {"hugepages": {"pools": [
        {"size": "1G", "size_kb": G1, "node": 0, "count": 1, "at_boot": True},
        {"size": "1G", "size_kb": G1, "node": 1, "count": 1, "at_boot": True},
        {"size": "2M", "size_kb": M2, "node": 0, "count": 128, "at_boot": False},
    ]}}
    code, result = lab.check(config)
    assert code == 2
    rows = {(r["node"], r["size"]): (r["short"], r["at_boot"]) for r in result["sections"]["hugepages"]["pools"]}
    assert rows == {(0, "1G"): (True, True), (1, "1G"): (False, True), (0, "2M"): (True, False)}
    code, result = lab.apply(config)
    assert code == 1
    assert [(r["node"], r["size"], r["at_boot"]) for r in result["sections"]["hugepages"]["shortfall"]] == [
        (0, "1G", True)]
