# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The applier's decisions (decide_*), pure: on the state of the recorded
machines (lab-vm.json, metal-2s.json read in memory by fakesys.RecordedNode,
no tree on disk) and on hand-made states."""

import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "runtime"))
import fakesys  # noqa: E402
from test_runtime_hugepages import G1, M2, NODE, pools as pool_config  # noqa: E402

from ansible_collections.bot4.hft.plugins.module_utils.node import dpdk, hugepages, irq, power, sysctl  # noqa: E402
from ansible_collections.bot4.hft.plugins.module_utils.node.core import ConfigError, bracketed  # noqa: E402


def error(text):
    return {"kind": "error", "text": text}


def notice(text):
    return {"kind": "notice", "text": text}


def skip(text):
    return {"kind": "skip", "text": text}


def set_(path, before, after, compare="text", **extra):
    action = {"kind": "set", "path": path, "before": before, "after": after, "compare": compare}
    action.update(extra)
    return action


def recorded(name, reader, cfg, **kwargs):
    """``reader``'s view of the recorded machine ``name``."""
    return reader(fakesys.RecordedNode(name, **kwargs), cfg)


# -------------------------------------------------------------------- sysctl
LAB_SYSCTL = {"kernel.numa_balancing": "0", "vm.stat_interval": 10, "net.ipv4.ip_local_port_range": "32768 60999"}


def test_sysctl_reads_the_recorded_values():
    assert recorded("lab-vm", sysctl.read_sysctl, LAB_SYSCTL) == {
        "kernel.numa_balancing": "1", "vm.stat_interval": "1", "net.ipv4.ip_local_port_range": "32768\t60999"}


def test_sysctl_sets_what_differs_in_name_order():
    current = recorded("lab-vm", sysctl.read_sysctl, LAB_SYSCTL)
    assert sysctl.decide_sysctl(LAB_SYSCTL, current) == {"actions": [
        set_("/proc/sys/kernel/numa_balancing", "1", "0", "words"),
        set_("/proc/sys/vm/stat_interval", "1", "10", "words"),
    ]}


def test_sysctl_in_place_is_no_action():
    current = {"kernel.numa_balancing": "0", "vm.stat_interval": "10", "net.ipv4.ip_local_port_range": "32768\t60999"}
    assert sysctl.decide_sysctl(LAB_SYSCTL, current) == {"actions": []}


def test_sysctl_missing_is_an_error_in_its_place():
    cfg = {"kernel.a": "1", "kernel.b": "1", "kernel/c": "2"}
    current = {"kernel.a": None, "kernel.b": "0", "kernel/c": None}
    assert sysctl.decide_sysctl(cfg, current)["actions"] == [
        error("kernel.a: no such sysctl (/proc/sys/kernel/a does not exist)"),
        set_("/proc/sys/kernel/b", "0", "1", "words"),
        error("kernel/c: no such sysctl (/proc/sys/kernel/c does not exist)"),
    ]


def test_a_feature_the_kernel_lacks_is_off_as_planned():
    # Debian's PREEMPT_RT kernel has no NUMA balancing: no kernel.numa_balancing.
    cfg = {"kernel.numa_balancing": "0", "vm.stat_interval": "10"}
    current = {"kernel.numa_balancing": None, "vm.stat_interval": "10"}
    assert sysctl.decide_sysctl(cfg, current)["actions"] == [notice(
        "kernel.numa_balancing: this kernel has no such feature (/proc/sys/kernel/numa_balancing does not exist): "
        "off, as planned")]
    # Only the value that turns it off: asking for balancing on a kernel without it is an error.
    assert sysctl.decide_sysctl({"kernel.numa_balancing": "1"}, {"kernel.numa_balancing": None})["actions"] == [
        error("kernel.numa_balancing: no such sysctl (/proc/sys/kernel/numa_balancing does not exist)")]


def test_sysctl_value_is_written_with_single_spaces():
    assert sysctl.decide_sysctl({"net.ipv4.ip_local_port_range": "1024   65000"},
                                {"net.ipv4.ip_local_port_range": "32768\t60999"})["actions"] == [
        set_("/proc/sys/net/ipv4/ip_local_port_range", "32768\t60999", "1024 65000", "words")]


SYSCTL_NAME_HINT = ("; give the name below /proc/sys, with dots or slashes between letters, digits, '_' and '-', "
                    "such as net.core.busy_poll")


@pytest.mark.parametrize("name, why", [
    ("", "it is empty"),
    ("/proc/sys/vm/swappiness", "it is an absolute path"),
    ("/etc/passwd", "it is an absolute path"),
    ("../../etc/passwd", "it has a '.' or '..' component"),
    ("kernel/../../../etc/x", "it has a '.' or '..' component"),
    ("kernel/./numa_balancing", "it has a '.' or '..' component"),
    ("kernel..numa_balancing", "it has an empty component"),
    ("kernel//numa_balancing", "it has an empty component"),
    ("kernel.", "it has an empty component"),
    ("kernel/", "it has an empty component"),
    ("kernel", "it names a directory of /proc/sys, not a sysctl"),
    ("kernel.numa balancing", "it holds ' ', a character no sysctl name has"),
    ("kernel.numa_balancing\n", "it holds '\\n', a character no sysctl name has"),
    ("vm.swappiness;reboot", "it holds ';', a character no sysctl name has"),
    ("kernel/*", "it holds '*', a character no sysctl name has"),
    ("net\\core", "it holds '\\\\', a character no sysctl name has"),
    ("kernel.-x", "it has a component that starts with '-'"),
])
def test_sysctl_names_outside_the_grammar_are_neither_read_nor_written(name, why):
    assert sysctl.sysctl_name_problem(name) == "is not a sysctl name: " + why + SYSCTL_NAME_HINT
    cfg = {name: "1", "kernel.numa_balancing": "0"}

    class Refuse:
        def read(self, path):
            assert path == "/proc/sys/kernel/numa_balancing", path
            return "1"

    current = sysctl.read_sysctl(Refuse(), cfg)
    assert current == {"kernel.numa_balancing": "1"}
    actions = sysctl.decide_sysctl(cfg, current)["actions"]
    assert error("%r %s (nothing read or written)" % (name, sysctl.sysctl_name_problem(name))) in actions
    assert set_("/proc/sys/kernel/numa_balancing", "1", "0", "words") in actions
    assert len(actions) == 2


@pytest.mark.parametrize("name, path", [
    ("net.core.busy_poll", "/proc/sys/net/core/busy_poll"),
    ("net/ipv4/conf/eth0.100/rp_filter", "/proc/sys/net/ipv4/conf/eth0.100/rp_filter"),
    ("net.ipv6.conf.br-ex.disable_ipv6", "/proc/sys/net/ipv6/conf/br-ex/disable_ipv6"),
    ("kernel/sched_rt_runtime_us", "/proc/sys/kernel/sched_rt_runtime_us"),
])
def test_sysctl_names_of_the_grammar(name, path):
    assert sysctl.sysctl_name_problem(name) is None
    assert sysctl.sysctl_path(name) == path


def test_sysctl_empty_value_is_not_written():
    actions = sysctl.decide_sysctl({"vm.swappiness": "  ", "vm.stat_interval": "10"},
                                   {"vm.swappiness": "60", "vm.stat_interval": "1"})["actions"]
    assert actions == [set_("/proc/sys/vm/stat_interval", "1", "10", "words"),
                       error("vm.swappiness: the value is empty (not written)")]


@pytest.mark.parametrize("cfg, message", [
    ([], "section sysctl must be a JSON object of name: value"),
    ({"vm.a": "1", "vm.b": True}, "sysctl.vm.b must be a string or an integer"),
    ({"vm.a": None}, "sysctl.vm.a must be a string or an integer"),
])
def test_sysctl_settings_refuse_bad_values(cfg, message):
    with pytest.raises(ConfigError, match=message):
        sysctl.sysctl_settings(cfg)


# ----------------------------------------------------------------------- thp
THP = "/sys/kernel/mm/transparent_hugepage/"


def test_thp_sets_the_bracketed_choice():
    cfg = {"enabled": "never", "defrag": "never"}
    current = recorded("lab-vm", sysctl.read_thp, cfg)
    assert current == {"enabled": "always [madvise] never", "defrag": "always defer defer+madvise [madvise] never"}
    assert sysctl.decide_thp(cfg, current)["actions"] == [
        set_(THP + "enabled", "madvise", "never", "choice"),
        set_(THP + "defrag", "madvise", "never", "choice"),
    ]


def test_thp_in_place_or_unset_is_no_action():
    current = {"enabled": "always madvise [never]", "defrag": None}
    assert sysctl.decide_thp({"enabled": "never"}, current) == {"actions": []}
    assert sysctl.decide_thp({}, current) == {"actions": []}


def test_thp_errors_for_a_missing_file_and_an_unknown_choice():
    current = {"enabled": None, "defrag": "always [madvise] never"}
    assert sysctl.decide_thp({"enabled": "never", "defrag": "sometimes"}, current)["actions"] == [
        error(THP + "enabled is missing"),
        error(THP + "defrag: 'sometimes' is not one of always, madvise, never"),
    ]


def test_thp_without_the_directory_skips():
    assert sysctl.decide_thp({"enabled": "never"}, None)["actions"] == [
        skip("this kernel has no transparent hugepages (/sys/kernel/mm/transparent_hugepage missing): nothing to do")]


def test_thp_settings_refuse_unknown_keys():
    with pytest.raises(ConfigError, match="section thp: unknown keys shmem"):
        sysctl.thp_settings({"shmem": "never"})


# ----------------------------------------------------------------------- irq
LAB_IRQ = irq.irq_settings({"default_cpus": "0-1,4-5", "cpus": "0-1,4-5"})
LAB_MOVES = {  # IRQ: (affinity recorded on lab-vm, the affinity it gets)
    0: ("0-7", "0-1,4-5"), 1: ("0-3", "0-1"), 2: ("0-7", "0-1,4-5"), 3: ("0-7", "0-1,4-5"),
    4: ("0-3", "0-1"), 5: ("0-7", "0-1,4-5"), 6: ("0-7", "0-1,4-5"), 7: ("0-3", "0-1"), 8: ("0-3", "0-1"),
    9: ("0-3", "0-1"), 10: ("0-7", "0-1,4-5"), 11: ("0-7", "0-1,4-5"), 12: ("0-3", "0-1"),
    13: ("0-7", "0-1,4-5"), 14: ("0-7", "0-1,4-5"), 15: ("0-7", "0-1,4-5"), 24: ("0-3", "0-1"),
    25: ("6-7", "0-1,4-5"), 29: ("2", "0-1,4-5"), 32: ("6", "0-1,4-5"), 33: ("7", "0-1,4-5"),
    36: ("2", "0-1,4-5"), 37: ("3", "0-1,4-5"), 38: ("7", "0-1,4-5"), 39: ("3", "0-1,4-5"),
    40: ("2", "0-1,4-5"),
}


def irq_set(number, before, after):
    return set_("/proc/irq/%d/smp_affinity_list" % number, before, after, "cpulist", accept_eio=True, irq=number)


def test_irq_moves_what_leaves_the_reserved_cpus_keeping_their_reserved_part():
    current = recorded("lab-vm", irq.read_irq, LAB_IRQ)
    assert current["default_affinity"] == "ff" and len(current["irqs"]) == 32
    decision = irq.decide_irq(LAB_IRQ, current)
    assert decision["actions"] == [set_("/proc/irq/default_smp_affinity", "ff", "33", "mask")] + [
        irq_set(n, before, after) for n, (before, after) in sorted(LAB_MOVES.items())]
    assert decision["irqs_total"] == 32 and decision["managed"] == []


def test_irq_check_leaves_the_irqs_that_refused_in_this_boot_alone():
    state = {"managed-irqs.json": {"irqs": [32, 33, 36, 37]}}
    current = recorded("lab-vm", irq.read_irq, LAB_IRQ, state=state)
    decision = irq.decide_irq(LAB_IRQ, current)
    assert decision["managed"] == [32, 33, 36, 37]
    assert not [a for a in decision["actions"] if a.get("irq") in (32, 33, 36, 37)]
    # apply tries them again: the record is not read
    current = recorded("lab-vm", irq.read_irq, LAB_IRQ, state=state, check=False)
    assert current["managed"] == []
    assert [a["irq"] for a in irq.decide_irq(LAB_IRQ, current)["actions"] if a.get("irq") in (32, 33, 36, 37)] == [
        32, 33, 36, 37]


def test_irq_policy_replace_uses_the_whole_set():
    cfg = dict(LAB_IRQ, policy="replace", default_cpus=None)
    current = {"default_affinity": None, "irqs": [[1, "0-3"], [16, "0-1"]], "managed": []}
    assert irq.decide_irq(cfg, current)["actions"] == [irq_set(1, "0-3", "0-1,4-5")]


def test_irq_in_place_is_no_action():
    current = {"default_affinity": "00000033", "irqs": [[0, "0-1,4-5"], [16, "0-1"], [30, "4"], [99, None]],
               "managed": []}
    decision = irq.decide_irq(LAB_IRQ, current)
    assert decision == {"actions": [], "irqs_total": 4, "managed": []}


def test_irq_errors_for_a_missing_default_and_an_unreadable_affinity():
    current = {"default_affinity": None, "irqs": [[5, "0-x"], [6, "2"]], "managed": []}
    assert irq.decide_irq(LAB_IRQ, current)["actions"] == [
        error("/proc/irq/default_smp_affinity is missing"),
        error("/proc/irq/5/smp_affinity_list reads '0-x', not a cpulist"),
        irq_set(6, "2", "0-1,4-5"),
    ]


def test_irq_default_only_reads_no_irq():
    cfg = irq.irq_settings({"default_cpus": "0"})
    current = recorded("lab-vm", irq.read_irq, cfg)
    assert current == {"default_affinity": "ff", "irqs": None, "managed": []}
    assert irq.decide_irq(cfg, current) == {"actions": [set_("/proc/irq/default_smp_affinity", "ff", "1", "mask")]}


@pytest.mark.parametrize("cfg, message", [
    ({"cpus": ""}, "irq.cpus is empty"),
    ({"default_cpus": []}, "irq.default_cpus is empty"),
    ({"cpus": "0", "policy": "spread"}, "irq.policy must be intersect or replace"),
])
def test_irq_settings_refuse(cfg, message):
    with pytest.raises(ConfigError, match=message):
        irq.irq_settings(cfg)


# ----------------------------------------------------------------- workqueue
WQ = "/sys/devices/virtual/workqueue/cpumask"
WB = "/sys/devices/virtual/workqueue/writeback/cpumask"


def test_workqueue_mask():
    cfg = irq.workqueue_settings({"cpus": "0-1,4-5"})
    current = recorded("lab-vm", irq.read_workqueue, cfg)
    assert current == {"cpumask": "ff", "queues": [["writeback", "ff"]]}
    assert irq.decide_workqueue(cfg, current) == {"actions": [
        set_(WQ, "ff", "33", "mask"), set_(WB, "ff", "33", "mask")]}
    # however wide the kernel prints it
    assert irq.decide_workqueue(cfg, {"cpumask": "00,00000033", "queues": [["writeback", "33"]]}) == {"actions": []}
    assert irq.decide_workqueue(cfg, {"cpumask": "33", "queues": [["writeback", "ff"]]}) == {
        "actions": [set_(WB, "ff", "33", "mask")]}
    assert irq.decide_workqueue(cfg, {"cpumask": None})["actions"] == [
        skip(WQ + " does not exist on this kernel: unbound workqueues not restricted")]
    with pytest.raises(ConfigError, match="workqueue.cpus is required"):
        irq.workqueue_settings({})


# ----------------------------------------------------------------------- rps
def rps_set(name, before="00", after="33"):
    return set_("/sys/class/net/%s/queues/rx-0/rps_cpus" % name, before, after, "mask")


def test_rps_every_receive_queue_but_loopback():
    cfg = irq.rps_settings({"cpus": "0-1,4-5"})
    current = recorded("lab-vm", irq.read_rps, cfg)
    assert current == {"enp0s3": {"rx-0": "00"}, "enp129s0": {"rx-0": "00"}, "lo": {"rx-0": "00"}}
    assert irq.decide_rps(cfg, current) == {"actions": [rps_set("enp0s3"), rps_set("enp129s0")],
                                            "data": {"rx_queues": 2}}


def test_rps_patterns_and_no_op():
    cfg = irq.rps_settings({"cpus": "0-1,4-5", "include": ["enp*"], "exclude": ["enp0s*"]})
    current = {"enp0s3": {"rx-0": "00"}, "enp129s0": {"rx-0": "00", "rx-1": "33", "rx-2": None}, "lo": {}}
    assert irq.decide_rps(cfg, current) == {"actions": [rps_set("enp129s0")], "data": {"rx_queues": 2}}
    current["enp129s0"]["rx-0"] = "0,00000033"
    assert irq.decide_rps(cfg, current) == {"actions": [], "data": {"rx_queues": 2}}


def test_rps_without_queues_is_a_notice():
    cfg = irq.rps_settings({"cpus": "0", "include": ["nothing*"]})
    assert irq.decide_rps(cfg, {"eth0": {"rx-0": "00"}}) == {"actions": [notice(
        "no receive queue with rps_cpus found (no matching interface, or a kernel without RPS)")],
        "data": {"rx_queues": 0}}
    with pytest.raises(ConfigError, match="rps.include must be a list of interface name patterns"):
        irq.rps_settings({"cpus": "0", "include": "eth*"})


# ------------------------------------------------------------------- cpufreq
CPU = "/sys/devices/system/cpu/cpu%d/"


def test_cpufreq_sets_every_policy_once():
    cfg = power.cpufreq_settings({"governor": "performance", "cpus": "0-1,38-41"})
    current = recorded("metal-2s", power.read_cpufreq, cfg)
    # offline or absent CPUs (40, 41) are not read
    assert [entry["cpu"] for entry in current["cpus"]] == [0, 1, 38, 39]
    assert current["cpus"][0] == {"cpu": 0, "policy": "/sys/devices/system/cpu/cpufreq/policy0",
                                  "governor": "powersave", "available": "performance powersave",
                                  "driver": "intel_pstate"}
    assert power.decide_cpufreq(cfg, current) == {"actions": [
        set_(CPU % cpu + "cpufreq/scaling_governor", "powersave", "performance") for cpu in (0, 1, 38, 39)],
        "data": {"driver": "intel_pstate"}}
    # CPUs 0 and 1 in one policy: written once
    current["cpus"][1]["policy"] = current["cpus"][0]["policy"]
    assert [a["path"] for a in power.decide_cpufreq(cfg, current)["actions"]] == [
        CPU % cpu + "cpufreq/scaling_governor" for cpu in (0, 38, 39)]


def test_cpufreq_in_place_is_no_action():
    cfg = power.cpufreq_settings({"governor": "powersave"})
    current = recorded("metal-2s", power.read_cpufreq, cfg)
    assert len(current["cpus"]) == 40
    assert power.decide_cpufreq(cfg, current) == {"actions": [], "data": {"driver": "intel_pstate"}}


def test_cpufreq_unavailable_governor_and_cpus_without_policy():
    cfg = power.cpufreq_settings({"governor": "schedutil"})
    current = {"cpus": [
        {"cpu": 0, "policy": "/p0", "governor": "powersave", "available": "performance powersave", "driver": "d"},
        {"cpu": 1, "policy": None, "governor": None, "available": None, "driver": None},
        {"cpu": 2, "policy": "/p2", "governor": "powersave", "available": None, "driver": "d"},
    ]}
    assert power.decide_cpufreq(cfg, current)["actions"] == [
        notice("CPUs 1 have no cpufreq policy; governor not set there"),
        error("cpu0: governor schedutil is not available (available: performance powersave)"),
        # nothing says which governors there are: tried, the kernel answers
        set_(CPU % 2 + "cpufreq/scaling_governor", "powersave", "schedutil"),
    ]


def test_cpufreq_without_a_driver_skips():
    cfg = power.cpufreq_settings({"governor": "performance", "cpus": "0-7"})
    current = recorded("lab-vm", power.read_cpufreq, cfg)
    assert power.decide_cpufreq(cfg, current)["actions"] == [
        skip("no cpufreq driver on this node (no cpufreq/ under the CPUs): governor performance not set")]
    assert power.decide_cpufreq(cfg, {"cpus": []})["actions"] == [
        skip("no cpufreq driver on this node (no cpufreq/ under the CPUs): governor performance not set")]
    with pytest.raises(ConfigError, match="cpufreq.governor must be a governor name"):
        power.cpufreq_settings({"governor": ""})


# ------------------------------------------------------------------- cpuidle
METAL_STATES = [[0, 0], [1, 2], [2, 10], [3, 133]]  # POLL, C1, C1E, C6


@pytest.mark.parametrize("cfg, want", [
    ({"max_cstate": 1}, "2"),
    ({"max_cstate": 2}, "10"),
    ({"max_cstate": 0}, "n/a"),
    ({"max_cstate": 9}, "0"),
    ({"poll_only": True}, "n/a"),
    ({"resume_latency_us": 5}, "5"),
    ({"resume_latency_us": "n/a"}, "n/a"),
])
def test_cpuidle_resume_latency_per_policy(cfg, want):
    cfg = power.cpuidle_settings(dict(cfg, cpus="10-11"))
    current = recorded("metal-2s", power.read_cpuidle, cfg)
    assert current == {"driver": "intel_idle", "cpus": [
        {"cpu": 10, "resume_latency_us": "0", "states": METAL_STATES},
        {"cpu": 11, "resume_latency_us": "0", "states": METAL_STATES}]}
    expected = [] if want == "0" else [
        set_(CPU % cpu + "power/pm_qos_resume_latency_us", "0", want) for cpu in (10, 11)]
    assert power.decide_cpuidle(cfg, current) == {"actions": expected, "data": {"driver": "intel_idle"}}


def test_cpuidle_in_place_missing_and_stateless_cpus():
    cfg = power.cpuidle_settings({"cpus": "1-3", "max_cstate": 1})
    current = {"driver": "intel_idle", "cpus": [
        {"cpu": 1, "resume_latency_us": "2", "states": METAL_STATES},
        {"cpu": 2, "resume_latency_us": None, "states": METAL_STATES},
        {"cpu": 3, "resume_latency_us": "0", "states": []},
    ]}
    assert power.decide_cpuidle(cfg, current)["actions"] == [
        error(CPU % 2 + "power/pm_qos_resume_latency_us is missing"),
        notice("cpu3 has no cpuidle states; left alone"),
    ]
    current["cpus"] = current["cpus"][:1]
    assert power.decide_cpuidle(cfg, current) == {"actions": [], "data": {"driver": "intel_idle"}}


def test_cpuidle_without_a_driver_skips():
    cfg = power.cpuidle_settings({"cpus": "2-3", "poll_only": True})
    current = recorded("lab-vm", power.read_cpuidle, cfg)
    assert current == {"driver": "none", "cpus": []}
    assert power.decide_cpuidle(cfg, current)["actions"] == [
        skip("no cpuidle driver on this node (current_driver: none): C-state limits not set")]
    assert power.decide_cpuidle(cfg, {"driver": None, "cpus": []})["actions"] == [
        skip("no cpuidle driver on this node (current_driver: missing): C-state limits not set")]
    with pytest.raises(ConfigError, match="cpuidle needs max_cstate, poll_only or resume_latency_us"):
        power.cpuidle_settings({"cpus": "2"})


# ---------------------------------------------------------- energy_perf_bias
def test_energy_perf_bias_by_name():
    cfg = power.energy_perf_bias_settings({"value": "performance", "cpus": "0-1"})
    current = recorded("metal-2s", power.read_energy_perf_bias, cfg)
    assert current == {"cpus": [{"cpu": 0, "present": True, "value": 6}, {"cpu": 1, "present": True, "value": 6}]}
    assert power.decide_energy_perf_bias(cfg, current) == {"actions": [
        set_(CPU % cpu + "power/energy_perf_bias", "6", "0") for cpu in (0, 1)]}


def test_energy_perf_bias_in_place_absent_and_bad_values():
    cfg = power.energy_perf_bias_settings({"value": 6})
    current = recorded("metal-2s", power.read_energy_perf_bias, cfg)
    assert power.decide_energy_perf_bias(cfg, current) == {"actions": []}
    current = recorded("lab-vm", power.read_energy_perf_bias, cfg)
    assert power.decide_energy_perf_bias(cfg, current)["actions"] == [
        skip("no CPU here exposes power/energy_perf_bias (not an Intel CPU with EPB): left alone")]
    with pytest.raises(ConfigError, match="energy_perf_bias.value must be 0-15 or one of"):
        power.energy_perf_bias_settings({"value": 16})


# ----------------------------------------------------------------- hugepages
def pools(*entries, **extra):
    """(node, size_kb, count) ... as the section's checked settings."""
    return hugepages.hugepages_settings(pool_config(*entries, **extra)["hugepages"])


def pool_write(node, size_kb, before, after):
    return {"kind": "write", "path": NODE % (node, size_kb), "before": str(before), "after": str(after),
            "on_failure": "%(path)s: writing %(value)s failed: %(reason)s"}


def row(node, size_kb, requested, before, at_boot=False):
    return {"node": node, "size_kb": size_kb, "path": NODE % (node, size_kb), "requested": requested,
            "before": before, "at_boot": at_boot}


def test_hugepages_reads_every_pool():
    current = recorded("lab-vm", hugepages.read_hugepages, pools())
    assert current == {"pools": [
        {"node": 0, "size_kb": G1, "path": NODE % (0, G1), "count": 0},
        {"node": 0, "size_kb": M2, "path": NODE % (0, M2), "count": 0},
        {"node": 1, "size_kb": G1, "path": NODE % (1, G1), "count": 1},
        {"node": 1, "size_kb": M2, "path": NODE % (1, M2), "count": 0},
    ], "reclaim": ["/proc/sys/vm/drop_caches", "/proc/sys/vm/compact_memory"]}


def test_hugepages_lab_plan_writes_only_what_boot_did_not_provide():
    cfg = pools((1, G1, 1), (0, M2, 128))
    decision = hugepages.decide_hugepages(cfg, recorded("lab-vm", hugepages.read_hugepages, cfg))
    assert decision == {"actions": [pool_write(0, M2, 0, 128)],
                        "rows": [row(1, G1, 1, 1), row(0, M2, 128, 0)]}


def test_hugepages_releases_before_allocating():
    cfg = pools((1, G1, 4), release_unplanned=True)
    decision = hugepages.decide_hugepages(cfg, recorded("metal-2s", hugepages.read_hugepages, cfg))
    assert decision["actions"] == [pool_write(0, M2, 16, 0), pool_write(1, G1, 0, 4)]
    # largest pages first, then by node
    assert [(r["node"], r["size_kb"]) for r in decision["rows"]] == [(0, G1), (1, G1), (0, M2), (1, M2)]
    # without release_unplanned the 2M pool of node 0 is left alone
    assert hugepages.decide_hugepages(pools((1, G1, 4)), recorded("metal-2s", hugepages.read_hugepages, cfg))[
        "actions"] == [pool_write(1, G1, 0, 4)]


def test_hugepages_in_place_is_no_action():
    cfg = pools((0, M2, 16), release_unplanned=True)
    current = recorded("metal-2s", hugepages.read_hugepages, cfg)
    assert hugepages.decide_hugepages(cfg, current)["actions"] == []


def test_hugepages_errors_for_missing_pools():
    current = recorded("lab-vm", hugepages.read_hugepages, pools())
    current["pools"][3]["count"] = None
    cfg = pools((3, M2, 1), (0, 16 * G1, 1), (1, M2, 1), (0, M2, 8))
    assert hugepages.decide_hugepages(cfg, current)["actions"] == [
        # largest pages first, then by node
        error("NUMA node 0 has no 16G hugepage pool (sizes there: 2M, 1G)"),
        error(NODE % (1, M2) + " is not readable as a number"),
        error("NUMA node 3 has no hugepage pools (nodes with pools: 0-1)"),
        pool_write(0, M2, 0, 8),
    ]
    assert hugepages.decide_hugepages(pools((0, M2, 1)), {"pools": [], "reclaim": []})["actions"] == [
        error("NUMA node 0 has no hugepage pools (nodes with pools: none)")]


def test_hugepages_retry_after_reclaim_for_what_is_still_short():
    cfg = pools((0, G1, 1), (1, G1, 1), (0, M2, 128))
    current = recorded("lab-vm", hugepages.read_hugepages, cfg)
    decision = hugepages.decide_hugepages(cfg, current)
    got = {NODE % (0, G1): 0, NODE % (1, G1): 1, NODE % (0, M2): 128}
    assert hugepages.decide_hugepages_retry(cfg, current, decision, got) == [
        {"kind": "write", "path": "/proc/sys/vm/drop_caches", "after": "3", "on_failure": "%(path)s: %(reason)s"},
        {"kind": "write", "path": "/proc/sys/vm/compact_memory", "after": "1", "on_failure": "%(path)s: %(reason)s"},
        pool_write(0, G1, 0, 1),
        notice("retried 1 short pool(s) after compacting memory"),
    ]
    # nothing short, no reclaim configured, or a pool that does not read back: as it says
    assert hugepages.decide_hugepages_retry(cfg, current, decision, dict(got, **{NODE % (0, G1): 1})) == []
    assert hugepages.decide_hugepages_retry(dict(cfg, reclaim=False), current, decision, got) == []
    current["reclaim"] = []
    assert hugepages.decide_hugepages_retry(cfg, current, decision, dict(got, **{NODE % (0, G1): None}))[0] == \
        pool_write(0, G1, 0, 1)


def test_hugepages_report_and_shortfall():
    cfg = pools((0, G1, 1), (0, M2, 128))
    cfg["pools"][0]["at_boot"] = True
    decision = hugepages.decide_hugepages(cfg, recorded("lab-vm", hugepages.read_hugepages, cfg))
    now = {NODE % (0, G1): 0, NODE % (0, M2): 100}
    report = hugepages.report_hugepages(decision, now, check=False)
    assert report["changes"] == [{"path": NODE % (0, M2), "before": "0", "after": "100"}]
    assert report["pools"][0] == {"node": 0, "size": "1G", "size_kb": G1, "requested": 1, "before": 0, "now": 0,
                                  "differs": True, "short": True, "at_boot": True}
    assert [(e["size"], e["now"]) for e in report["shortfall"]] == [("1G", 0), ("2M", 100)]
    assert hugepages.shortfall_message(report["shortfall"], {0: 2922324}) == (
        "the kernel did not provide the planned hugepages: node 0 1G pages: requested 1, got 0 (node 0 MemFree "
        "2853 MiB); node 0 2M pages: requested 128, got 100 (node 0 MemFree 2853 MiB)")
    assert hugepages.shortfall_message(report["shortfall"][:1], {0: None}).endswith("requested 1, got 0")
    # check mode: nothing written, nothing short yet
    report = hugepages.report_hugepages(decision, {NODE % (0, G1): 0, NODE % (0, M2): 0}, check=True)
    assert report["changes"] == [] and report["shortfall"] == []
    assert [(e["short"], e["differs"]) for e in report["pools"]] == [(True, True), (True, True)]


@pytest.mark.parametrize("cfg, message", [
    ({"pools": [{"node": 0, "size_kb": M2}]}, r"hugepages.pools\[0\].count must be a non-negative integer"),
    ({"pools": [{"node": 0, "size_kb": M2, "count": 1}] * 2}, "node 0 2M pages are listed twice"),
    ({"pools": {}}, "hugepages.pools must be a list"),
])
def test_hugepages_settings_refuse(cfg, message):
    with pytest.raises(ConfigError, match=message):
        hugepages.hugepages_settings(cfg)


# ---------------------------------------------------------------------- dpdk
NIC = "0000:81:00.0"  # the lab's e1000e on NUMA node 1, IOMMU group 7
MGMT = "0000:00:03.0"  # virtio-net enp0s3, carries the default route
DEV = "/sys/bus/pci/devices/" + NIC
BOUND_STATE = {"dpdk-bindings.json": {"devices": {NIC: {"driver": "vfio-pci", "original_driver": "e1000e"}}}}


def dpdk_cfg(*devices, **extra):
    cfg = {"devices": [{"pci": pci, "driver": driver} for pci, driver in devices]}
    cfg.update(extra)
    return dpdk.dpdk_settings(cfg)


def lab_dpdk(cfg, **kwargs):
    return recorded("lab-vm", dpdk.read_dpdk, cfg, **kwargs)


def bound_to(current, pci, driver, override):
    current["devices"][pci]["driver"] = driver
    current["devices"][pci]["driver_override"] = override
    if driver in dpdk.DPDK_DRIVERS and driver not in current["drivers_loaded"]:
        current["drivers_loaded"].append(driver)
    return current


def override(before, after, value=None):
    action = set_(DEV + "/driver_override", before, after, pci=NIC, stop=True)
    if value is not None:
        action["value"] = value
    return action


def bind(driver, target):
    return {"kind": "bind", "pci": NIC, "driver": driver, "target": target, "stop": True}


def test_dpdk_reads_the_devices_their_groups_and_the_route():
    cfg = dpdk_cfg((NIC, "vfio-pci"))
    assert lab_dpdk(cfg) == {
        "state": {},
        "devices": {NIC: {"pci": NIC, "id": "8086:10d3", "driver": "e1000e", "driver_override": None,
                          "has_driver_override": True, "numa_node": 1, "iommu_group": 7, "netdevs": ["enp129s0"],
                          "group_devices": []}},
        "iommu_active": True,
        "route_netdevs": ["enp0s3"],
        "drivers_loaded": [],
    }


def test_dpdk_bind_loads_the_module_sets_the_override_then_rebinds():
    cfg = dpdk_cfg((NIC, "vfio-pci"))
    decision = dpdk.decide_dpdk(cfg, lab_dpdk(cfg))
    assert decision["actions"] == [
        {"kind": "modprobe", "module": "vfio-pci", "path": "/sys/bus/pci/drivers/vfio-pci", "stop": True},
        override("(null)", "vfio-pci"),
        bind("e1000e", "vfio-pci"),
    ]
    assert decision["checked"] is True and decision["state"] == {}
    assert decision["bound"] == {NIC: {"driver": "vfio-pci", "original_driver": "e1000e"}}
    assert decision["data"] == {"iommu": "active", "devices": [{
        "pci": NIC, "id": "8086:10d3", "target": "vfio-pci", "action": "bind", "driver_before": "e1000e",
        "driver": "e1000e", "driver_override": None, "numa_node": 1, "iommu_group": 7, "netdevs": ["enp129s0"],
        "original_driver": "e1000e"}]}


def test_dpdk_bound_with_its_override_is_no_action():
    cfg = dpdk_cfg((NIC, "vfio-pci"))
    current = bound_to(lab_dpdk(cfg, state=BOUND_STATE), NIC, "vfio-pci", "vfio-pci")
    decision = dpdk.decide_dpdk(cfg, current)
    assert decision["actions"] == []
    assert decision["state"] == {NIC: {"driver": "vfio-pci", "original_driver": "e1000e"}}
    assert decision["data"]["devices"][0]["action"] == "none"


def test_dpdk_bound_by_hand_only_gets_the_override():
    cfg = dpdk_cfg((NIC, "vfio-pci"))
    current = bound_to(lab_dpdk(cfg), NIC, "vfio-pci", None)
    decision = dpdk.decide_dpdk(cfg, current)
    assert decision["actions"] == [override("(null)", "vfio-pci")]
    # it had no kernel driver this program saw: giving it back means no driver
    assert decision["state"] == {NIC: {"driver": "vfio-pci", "original_driver": None}}


def test_dpdk_device_no_longer_configured_is_given_back():
    for cfg in (dpdk_cfg(), dpdk_cfg((NIC, "kernel"))):
        current = bound_to(lab_dpdk(cfg, state=BOUND_STATE), NIC, "vfio-pci", "vfio-pci")
        decision = dpdk.decide_dpdk(cfg, current)
        assert decision["actions"] == [
            override("vfio-pci", "(null)", value=""),
            {"kind": "restore", "pci": NIC, "driver": "vfio-pci", "original": "e1000e", "stop": True},
        ]
        assert decision["state"] == {} and decision["data"]["devices"][0]["action"] == "restore"
    # back on its kernel driver already, or bound by someone else: left alone
    current = lab_dpdk(dpdk_cfg(), state=BOUND_STATE)
    assert dpdk.decide_dpdk(dpdk_cfg(), current)["actions"] == []
    kernel = dpdk_cfg((NIC, "kernel"))
    current = bound_to(lab_dpdk(kernel), NIC, "vfio-pci", None)
    assert dpdk.decide_dpdk(kernel, current)["actions"] == []


def test_dpdk_recorded_device_gone_from_the_bus_is_forgotten():
    current = lab_dpdk(dpdk_cfg(), state=BOUND_STATE)
    current["devices"][NIC] = None
    decision = dpdk.decide_dpdk(dpdk_cfg(), current)
    assert decision["actions"] == [
        notice("0000:81:00.0: bound to vfio-pci earlier, now gone from the PCI bus; forgotten")]
    assert decision["state"] == {} and decision["checked"] is True


def test_dpdk_noiommu_mode_comes_before_the_bind():
    cfg = dpdk_cfg((NIC, "vfio-pci"), noiommu=True)
    current = lab_dpdk(cfg)
    current["iommu_active"] = False
    current["devices"][NIC]["iommu_group"] = None
    assert [a["kind"] for a in dpdk.decide_dpdk(cfg, current)["actions"]] == ["modprobe", "noiommu", "set", "bind"]
    assert dpdk.decide_dpdk(cfg, current)["data"]["iommu"] == "noiommu"
    # with an IOMMU the mode is not touched
    assert [a["kind"] for a in dpdk.decide_dpdk(cfg, lab_dpdk(cfg))["actions"]] == ["modprobe", "set", "bind"]


NOTHING = notice("nothing was changed: every device is checked before the first one is bound")


def test_dpdk_any_failed_check_means_no_write_at_all():
    cfg = dpdk_cfg((NIC, "vfio-pci"), (MGMT, "vfio-pci"), ("0000:82:00.0", "uio_pci_generic"))
    current = lab_dpdk(cfg)
    decision = dpdk.decide_dpdk(cfg, current)
    assert decision["actions"] == [
        error("0000:00:03.0 (enp0s3) carries the default route: binding it to vfio-pci would cut this node off "
              "the network"),
        error("0000:82:00.0: no such PCI device (/sys/bus/pci/devices/0000:82:00.0 does not exist)"),
        NOTHING,
    ]
    assert decision["checked"] is False
    assert [d["pci"] for d in decision["data"]["devices"]] == [MGMT, NIC]


def test_dpdk_iommu_group_with_another_bound_endpoint():
    cfg = dpdk_cfg((NIC, "vfio-pci"))
    current = lab_dpdk(cfg)
    current["devices"][NIC]["group_devices"] = [
        {"pci": "0000:80:00.0", "driver": "pcieport", "class": 0x060400},
        {"pci": "0000:81:00.1", "driver": "e1000e", "class": 0x020000},
        {"pci": "0000:81:00.2", "driver": None, "class": 0x020000},
    ]
    problem = ("0000:81:00.0: IOMMU group 7 is not viable for vfio-pci: it also holds 0000:81:00.1 (bound to "
               "e1000e); every endpoint of a group must be bound to vfio-pci or to no driver (bind them too, or "
               "move the card)")
    assert dpdk.decide_dpdk(cfg, current)["actions"] == [error(problem), NOTHING]
    # bound together, the group is viable
    both = dpdk_cfg((NIC, "vfio-pci"), ("0000:81:00.1", "vfio-pci"))
    current["devices"]["0000:81:00.1"] = dict(current["devices"][NIC], pci="0000:81:00.1", group_devices=[])
    assert NOTHING not in dpdk.decide_dpdk(both, current)["actions"]
    # already bound: a notice, not a refusal
    bound_to(current, NIC, "vfio-pci", "vfio-pci")
    assert dpdk.decide_dpdk(cfg, current)["actions"] == [notice(problem)]


def test_dpdk_other_refusals():
    cfg = dpdk.dpdk_settings({"devices": [{"pci": NIC, "driver": "vfio-pci", "id": "8086:10fb"}]})
    assert dpdk.decide_dpdk(cfg, lab_dpdk(cfg))["actions"] == [error(
        "0000:81:00.0: is a 8086:10d3 device, the configuration expects 8086:10fb (did the hardware change?)"),
        NOTHING]
    cfg = dpdk_cfg((NIC, "vfio-pci"))
    current = lab_dpdk(cfg)
    current["iommu_active"] = False
    assert dpdk.decide_dpdk(cfg, current)["actions"][0]["text"].startswith(
        "0000:81:00.0: vfio-pci needs an IOMMU and the running kernel has none")
    current = lab_dpdk(cfg)
    current["devices"][NIC]["has_driver_override"] = False
    assert dpdk.decide_dpdk(cfg, current)["actions"][0] == error(
        "0000:81:00.0: /sys/bus/pci/devices/0000:81:00.0/driver_override is missing (the kernel is older than 3.16)")
    current = lab_dpdk(cfg)
    current["devices"][NIC]["iommu_group"] = None
    assert dpdk.decide_dpdk(cfg, current)["actions"][0] == error(
        "0000:81:00.0: has no IOMMU group although the IOMMU is on (/sys/kernel/iommu_groups is not empty); "
        "vfio-pci cannot use it")


@pytest.mark.parametrize("cfg, message", [
    ({"devices": [{"pci": "81:00.0", "driver": "vfio-pci"}]}, "dpdk.devices\\[0\\].pci must be a PCI address"),
    ({"devices": [{"pci": NIC, "driver": "igb_uio"}]}, "dpdk.devices\\[0\\].driver must be one of"),
    ({"devices": [], "noiommu": "yes"}, "dpdk.noiommu must be true or false"),
])
def test_dpdk_settings_refuse(cfg, message):
    with pytest.raises(ConfigError, match=message):
        dpdk.dpdk_settings(cfg)


# ------------------------------------------------------------- every decision
DECISIONS = [
    ("lab-vm", sysctl.sysctl_settings, sysctl.read_sysctl, sysctl.decide_sysctl, LAB_SYSCTL),
    ("lab-vm", sysctl.thp_settings, sysctl.read_thp, sysctl.decide_thp, {"enabled": "never"}),
    ("lab-vm", irq.irq_settings, irq.read_irq, irq.decide_irq, {"default_cpus": "0-1", "cpus": "0-1"}),
    ("lab-vm", irq.workqueue_settings, irq.read_workqueue, irq.decide_workqueue, {"cpus": "0-1"}),
    ("lab-vm", irq.rps_settings, irq.read_rps, irq.decide_rps, {"cpus": "0-1"}),
    ("metal-2s", hugepages.hugepages_settings, hugepages.read_hugepages, hugepages.decide_hugepages,
     {"pools": [{"node": 1, "size_kb": G1, "count": 4}], "release_unplanned": True}),
    ("lab-vm", dpdk.dpdk_settings, dpdk.read_dpdk, dpdk.decide_dpdk,
     {"devices": [{"pci": NIC, "driver": "vfio-pci"}]}),
    ("metal-2s", power.cpufreq_settings, power.read_cpufreq, power.decide_cpufreq, {"governor": "performance"}),
    ("metal-2s", power.cpuidle_settings, power.read_cpuidle, power.decide_cpuidle, {"cpus": "10-19", "max_cstate": 1}),
    ("metal-2s", power.energy_perf_bias_settings, power.read_energy_perf_bias, power.decide_energy_perf_bias,
     {"value": "performance"}),
]


@pytest.mark.parametrize("machine, settings, reader, decide, cfg", DECISIONS, ids=lambda v: getattr(v, "__name__", None))
def test_decisions_are_pure_and_deterministic(machine, settings, reader, decide, cfg):
    cfg = settings(copy.deepcopy(cfg))
    current = recorded(machine, reader, cfg)
    before = copy.deepcopy((cfg, current))
    first = decide(cfg, current)
    assert first["actions"], "the recorded machine differs from this configuration"
    assert decide(cfg, current) == first
    assert (cfg, current) == before


def test_thp_file_holding_one_word_reads_as_that_choice():
    # What a node's tree below a root shows after a write (no kernel rewrites it).
    assert bracketed("never") == ("never", ["never"])
    assert bracketed("always madvise never") == (None, ["always", "madvise", "never"])
    done = sysctl.decide_thp({"enabled": "never", "defrag": "never"}, {"enabled": "never", "defrag": "never"})
    assert done["actions"] == []
