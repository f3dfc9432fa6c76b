# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bot4-hft-runtime, section kthread: kernel threads that may run anywhere go
to the housekeeping CPUs; per-CPU threads and the ones the kernel keeps
(PF_NO_SETAFFINITY) are left and reported.  On the kernel threads recorded on
a tuned lab VM (fixtures/runtime/lab-vm-kthreads.json: /proc/PID/stat and the
CPU lines of /proc/PID/status of every kernel thread)."""

import json
import sys
from pathlib import Path

import pytest

from ansible_collections.bot4.hft.plugins.module_utils.cpuset import parse_cpulist
from ansible_collections.bot4.hft.plugins.module_utils.node import core
from ansible_collections.bot4.hft.plugins.module_utils.node.core import Context, Section
from ansible_collections.bot4.hft.plugins.module_utils.node.kthread import decide_kthread, read_kthread
from ansible_collections.bot4.hft.plugins.module_utils.node.runner import run

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "runtime"))
import fakesys  # noqa: E402

HERE = Path(__file__).resolve().parent
RESERVED = "0-1,4-5"
ISOLATED = {2, 3, 6, 7}
CONFIG = {"kthread": {"cpus": RESERVED}}


def recorded():
    with open(str(HERE / "fixtures" / "runtime" / "lab-vm-kthreads.json")) as handle:
        return json.load(handle)


@pytest.fixture
def tree(tmp_path):
    return fakesys.build_tree(tmp_path / "root", recorded())


def threads(root):
    ctx = Context(str(root), True, "/run/bot4-hft")
    return {t["pid"]: t for t in read_kthread(ctx, {"cpus": parse_cpulist(RESERVED)})["threads"]}


def cpus(text):
    return set(parse_cpulist(text))


# ------------------------------------------------------------------ decide
def test_the_recorded_node_has_each_kind_of_kernel_thread():
    node = fakesys.RecordedNode(recorded())
    current = read_kthread(node, {"cpus": parse_cpulist(RESERVED)})
    kinds = {"per_cpu": 0, "movable": 0, "kernel_bound": 0}
    for thread in current["threads"]:
        allowed = cpus(thread["cpus"])
        if len(allowed) == 1:
            kinds["per_cpu"] += 1
        elif allowed & ISOLATED:
            kinds["kernel_bound" if thread["no_setaffinity"] else "movable"] += 1
    # what makes the tests below mean something
    assert all(count > 0 for count in kinds.values()), kinds


def test_decide_moves_every_movable_thread_off_the_isolated_cpus():
    node = fakesys.RecordedNode(recorded())
    current = read_kthread(node, {"cpus": parse_cpulist(RESERVED)})
    decision = decide_kthread({"cpus": parse_cpulist(RESERVED)}, current)
    moves = {a["pid"]: a for a in decision["actions"] if a["kind"] == "affinity"}
    assert moves and len(moves) == len(decision["actions"])
    for thread in current["threads"]:
        allowed = cpus(thread["cpus"])
        movable = len(allowed) > 1 and allowed & ISOLATED and not thread["no_setaffinity"]
        assert (thread["pid"] in moves) == bool(movable), thread
        if movable:
            new = cpus(moves[thread["pid"]]["after"])
            # its own housekeeping CPUs (NUMA locality of kcompactd/kswapd), or all of them
            assert new == ((allowed - ISOLATED) or cpus(RESERVED)), (thread, new)
    bound = decision["data"]["kthreads_kernel_bound"]
    assert {t["pid"] for t in bound} == {
        t["pid"] for t in current["threads"]
        if t["no_setaffinity"] and len(cpus(t["cpus"])) > 1 and cpus(t["cpus"]) & ISOLATED}
    assert decision["data"]["kthreads_total"] == len(current["threads"])


def test_a_thread_of_one_numa_node_keeps_its_node_where_it_can():
    current = {"threads": [
        {"pid": 40, "comm": "kcompactd0", "cpus": "0-3", "no_setaffinity": False},
        {"pid": 41, "comm": "kcompactd1", "cpus": "6-7", "no_setaffinity": False},
        {"pid": 42, "comm": "ksoftirqd/3", "cpus": "3", "no_setaffinity": True},
        {"pid": 43, "comm": "kworker/u16:1", "cpus": "0-7", "no_setaffinity": True}]}
    decision = decide_kthread({"cpus": parse_cpulist(RESERVED)}, current)
    assert [(a["comm"], a["after"]) for a in decision["actions"]] == [("kcompactd0", "0-1"), ("kcompactd1", RESERVED)]
    assert decision["data"]["kthreads_per_cpu"] == 1
    assert decision["data"]["kthreads_kernel_bound"] == [{"pid": 43, "comm": "kworker/u16:1", "cpus": "0-7"}]


def test_an_offline_cpu_in_a_threads_allowed_set_does_not_count():
    # After cpu_offline took CPU 7 away: the kernel's housekeeping set (every
    # CPU not in nohz_full) holds 7, and kernel threads created later (the
    # watchdog driver's watchdogd) are allowed on it.  They can run on the
    # reserved CPUs only; one allowed on an online isolated CPU still moves.
    reserved = parse_cpulist("0-1")
    current = {"online": [0, 1, 2, 3, 4, 5, 6], "threads": [
        {"pid": 414, "comm": "watchdogd", "cpus": "0-1,7", "no_setaffinity": False},
        {"pid": 415, "comm": "kcompactd0", "cpus": "0-2,7", "no_setaffinity": False},
        {"pid": 416, "comm": "ksoftirqd/7", "cpus": "7", "no_setaffinity": True}]}
    decision = decide_kthread({"cpus": reserved}, current)
    assert [(a["comm"], a["after"]) for a in decision["actions"]] == [("kcompactd0", "0-1")]
    # with every CPU online (or the online file unknown) CPU 7 counts again
    for online in ([0, 1, 2, 3, 4, 5, 6, 7], None):
        decision = decide_kthread({"cpus": reserved}, dict(current, online=online))
        assert [a["comm"] for a in decision["actions"]] == ["watchdogd", "kcompactd0"], online


def test_a_tuned_node_with_an_offline_cpu_is_left_as_it_is(tmp_path):
    write_task(tmp_path, 414, "watchdogd", core.PF_KTHREAD, "0-1,7")
    online = tmp_path / "sys/devices/system/cpu/online"
    online.parent.mkdir(parents=True)
    online.write_text("0-6\n")
    code, result = run({"kthread": {"cpus": "0-1"}}, [], root=str(tmp_path), check=True)
    assert code == core.EXIT_OK and result["sections"]["kthread"]["changes"] == [], result
    online.write_text("0-7\n")
    code, result = run({"kthread": {"cpus": "0-1"}}, [], root=str(tmp_path), check=True)
    assert code == core.EXIT_WOULD_CHANGE, result


# ------------------------------------------------------- apply, on a tree
def test_apply_moves_them_and_a_second_run_changes_nothing(tree):
    before = threads(tree)
    code, result = run(CONFIG, [], root=str(tree), check=False)
    assert code == core.EXIT_OK, result
    sec = result["sections"]["kthread"]
    assert sec["kthreads_moved"] == len(sec["changes"]) > 0
    after = threads(tree)
    for pid, thread in after.items():
        allowed = cpus(thread["cpus"])
        if len(allowed) > 1 and not thread["no_setaffinity"]:
            assert not allowed & ISOLATED, thread
        if thread["no_setaffinity"] or len(allowed) == 1:
            assert thread["cpus"] == before[pid]["cpus"], thread
    code, again = run(CONFIG, [], root=str(tree), check=True)
    assert code == core.EXIT_OK and again["sections"]["kthread"]["changes"] == [], again


def test_check_mode_lists_the_moves_and_writes_nothing(tree):
    from test_runtime_writer import listing

    snapshot = listing(tree)
    code, result = run(CONFIG, [], root=str(tree), check=True)
    assert code == core.EXIT_WOULD_CHANGE
    changes = result["sections"]["kthread"]["changes"]
    assert changes and all(c["path"].startswith("kernel thread ") for c in changes)
    assert listing(tree) == snapshot


# ---------------------------------------------- the writer's own guard
def write_task(root, pid, comm, flags, allowed):
    base = Path(root) / "proc" / str(pid)
    base.mkdir(parents=True, exist_ok=True)
    (base / "stat").write_text("%d (%s) S 1 1 1 0 -1 %d 0 0 0 0 0 0 0 0 20 0 1 0 1\n" % (pid, comm, flags))
    (base / "status").write_text("Name:\t%s\nCpus_allowed_list:\t%s\n" % (comm, allowed))


def move(pid, comm, after=RESERVED):
    return {"kind": "affinity", "pid": pid, "comm": comm, "before": "0-7", "after": after}


@pytest.mark.parametrize("flags, comm, why", [
    (0x00400100, "sshd", "a user-space process"),
    (core.PF_KTHREAD, "kworker/reused", "another kernel thread now has the pid"),
])
def test_the_writer_refuses_what_is_not_the_planned_kernel_thread(tmp_path, flags, comm, why):
    from test_runtime_writer import listing

    write_task(tmp_path, 700, comm, flags, "0-7")
    snapshot = listing(tmp_path)
    sec = Section("kthread", Context(str(tmp_path), False, "/run/bot4-hft"))
    assert sec.carry_out([move(700, "kcompactd0")]) == [core.REFUSED], why
    assert "no longer the kernel thread kcompactd0" in sec.errors[0]
    assert listing(tmp_path) == snapshot


def test_a_thread_gone_is_not_an_error(tmp_path):
    sec = Section("kthread", Context(str(tmp_path), False, "/run/bot4-hft"))
    (tmp_path / "proc").mkdir()
    assert sec.carry_out([move(701, "kcompactd0")]) == [core.DONE]
    assert not sec.errors and not sec.changes


def test_the_real_machine_is_never_touched_from_a_tree(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(core.os, "sched_setaffinity", lambda *a: calls.append(a), raising=True)
    write_task(tmp_path, 1, "kthreadd", core.PF_KTHREAD, "0-7")
    sec = Section("kthread", Context(str(tmp_path), False, "/run/bot4-hft"))
    assert sec.carry_out([move(1, "kthreadd")]) == [core.DONE]
    assert calls == []
    assert "Cpus_allowed_list:\t0-1,4-5" in (tmp_path / "proc/1/status").read_text()
