# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The applier's writer (Section.carry_out): check mode, read-back, outcomes,
and the directories each section may write, on scratch trees."""

import errno
import hashlib
import os
from pathlib import Path

import pytest

from ansible_collections.bot4.hft.plugins.module_utils.node import core, sysctl
from ansible_collections.bot4.hft.plugins.module_utils.node.core import Context, Section, owned_problem
from ansible_collections.bot4.hft.plugins.module_utils.node.runner import run


def put(root, abspath, content):
    path = Path(root) / abspath.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content + "\n")
    return path


def read(root, abspath):
    return (Path(root) / abspath.lstrip("/")).read_text().strip()


def listing(top):
    """Every entry below ``top``: a file's sha256, a link's target, a directory."""
    result = {}
    for dirpath, dirnames, filenames in os.walk(str(top)):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, str(top))
            if os.path.islink(path):
                result[rel] = "-> " + os.readlink(path)
            elif os.path.isdir(path):
                result[rel] = "dir"
            else:
                with open(path, "rb") as handle:
                    result[rel] = hashlib.sha256(handle.read()).hexdigest()
    return result


def section(root, name="sysctl", check=False):
    return Section(name, Context(str(root), check, "/run/bot4-hft"))


def set_(path, before, after, compare="text", **extra):
    return core.set_action(path, before, after, compare, **extra)


# --------------------------------------------------------------- carry_out
def test_check_mode_records_and_writes_nothing(tmp_path):
    put(tmp_path, "/proc/sys/vm/stat_interval", "1")
    sec = section(tmp_path, check=True)
    assert sec.carry_out([set_("/proc/sys/vm/stat_interval", "1", "10")]) == [core.DONE]
    assert sec.changes == [{"path": "/proc/sys/vm/stat_interval", "before": "1", "after": "10"}]
    assert read(tmp_path, "/proc/sys/vm/stat_interval") == "1"
    assert sec.status() == "would_change"


def test_apply_writes_reads_back_and_records_what_it_reads(tmp_path):
    put(tmp_path, "/proc/sys/net/ipv4/ip_local_port_range", "32768\t60999")
    sec = section(tmp_path)
    path = "/proc/sys/net/ipv4/ip_local_port_range"
    assert sec.carry_out([set_(path, "32768\t60999", "1024 65000", "words")]) == [core.DONE]
    assert sec.changes == [{"path": path, "before": "32768\t60999", "after": "1024 65000"}]
    assert sec.errors == [] and sec.status() == "changed"


def test_read_back_that_differs_is_an_error(tmp_path, monkeypatch):
    put(tmp_path, "/proc/irq/default_smp_affinity", "ff")
    monkeypatch.setattr(Context, "write", lambda ctx, path, value: None)  # the kernel ignores it
    sec = section(tmp_path, "irq")
    outcomes = sec.carry_out([set_("/proc/irq/default_smp_affinity", "ff", "33", "mask")])
    assert outcomes == [core.FAILED]
    assert sec.errors == ["/proc/irq/default_smp_affinity: wrote '33' but it reads 'ff'"]
    assert sec.changes == []


def test_masks_compare_however_wide_the_kernel_prints_them(tmp_path, monkeypatch):
    put(tmp_path, "/sys/devices/virtual/workqueue/cpumask", "ff")
    original = Context.write
    monkeypatch.setattr(Context, "write", lambda ctx, path, value: original(ctx, path, "00,00000033"))
    sec = section(tmp_path, "workqueue")
    assert sec.carry_out([set_("/sys/devices/virtual/workqueue/cpumask", "ff", "33", "mask")]) == [core.DONE]
    assert sec.changes[0]["after"] == "00,00000033"


def test_write_errors_eio_and_stop(tmp_path, monkeypatch):
    for irq in (1, 2, 3):
        put(tmp_path, "/proc/irq/%d/smp_affinity_list" % irq, "0-7")

    def write(ctx, path, value):
        code = {"/proc/irq/1/smp_affinity_list": errno.EIO, "/proc/irq/2/smp_affinity_list": errno.EINVAL}.get(path)
        if code:
            raise OSError(code, os.strerror(code))
        return original(ctx, path, value)

    original = Context.write
    monkeypatch.setattr(Context, "write", write)
    sec = section(tmp_path, "irq")
    actions = [set_("/proc/irq/%d/smp_affinity_list" % irq, "0-7", "0-1", "cpulist", accept_eio=True, stop=True)
               for irq in (1, 2, 3)]
    assert sec.carry_out(actions) == [core.EIO, core.FAILED, core.NOT_RUN]
    assert sec.errors == ["/proc/irq/2/smp_affinity_list: writing '0-1' failed: Invalid argument"]
    assert read(tmp_path, "/proc/irq/3/smp_affinity_list") == "0-7"


def test_messages_and_plain_writes(tmp_path, monkeypatch):
    put(tmp_path, "/proc/sys/vm/drop_caches", "0")
    sec = section(tmp_path, "hugepages")
    outcomes = sec.carry_out([
        {"kind": "notice", "text": "a notice"},
        {"kind": "write", "path": "/proc/sys/vm/drop_caches", "after": "3"},
        {"kind": "write", "path": "/proc/sys/vm/compact_memory", "after": "1", "on_failure": "%(path)s: %(reason)s"},
    ])
    assert outcomes == [core.DONE, core.DONE, core.FAILED]
    assert read(tmp_path, "/proc/sys/vm/drop_caches") == "3"
    # a plain write records nothing in apply mode: the section reads back itself
    assert sec.changes == []
    assert sec.notices == ["a notice", "/proc/sys/vm/compact_memory: No such file or directory"]


# ------------------------------------------------------------ owned paths
@pytest.mark.parametrize("name, resolved", [
    ("sysctl", "/proc/sys/kernel/numa_balancing"),
    ("thp", "/sys/kernel/mm/transparent_hugepage/enabled"),
    ("irq", "/proc/irq/30/smp_affinity_list"),
    ("irq", "/proc/irq/default_smp_affinity"),
    ("workqueue", "/sys/devices/virtual/workqueue/cpumask"),
    ("workqueue", "/sys/bus/workqueue/devices/writeback/cpumask"),
    ("rps", "/sys/devices/pci0000:00/0000:00:03.0/virtio1/net/enp0s3/queues/rx-0/rps_cpus"),
    ("rps", "/sys/devices/virtual/net/lo/queues/rx-0/rps_cpus"),
    ("hugepages", "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages"),
    ("hugepages", "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"),
    ("hugepages", "/proc/sys/vm/compact_memory"),
    ("dpdk", "/sys/devices/pci0000:80/0000:80:00.0/0000:81:00.0/driver_override"),
    ("dpdk", "/sys/devices/platform/soc/40000000.pcie/pci0000:00/0000:00:00.0/driver_override"),
    ("dpdk", "/sys/devices/pci0000:00/0000:00:0e.0/pci10000:e0/10000:e0:00.0/driver_override"),
    ("dpdk", "/sys/bus/pci/drivers/e1000e/unbind"),
    ("dpdk", "/sys/bus/pci/drivers_probe"),
    ("dpdk", "/sys/module/vfio/parameters/enable_unsafe_noiommu_mode"),
    ("cpufreq", "/sys/devices/system/cpu/cpufreq/policy0/scaling_governor"),
    ("cpuidle", "/sys/devices/system/cpu/cpu3/power/pm_qos_resume_latency_us"),
    ("energy_perf_bias", "/sys/devices/system/cpu/cpu3/power/energy_perf_bias"),
])
def test_what_each_section_owns(name, resolved):
    assert owned_problem(name, resolved, resolved) is None


@pytest.mark.parametrize("name, resolved", [
    ("sysctl", "/etc/passwd"),
    ("sysctl", "/proc/sysrq-trigger"),
    ("thp", "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"),
    ("irq", "/proc/sys/kernel/numa_balancing"),
    ("workqueue", "/sys/devices/virtual/net/lo/queues/rx-0/rps_cpus"),
    ("rps", "/sys/devices/system/cpu/cpu0/online"),
    ("rps", "/sys/devices/virtual/workqueue/cpumask"),
    ("hugepages", "/proc/sys/kernel/numa_balancing"),
    ("dpdk", "/sys/devices/system/cpu/cpu0/online"),
    ("dpdk", "/sys/devices/virtual/net/lo/flags"),
    ("cpufreq", "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages"),
    ("cpuidle", "/proc/sys/kernel/numa_balancing"),
    ("energy_perf_bias", "/sys/devices/virtual/workqueue/cpumask"),
])
def test_what_no_section_may_write_elsewhere(name, resolved):
    problem = owned_problem(name, "/some/path", resolved)
    assert problem.startswith("/some/path: not written: it resolves to %s, outside what the %s section may write ("
                              % (resolved, name))


SCRATCH_FILES = {
    "/proc/sys/kernel/numa_balancing": "1",
    "/proc/sys/vm/stat_interval": "1",
    "/etc/passwd": "root:x:0:0:root:/root:/bin/bash",
    "/etc/x": "x",
    "/sys/kernel/mm/transparent_hugepage/enabled": "always [madvise] never",
}
SCRATCH_LINKS = {
    "proc/sys/kernel/relative_link": "../../../etc/x",
    "proc/sys/vm/to_thp": "../../../sys/kernel/mm/transparent_hugepage/enabled",
}


def scratch_node(tmp_path):
    """A scratch root with a few writable files, and a file beside it, outside."""
    root = tmp_path / "root"
    for path, content in SCRATCH_FILES.items():
        put(root, path, content)
    for path, target in SCRATCH_LINKS.items():
        os.symlink(target, str(root / path))
    os.symlink(str(put(tmp_path, "/outside", "outside")), str(root / "proc/sys/kernel/absolute_link"))
    return root


# Names a crafted configuration may hold, bypassing the planner: each climbs
# out of /proc/sys or names no sysctl.  None is read or written.
CRAFTED_SYSCTL_NAMES = (
    "../../etc/passwd",
    "kernel/../../../etc/x",
    "/etc/passwd",
    "/proc/sys/../../etc/x",
    "kernel/./../../../etc/x",
    "..",
    "kernel/..",
    "vm//../../../etc/x",
    "kernel.numa_balancing\n../../etc/x",
    "kernel\\..\\..\\etc\\x",
    "",
)


def test_sysctl_names_that_climb_out_of_proc_sys_change_nothing(tmp_path):
    root = scratch_node(tmp_path)
    before = listing(tmp_path)
    config = {"sysctl": dict.fromkeys(CRAFTED_SYSCTL_NAMES, "evil")}
    # names of the grammar that resolve outside /proc/sys through links: the writer's guard
    config["sysctl"].update({
        "kernel/relative_link": "evil",
        "kernel/absolute_link": "evil",
        "vm/to_thp": "never",
        "kernel.numa_balancing": "0",
    })
    for check in (True, False):
        code, result = run(config, [], root=str(root), check=check)
        assert code == 1
        errors = result["sections"]["sysctl"]["errors"]
        refused = [e for e in errors if "is not a sysctl name" in e]
        assert sorted(refused) == sorted("%r %s (nothing read or written)" % (name, sysctl.sysctl_name_problem(name))
                                         for name in CRAFTED_SYSCTL_NAMES)
        assert [e for e in errors if e not in refused] == [
            "/proc/sys/kernel/absolute_link: not written: it resolves to a path outside the root, outside what "
            "the sysctl section may write (/proc/sys)",
            "/proc/sys/kernel/relative_link: not written: it resolves to /etc/x, outside what the sysctl "
            "section may write (/proc/sys)",
            "/proc/sys/vm/to_thp: not written: it resolves to /sys/kernel/mm/transparent_hugepage/enabled, "
            "outside what the sysctl section may write (/proc/sys)",
        ]
        assert [c["path"] for c in result["sections"]["sysctl"]["changes"]] == [
            "/proc/sys/kernel/numa_balancing"]
    after = listing(tmp_path)
    # the one legitimate sysctl changed, nothing else below the scratch directory
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    assert changed == ["root/proc/sys/kernel/numa_balancing"]
    assert read(root, "/proc/sys/kernel/numa_balancing") == "0"


@pytest.mark.parametrize("name", CRAFTED_SYSCTL_NAMES)
def test_the_writer_refuses_crafted_sysctl_paths_without_the_name_check(tmp_path, name):
    # defence in depth: a path built from a crafted name, handed to the writer
    # directly, is refused by the section's directory guard as well
    root = scratch_node(tmp_path)
    before = listing(tmp_path)
    path = "/proc/sys/" + name
    assert section(root).carry_out([set_(path, "x", "evil")]) in ([core.REFUSED], [core.FAILED])
    assert listing(tmp_path) == before


@pytest.mark.parametrize("name", sorted(core.OWNED))
def test_no_section_writes_outside_what_it_owns(tmp_path, name):
    root = scratch_node(tmp_path)
    before = listing(tmp_path)
    sec = section(root, name)
    owned_elsewhere = "/sys/kernel/mm/transparent_hugepage/enabled" if name != "thp" else "/proc/sys/vm/stat_interval"
    actions = [
        set_("/proc/sys/kernel/relative_link", "x", "evil"),
        set_("/etc/passwd", "root", "evil"),
        {"kind": "write", "path": "/proc/sys/kernel/absolute_link", "before": "x", "after": "evil"},
        set_(owned_elsewhere, "x", "evil"),
    ]
    assert sec.carry_out(actions) == [core.REFUSED] * 4
    assert all(("the %s section may write" % name) in e for e in sec.errors)
    assert [e.split(":")[0] for e in sec.errors] == [a["path"] for a in actions]
    with pytest.raises(core.Refused):
        sec.write("/etc/x", "evil")
    assert listing(tmp_path) == before
