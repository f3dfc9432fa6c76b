# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""verify(plan, state): the lab VM's golden plan against states of a tuned lab
node (tests/unit/fixtures/states), and each class of difference."""

import copy
import json
from pathlib import Path

import pytest

from ansible_collections.bot4.hft.plugins.module_utils.verify import (
    PARTS,
    STATUS_DIFFERS,
    STATUS_IN_PLAN,
    STATUS_PENDING,
    boot_state_item,
    node_status,
    pending_reboot,
    verify,
)

UNIT = Path(__file__).resolve().parents[2]
PLAN = json.loads((UNIT / "golden" / "lab__lab.json").read_text())


def tuned_state():
    """The state node_state_info reads on a lab node tuned to PLAN."""
    return {
        "cmdline": ["BOOT_IMAGE=/boot/vmlinuz-6.1.0-27-amd64", "root=UUID=0a1b", "ro", "console=ttyS0,115200n8"]
        + PLAN["kernel_args"],
        "isolated": "2-3,6-7",
        "nohz_full": "2-3,6-7",
        "runtime": {
            "installed": True,
            "config": copy.deepcopy(PLAN["runtime"]),
            "report": {"sections": {name: {"changes": [], "errors": [], "notices": []} for name in PLAN["runtime"]}},
            "error": None,
        },
        "unit": {"UnitFileState": "enabled", "Result": "success"},
        "affinity": {
            "pid1": "0-1,4-5",
            "slices": {"system.slice": "0-1,4-5", "user.slice": "0-1,4-5"},
            "processes": [{"pid": 412, "comm": "sshd", "cpus": "0-1,4-5", "cgroup": "/system.slice/ssh.service"}],
        },
    }


def areas(items):
    return [(i["area"], i["item"]) for i in items]


def test_a_node_in_its_plan_has_no_difference():
    assert verify(PLAN, tuned_state()) == []


def test_an_untuned_node_differs_in_every_part():
    state = {"cmdline": ["BOOT_IMAGE=/boot/vmlinuz", "ro", "quiet"], "isolated": "", "nohz_full": "",
             "runtime": {"installed": False, "config": None, "report": None, "error": None},
             "unit": {"UnitFileState": "", "Result": ""},
             "affinity": {"pid1": "0-7", "slices": {"system.slice": "0-7"}, "processes": []}}
    state["bootloader"] = {"actions": ["write /etc/default/grub.d/90-bot4-hft.cfg"], "reboot_required": True}
    items = verify(PLAN, state)
    got = areas(items)
    assert ("kernel args", "bootloader configuration") in got
    assert ("kernel args", "nohz_full=2-3,6-7") in got
    assert ("isolated set", "/sys/devices/system/cpu/isolated") in got
    assert ("isolated set", "/sys/devices/system/cpu/nohz_full") in got
    assert ("runtime", "/usr/local/sbin/bot4-hft-runtime") in got
    assert ("runtime", "bot4-hft-runtime.service") in got
    assert ("affinity", "PID 1") in got
    assert ("affinity", "/sys/fs/cgroup/system.slice/cpuset.cpus.effective") in got
    # every item carries what was expected and what was found
    assert all(set(i) == {"area", "item", "expected", "actual"} for i in items)


def test_an_owned_argument_the_plan_does_not_give_is_named():
    state = tuned_state()
    state["cmdline"].append("nosmt")
    assert verify(PLAN, state) == [{"area": "kernel args", "item": "nosmt", "expected": "not in /proc/cmdline",
                                    "actual": "present"}]


def test_an_argument_with_another_value_is_missing_and_present():
    state = tuned_state()
    state["cmdline"] = [t if not t.startswith("nohz_full=") else "nohz_full=3,7" for t in state["cmdline"]]
    state["nohz_full"] = "3,7"
    items = verify(PLAN, state)
    assert ("kernel args", "nohz_full=2-3,6-7") in areas(items)
    assert ("kernel args", "nohz_full=3,7") in areas(items)
    assert {"area": "isolated set", "item": "/sys/devices/system/cpu/nohz_full", "expected": "2-3,6-7",
            "actual": "3,7"} in items


def test_quoting_and_order_of_the_running_command_line_do_not_count():
    state = tuned_state()
    state["cmdline"] = list(reversed(state["cmdline"]))
    state["cmdline"] = ['"%s"' % t if t.startswith("isolcpus=") else t for t in state["cmdline"]]
    assert verify(PLAN, state, parts=["kernel"]) == []


def test_balanced_isolation_expects_no_isolated_set():
    plan = copy.deepcopy(PLAN)
    plan["cpu"]["isolation"] = "balanced"
    state = tuned_state()
    assert areas(verify(plan, state, parts=["kernel"])) == [("isolated set", "/sys/devices/system/cpu/isolated")]
    state["isolated"] = ""
    assert verify(plan, state, parts=["kernel"]) == []


def test_what_the_applier_would_change_is_named_by_section_and_path():
    state = tuned_state()
    state["runtime"]["report"]["sections"]["sysctl"]["changes"] = [
        {"path": "/proc/sys/kernel/numa_balancing", "before": "1", "after": "0"}]
    state["runtime"]["report"]["sections"]["hugepages"]["errors"] = ["node 1 1G pages: requested 1, got 0"]
    assert verify(PLAN, state) == [
        {"area": "hugepages", "item": "error", "expected": "none", "actual": "node 1 1G pages: requested 1, got 0"},
        {"area": "sysctl", "item": "/proc/sys/kernel/numa_balancing", "expected": "0", "actual": "1"},
    ] or verify(PLAN, state) == [
        {"area": "sysctl", "item": "/proc/sys/kernel/numa_balancing", "expected": "0", "actual": "1"},
        {"area": "hugepages", "item": "error", "expected": "none", "actual": "node 1 1G pages: requested 1, got 0"},
    ]


def test_an_installed_configuration_that_is_not_the_plan_is_named():
    state = tuned_state()
    state["runtime"]["config"]["workqueue"] = {"cpus": "0-7"}
    assert verify(PLAN, state) == [{"area": "runtime", "item": "/etc/bot4-hft/runtime.d: section workqueue",
                                    "expected": {"cpus": "0-1,4-5"}, "actual": {"cpus": "0-7"}}]


def test_a_section_the_node_does_not_configure_is_not_expected():
    # a role toggle (e.g. housekeeping_rps_enabled: false) leaves the section out
    state = tuned_state()
    del state["runtime"]["config"]["rps"]
    assert verify(PLAN, state) == []


def test_an_unreadable_report_and_a_failed_boot_unit():
    state = tuned_state()
    state["runtime"]["report"] = None
    state["runtime"]["error"] = "50-housekeeping.json is not valid JSON"
    state["unit"]["Result"] = "exit-code"
    assert verify(PLAN, state) == [
        {"area": "runtime", "item": "bot4-hft-runtime --check", "expected": "a report",
         "actual": "50-housekeeping.json is not valid JSON"},
        {"area": "runtime", "item": "bot4-hft-runtime.service at boot", "expected": "success", "actual": "exit-code"},
    ]


def test_pid1_follows_the_boot_pin_when_the_kernel_has_one():
    state = tuned_state()
    state["cmdline"] = [t for t in state["cmdline"] if not t.startswith("systemd.cpu_affinity=")]
    state["affinity"]["pid1"] = "0-7"
    items = verify(PLAN, state, parts=["affinity"])
    assert items == [{"area": "affinity", "item": "PID 1", "expected": "0-1,4-5", "actual": "0-7"}]


def test_stray_processes_are_listed_up_to_ten_then_counted():
    state = tuned_state()
    state["affinity"]["processes"] = [
        {"pid": 1000 + n, "comm": "worker", "cpus": "0-7", "cgroup": "/system.slice/x.service"} for n in range(12)]
    items = verify(PLAN, state, parts=["affinity"])
    assert len(items) == 11
    assert items[0]["item"] == "pid 1000 (worker, /system.slice/x.service)"
    assert items[-1] == {"area": "affinity", "item": "2 more processes", "expected": "0-1,4-5",
                         "actual": "isolated CPUs allowed"}


def test_processes_the_sweep_denies_are_no_strays():
    state = tuned_state()
    state["affinity"]["processes"] = [
        {"pid": 900, "comm": "dpdk-testpmd", "cpus": "2-3", "cgroup": "/system.slice/pmd.service"},
        {"pid": 901, "comm": "qemu-system-x86", "cpus": "6-7", "cgroup": "/machine.slice/vm.scope"},
        {"pid": 902, "comm": "cron", "cpus": "0-7", "cgroup": "/system.slice/cron.service"}]
    assert PLAN["runtime"]["sweep"]["deny"][:1] == ["dpdk*"]
    assert areas(verify(PLAN, state, parts=["affinity"])) == [
        ("affinity", "pid 902 (cron, /system.slice/cron.service)")]
    # without a deny list every one of them is a stray
    plan = copy.deepcopy(PLAN)
    plan["runtime"]["sweep"]["deny"] = []
    assert len(verify(plan, state, parts=["affinity"])) == 3


def kubelet_state(config, cpu_policy="static"):
    """state.kubelet of a running kubelet with this KubeletConfiguration."""
    return {"installed": True, "running": True, "version": "1.33.1", "version_tuple": [1, 33, 1], "flags": {},
            "active": "active", "restarts": 0, "strict_cpu_reservation": False,
            "cpu_manager_state": {"present": True, "policyName": cpu_policy},
            "memory_manager_state": {"present": True, "policyName": "Static"},
            "config": {"file": "/var/lib/kubelet/config.yaml", "dir": "", "error": None,
                       "documents": [{"path": "/var/lib/kubelet/config.yaml", "text": json.dumps(config)}]}}


def test_the_bootloader_part_of_the_state_is_named_by_action():
    state = tuned_state()
    state["bootloader"] = {"actions": [], "reboot_required": False}
    assert verify(PLAN, state) == []
    state["bootloader"]["actions"] = ["regenerate /boot/grub/grub.cfg (its default entry does not carry the planned "
                                      "arguments)"]
    assert verify(PLAN, state) == [{"area": "kernel args", "item": "bootloader configuration",
                                    "expected": "the planned arguments", "actual": state["bootloader"]["actions"][0]}]


def test_the_kubelet_part_of_the_state_against_the_plan():
    config = dict({"kind": "KubeletConfiguration"}, **PLAN["kubelet"])
    config["evictionHard"] = dict(config["evictionHard"], **{"nodefs.available": "10%"})
    state = tuned_state()
    state["kubelet"] = kubelet_state(config)
    assert verify(PLAN, state) == []
    state["kubelet"] = kubelet_state(dict(config, cpuManagerPolicy="none"), cpu_policy="none")
    assert verify(PLAN, state) == [
        {"area": "kubelet", "item": "cpuManagerPolicy", "expected": "static", "actual": "none"},
        {"area": "kubelet", "item": "checkpoints", "expected": "the planned policies",
         "actual": "cpu_manager_state holds policy none, the plan says static"}]
    assert verify(PLAN, state, parts=["kernel", "runtime", "affinity"]) == []
    # no kubelet on the node, or none read: nothing to compare
    state["kubelet"] = {"installed": False, "config": {"file": "", "dir": "", "documents": [], "error": None}}
    assert verify(PLAN, state) == []
    state["kubelet"] = None
    assert verify(PLAN, state) == []


def test_parts_limit_the_comparison_and_unknown_parts_are_refused():
    state = tuned_state()
    state["isolated"] = ""
    assert verify(PLAN, state, parts=["runtime", "affinity"]) == []
    with pytest.raises(ValueError, match="unknown verify parts: kernal"):
        verify(PLAN, state, parts=["kernal"])
    assert set(PARTS) == {"kernel", "runtime", "affinity", "kubelet"}


# ---------------------------------------------------------------------------
# The kind of kernel (kernel.realtime), as node_state_info reads it on the lab VM

GENERIC = {"release": "6.1.0-27-amd64", "version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 (2024-11-01)",
           "realtime": False}
REALTIME = {"release": "6.1.0-27-rt-amd64", "version": "#1 SMP PREEMPT_RT Debian 6.1.115-1 (2024-11-01)",
            "realtime": True}


def realtime_plan(realtime):
    plan = copy.deepcopy(PLAN)
    plan["kernel"] = {"realtime": realtime, "flavour": "realtime" if realtime else "generic"}
    return plan


@pytest.mark.parametrize("realtime,kernel", [(False, GENERIC), (True, REALTIME)])
def test_the_planned_kind_of_kernel_running_is_no_difference(realtime, kernel):
    state = dict(tuned_state(), kernel=kernel)
    assert verify(realtime_plan(realtime), state) == []


def test_a_realtime_plan_on_a_generic_kernel_names_the_running_kernel():
    items = verify(realtime_plan(True), dict(tuned_state(), kernel=GENERIC))
    assert items == [{"area": "kernel", "item": "running kernel (uname -v)", "expected": "PREEMPT_RT",
                      "actual": "6.1.0-27-amd64 (#1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 (2024-11-01))"}]


def test_a_generic_plan_on_a_realtime_kernel_differs_too():
    items = verify(realtime_plan(False), dict(tuned_state(), kernel=REALTIME))
    assert areas(items) == [("kernel", "running kernel (uname -v)")]
    assert items[0]["expected"] == "a kernel without PREEMPT_RT"
    assert items[0]["actual"].startswith("6.1.0-27-rt-amd64 (#1 SMP PREEMPT_RT")


def test_the_kind_of_kernel_is_part_of_the_kernel_part():
    state = dict(tuned_state(), kernel=GENERIC)
    assert verify(realtime_plan(True), state, parts=["runtime", "affinity", "kubelet"]) == []
    assert verify(realtime_plan(True), {k: v for k, v in state.items() if k != "kernel"}) == []


def offline_plan():
    plan = copy.deepcopy(PLAN)
    plan["cpu"]["offline_planned"] = "7"
    plan["runtime"]["cpu_offline"] = {"cpus": "7"}
    return plan


def test_a_cpu_of_cpu_offline_that_is_online_is_named_twice():
    plan = offline_plan()
    state = tuned_state()
    state["offline"] = ""
    state["runtime"]["config"]["cpu_offline"] = {"cpus": "7"}
    state["runtime"]["report"]["sections"]["cpu_offline"] = {
        "changes": [{"path": "/sys/devices/system/cpu/cpu7/online", "before": "1", "after": "0"}],
        "errors": [], "notices": []}
    assert verify(plan, state) == [
        {"area": "offline CPUs", "item": "/sys/devices/system/cpu/offline", "expected": "holds 7",
         "actual": " (CPUs 7 online)"},
        {"area": "cpu_offline", "item": "/sys/devices/system/cpu/cpu7/online", "expected": "0", "actual": "1"},
    ]
    state["offline"] = "7"
    state["runtime"]["report"]["sections"]["cpu_offline"]["changes"] = []
    assert verify(plan, state) == []
    # a state read without the offline CPUs (an older reader) is no difference
    del state["offline"]
    assert verify(plan, state) == []


# ----------------------------------------------------------- a node pending a reboot (hft_tune_mode=deferred)
BOOT_ID = "0b8e61f4-5a1c-4d3e-9f00-3c1d2b4a5e6f"
SHA = "9" * 64


def pending_record(**changes):
    record = {"plan_sha256": SHA, "node": "lab-node-1", "manifest": True, "pending_reboot": True, "boot_id": BOOT_ID}
    record.update(changes)
    return record


def deferred_state():
    """A lab node right after a deferred run: the bootloader, the applier, its
    configuration and boot unit written; the running system untouched."""
    state = tuned_state()
    state["cmdline"] = ["BOOT_IMAGE=/boot/vmlinuz-6.1.0-27-amd64", "root=UUID=0a1b", "ro", "quiet"]
    state["isolated"] = ""
    state["nohz_full"] = ""
    state["bootloader"] = {"actions": [], "reboot_required": True}
    state["runtime"]["report"]["sections"]["sysctl"]["changes"] = [
        {"path": "/proc/sys/kernel/numa_balancing", "before": "1", "after": "0"}]
    state["affinity"]["pid1"] = "0-7"
    state["affinity"]["slices"] = {"system.slice": "0-7", "user.slice": "0-7"}
    return state


def test_a_deferred_node_is_pending_and_every_difference_waits_for_the_reboot():
    items = verify(PLAN, deferred_state())
    assert items
    status = node_status(items, pending_record(), BOOT_ID + "\n", SHA)
    assert status["status"] == STATUS_PENDING and status["pending_reboot"] is True
    assert status["boot_state"] == [] and status["at_reboot"] == items
    got = areas(status["at_reboot"])
    assert ("isolated set", "/sys/devices/system/cpu/isolated") in got
    assert ("sysctl", "/proc/sys/kernel/numa_balancing") in got
    assert ("affinity", "PID 1") in got


def test_a_boot_state_changed_by_hand_makes_a_pending_node_differ():
    state = deferred_state()
    state["bootloader"]["actions"] = ["write /etc/default/grub.d/90-bot4-hft.cfg"]
    items = verify(PLAN, state)
    status = node_status(items, pending_record(), BOOT_ID, SHA)
    assert status["status"] == STATUS_DIFFERS and status["pending_reboot"] is True
    assert areas(status["boot_state"]) == [("kernel args", "bootloader configuration")]
    assert status["at_reboot"] == [i for i in items if i["item"] != "bootloader configuration"]


@pytest.mark.parametrize("item", [
    {"area": "kernel args", "item": "bootloader configuration"},
    {"area": "runtime", "item": "/usr/local/sbin/bot4-hft-runtime"},
    {"area": "runtime", "item": "bot4-hft-runtime.service"},
    {"area": "runtime", "item": "/etc/bot4-hft/runtime.d: section sysctl"},
    {"area": "runtime", "item": "bot4-hft-runtime --check"},
    {"area": "kubelet", "item": "cpuManagerPolicy"},
])
def test_boot_state_items(item):
    assert boot_state_item(item)


@pytest.mark.parametrize("item", [
    {"area": "kernel args", "item": "nohz_full=2-3,6-7"},
    {"area": "isolated set", "item": "/sys/devices/system/cpu/isolated"},
    {"area": "offline CPUs", "item": "/sys/devices/system/cpu/offline"},
    {"area": "kernel", "item": "running kernel (uname -v)"},
    {"area": "runtime", "item": "bot4-hft-runtime.service at boot"},
    {"area": "hugepages", "item": "/sys/devices/system/node/node0/hugepages/hugepages-2048kB/nr_hugepages"},
    {"area": "irq", "item": "error"},
    {"area": "affinity", "item": "PID 1"},
    {"area": "kubelet", "item": "checkpoints"},
])
def test_differences_a_reboot_resolves(item):
    assert not boot_state_item(item)


@pytest.mark.parametrize("record, boot_id, why", [
    (None, BOOT_ID, "no record"),
    (pending_record(pending_reboot=False), BOOT_ID, "not pending"),
    (pending_record(pending_reboot="true"), BOOT_ID, "a flag that is not the boolean true"),
    (pending_record(), "11111111-2222-4333-8444-555555555555", "the node has booted since"),
    (pending_record(boot_id=""), "", "no boot id recorded"),
    (pending_record(), None, "the boot id could not be read"),
    (pending_record(plan_sha256="8" * 64), BOOT_ID, "another plan"),
    ({k: v for k, v in pending_record().items() if k != "boot_id"}, BOOT_ID, "a record without a boot id"),
])
def test_a_pending_flag_counts_only_for_the_same_boot_and_plan(record, boot_id, why):
    assert not pending_reboot(record, boot_id, SHA), why
    items = verify(PLAN, deferred_state())
    assert node_status(items, record, boot_id, SHA)["status"] == STATUS_DIFFERS, why


def test_a_node_in_its_plan_is_in_plan_and_a_pending_one_without_difference_still_waits():
    assert node_status([], None, BOOT_ID, SHA) == {"status": STATUS_IN_PLAN, "pending_reboot": False,
                                                   "boot_state": [], "at_reboot": []}
    assert node_status([], pending_record(), BOOT_ID, SHA)["status"] == STATUS_PENDING
    # once rebooted, the stale flag is ignored: the node is in plan
    assert node_status([], pending_record(), "11111111-2222-4333-8444-555555555555", SHA)["status"] == STATUS_IN_PLAN
