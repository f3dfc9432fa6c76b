# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bot4-hft-runtime, section sweep: running user-space threads off the
isolated CPUs, the kubelet's pods and the deny list left alone, through the
kernel thread section's writer (Section._affinity, task "user")."""

import sys
from pathlib import Path

import pytest

from ansible_collections.bot4.hft.plugins.module_utils.cpuset import parse_cpulist
from ansible_collections.bot4.hft.plugins.module_utils.node.core import Context, Section
from ansible_collections.bot4.hft.plugins.module_utils.node.sweep import decide_sweep, read_sweep, section_sweep

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "runtime"))
import fakesys  # noqa: E402

RESERVED = "0-1,4-5"
CONFIG = {"cpus": RESERVED, "keep_cgroups": ["kubepods"], "deny": ["dpdk*", "lcore-*", "*pmd*", "qemu*"]}
SYSTEM = "0::/system.slice/foo.service"
POD = "0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-1.scope"


def task_files(files, base, pid, comm, cpus, kthread=False, tgid=None):
    flags = 0x00200000 if kthread else 0x00400000
    files[base + "/stat"] = "%d (%s) S 1 %d %d 0 -1 %d 0 0" % (pid, comm, pid, pid, flags)
    files[base + "/status"] = "Name:\t%s\nTgid:\t%d\nCpus_allowed_list:\t%s" % (comm, tgid or pid, cpus)


def node(tmp_path):
    """A process with three threads (one a DPDK lcore), a pod's process, a
    kernel thread, and a process already on the reserved CPUs."""
    files = {}

    def proc(pid, comm, cpus, cgroup, threads=(), kthread=False):
        task_files(files, "proc/%d" % pid, pid, comm, cpus, kthread)
        files["proc/%d/cgroup" % pid] = cgroup
        task_files(files, "proc/%d/task/%d" % (pid, pid), pid, comm, cpus, kthread)
        for tid, tcomm, tcpus in threads:
            task_files(files, "proc/%d/task/%d" % (pid, tid), tid, tcomm, tcpus, tgid=pid)
            task_files(files, "proc/%d" % tid, tid, tcomm, tcpus, tgid=pid)  # /proc/TID, not listed by the kernel

    proc(300, "engine", "0-7", SYSTEM, threads=[(301, "worker", "2-3"), (302, "lcore-worker-3", "3")])
    proc(400, "app", "2-3", POD)
    proc(500, "kworker/u16:1", "0-7", "", kthread=True)
    proc(600, "sshd", RESERVED, SYSTEM)
    proc(700, "testpmd", "6-7", SYSTEM)
    return fakesys.build_tree(tmp_path / "root", {"files": files})


def settings():
    return dict(CONFIG, cpus=parse_cpulist(RESERVED))


def test_read_lists_user_threads_only(tmp_path):
    current = read_sweep(Context(str(node(tmp_path)), True, "/run/bot4-hft"), settings())
    assert [(t["pid"], t["tid"], t["comm"]) for t in current["threads"]] == [
        (300, 300, "engine"), (300, 301, "worker"), (300, 302, "lcore-worker-3"), (400, 400, "app"),
        (600, 600, "sshd"), (700, 700, "testpmd")]


def test_decide_moves_strays_and_leaves_pods_and_the_deny_list(tmp_path):
    current = read_sweep(Context(str(node(tmp_path)), True, "/run/bot4-hft"), settings())
    decision = decide_sweep(settings(), current)
    assert [(a["pid"], a["comm"], a["before"], a["after"], a["task"]) for a in decision["actions"]] == [
        (300, "engine", "0-7", "0-1,4-5", "user"),
        (301, "worker", "2-3", "0-1,4-5", "user"),  # none of its CPUs reserved: all of them
    ]
    assert decision["data"]["threads_kept_cgroups"] == 1
    assert [(d["pid"], d["comm"]) for d in decision["data"]["threads_denied"]] == [
        (302, "lcore-worker-3"), (700, "testpmd")]


def test_an_offline_cpu_in_a_threads_allowed_set_does_not_count():
    # CPU 7 taken offline by cpu_offline: a thread allowed on 0-1,4-5 and 7
    # runs on the reserved CPUs only; one allowed on 6-7 still moves.
    current = {"online": [0, 1, 2, 3, 4, 5, 6], "threads": [
        {"pid": 800, "tid": 800, "comm": "chronyd", "process": "chronyd", "cgroup": SYSTEM, "cpus": "0-1,4-5,7"},
        {"pid": 801, "tid": 801, "comm": "agent", "process": "agent", "cgroup": SYSTEM, "cpus": "6-7"}]}
    decision = decide_sweep(settings(), current)
    assert [(a["comm"], a["after"]) for a in decision["actions"]] == [("agent", RESERVED)]
    decision = decide_sweep(settings(), dict(current, online=None))
    assert [a["comm"] for a in decision["actions"]] == ["chronyd", "agent"]


def test_apply_moves_them_and_a_second_run_has_nothing_to_do(tmp_path):
    root = node(tmp_path)
    sec = Section("sweep", Context(str(root), False, "/run/bot4-hft"))
    section_sweep(sec, CONFIG)
    assert sec.errors == [] and sec.data["threads_moved"] == 2
    assert "Cpus_allowed_list:\t0-1,4-5" in (root / "proc/301/status").read_text()
    assert "Cpus_allowed_list:\t2-3" in (root / "proc/400/status").read_text()
    again = Section("sweep", Context(str(root), True, "/run/bot4-hft"))
    section_sweep(again, CONFIG)
    assert again.changes == [] and again.errors == []


def test_the_writer_refuses_a_kernel_thread_under_a_user_thread_action(tmp_path):
    root = node(tmp_path)
    sec = Section("sweep", Context(str(root), False, "/run/bot4-hft"))
    outcomes = sec.carry_out([{"kind": "affinity", "task": "user", "pid": 500, "comm": "kworker/u16:1",
                               "before": "0-7", "after": RESERVED}])
    assert outcomes == ["refused"]
    assert sec.errors == ["pid 500: not changed: it is no longer the user-space thread kworker/u16:1 (the sweep "
                          "section sets the CPUs of user-space threads only)"]
    assert "Cpus_allowed_list:\t0-7" in (root / "proc/500/status").read_text()


@pytest.mark.parametrize("cfg, reason", [
    ({"cpus": ""}, "sweep.cpus is empty"),
    ({"cpus": RESERVED, "deny": "dpdk*"}, "sweep.deny must be a list"),
    ({"cpus": RESERVED, "keep": []}, "unknown keys keep"),
])
def test_bad_settings(tmp_path, cfg, reason):
    sec = Section("sweep", Context(str(node(tmp_path)), True, "/run/bot4-hft"))
    with pytest.raises(Exception, match=reason):
        section_sweep(sec, cfg)
