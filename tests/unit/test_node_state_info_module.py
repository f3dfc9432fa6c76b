# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bot4.hft.node_state_info on a fake node: the lab VM's recorded /proc and
/sys tree, with the processes, cgroups and applier files a tuned node has;
then the filter node_differences on what it read."""

import json
import os
import sys
from pathlib import Path

import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.bot4.hft.plugins.filter.node_differences import node_differences
from ansible_collections.bot4.hft.plugins.modules import node_state_info

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
from module_harness import patch_module_args  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "runtime"))
import fakesys  # noqa: E402

PLAN = json.loads((Path(__file__).resolve().parent / "golden" / "lab__lab.json").read_text())
HOUSEKEEPING = ("sysctl", "thp", "irq", "workqueue", "rps")


def write(root, path, text):
    target = Path(root) / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def process(root, pid, comm, cpus, cgroup, cmdline="x"):
    write(root, "/proc/%d/status" % pid, "Name:\t%s\nCpus_allowed_list:\t%s\n" % (comm, cpus))
    write(root, "/proc/%d/comm" % pid, comm + "\n")
    write(root, "/proc/%d/cmdline" % pid, cmdline)
    write(root, "/proc/%d/cgroup" % pid, "0::%s\n" % cgroup)


@pytest.fixture
def lab(tmp_path, monkeypatch):
    machine = fakesys.Machine(tmp_path, monkeypatch, "lab-vm")
    root = machine.root
    write(root, "/proc/cmdline", "BOOT_IMAGE=/boot/vmlinuz ro console=ttyS0 " + " ".join(PLAN["kernel_args"]) + "\n")
    write(root, "/sys/devices/system/cpu/isolated", "2-3,6-7\n")
    write(root, "/sys/devices/system/cpu/nohz_full", "2-3,6-7\n")
    process(root, 1, "systemd", "0-1,4-5", "/init.scope")
    process(root, 412, "sshd", "0-1,4-5", "/system.slice/ssh.service")
    process(root, 900, "engine", "2-3", "/kubepods.slice/kubepods-pod1.slice/cri-containerd-1.scope")
    process(root, 2, "kthreadd", "0-7", "/", cmdline="")  # a kernel thread: not user space
    for name in ("system.slice", "user.slice"):
        write(root, "/sys/fs/cgroup/%s/cpuset.cpus.effective" % name, "0-1,4-5\n")
    launcher = root / "usr/local/sbin/bot4-hft-runtime"
    write(root, str(launcher.relative_to(root)), "#!/usr/bin/python3\n")
    os.chmod(str(launcher), 0o755)
    fragment = {"format": 1, "comment": "rendered from the node plan"}
    fragment.update({k: PLAN["runtime"][k] for k in HOUSEKEEPING})
    write(root, "/etc/bot4-hft/runtime.d/50-housekeeping.json", json.dumps(fragment))
    return machine


def read(machine, capsys, **params):
    params.setdefault("root", str(machine.root))
    with patch_module_args(params):
        with pytest.raises(SystemExit) as exit_info:
            node_state_info.main()
    result = json.loads(capsys.readouterr().out)
    assert exit_info.value.code == 0, result
    assert result["changed"] is False
    return result["state"]


def test_reads_the_node_in_one_pass(lab, capsys):
    state = read(lab, capsys)
    assert state["cmdline"][:3] == ["BOOT_IMAGE=/boot/vmlinuz", "ro", "console=ttyS0"]
    assert state["isolated"] == "2-3,6-7" and state["nohz_full"] == "2-3,6-7"
    assert state["runtime"]["installed"] is True
    assert sorted(state["runtime"]["config"]) == sorted(HOUSEKEEPING)
    assert state["runtime"]["report"]["mode"] == "check"
    assert state["affinity"]["pid1"] == "0-1,4-5"
    assert state["affinity"]["slices"] == {"system.slice": "0-1,4-5", "user.slice": "0-1,4-5"}
    # neither the pod's process nor the kernel thread is listed
    assert [p["pid"] for p in state["affinity"]["processes"]] == [412]
    assert state["unit"] == {"UnitFileState": "", "Result": ""}  # not read below a test root
    assert lab.kernel.writes == []


def test_the_untuned_runtime_is_what_verify_names(lab, capsys):
    # The recorded tree is an untuned lab VM: the applier would move IRQs and
    # set the workqueue mask, and verify names each path.
    items = node_differences(PLAN, read(lab, capsys), parts=["runtime"])
    named = {(i["area"], i["item"]) for i in items}
    assert ("workqueue", "/sys/devices/virtual/workqueue/cpumask") in named
    assert ("irq", "/proc/irq/default_smp_affinity") in named
    assert ("runtime", "bot4-hft-runtime.service") in named  # the unit was not read here


def test_after_the_applier_ran_only_the_unit_is_left(lab, capsys):
    code, _unused = lab.apply({k: PLAN["runtime"][k] for k in HOUSEKEEPING})
    assert code == 0
    state = read(lab, capsys)
    state["unit"] = {"UnitFileState": "enabled", "Result": "success"}
    assert node_differences(PLAN, state, parts=["kernel", "runtime", "affinity"]) == []


def test_a_broken_configuration_is_reported_not_raised(lab, capsys):
    write(lab.root, "/etc/bot4-hft/runtime.d/60-cpu-power.json", "{not json")
    state = read(lab, capsys)
    assert state["runtime"]["report"] is None
    assert "60-cpu-power.json is not valid JSON" in state["runtime"]["error"]
    items = node_differences(PLAN, state, parts=["runtime"])
    assert items[0]["item"] == "bot4-hft-runtime --check"


def test_parts_limit_what_is_read_and_the_record_is_always_read(lab, capsys):
    boot_id = "6b0e0c1e-0000-4000-8000-000000000001"
    expected = {"record": None, "boot_id": boot_id, "affinity": read(lab, capsys)["affinity"]}
    assert read(lab, capsys, parts=["affinity"]) == expected
    write(lab.root, "/etc/bot4-hft/tuned.json", json.dumps({"plan_sha256": "ab12", "node": "lab-node-1"}))
    assert read(lab, capsys, parts=[])["record"] == {"plan_sha256": "ab12", "node": "lab-node-1"}
    write(lab.root, "/etc/bot4-hft/tuned.json", "{half")
    assert read(lab, capsys, parts=[])["record"] is None


def test_the_boot_id_is_read_below_the_root(lab, capsys):
    write(lab.root, "/proc/sys/kernel/random/boot_id", "0f1e2d3c-0000-4000-8000-00000000000a\n")
    assert read(lab, capsys, parts=[])["boot_id"] == "0f1e2d3c-0000-4000-8000-00000000000a"
    (Path(lab.root) / "proc/sys/kernel/random/boot_id").unlink()
    assert read(lab, capsys, parts=[])["boot_id"] is None


def test_the_bootloader_and_the_kubelet_are_read_only_when_asked(lab, capsys):
    state = read(lab, capsys)
    assert state["bootloader"] is None and state["kubelet"] is None


def test_the_kubelet_below_a_root(lab, capsys):
    # Below a test root no command runs: the binary is found, its version and unit are not read.
    kubelet = lab.root / "usr/bin/kubelet"
    write(lab.root, "/usr/bin/kubelet", "#!/bin/sh\n")
    os.chmod(str(kubelet), 0o755)
    config = (Path(__file__).resolve().parent / "fixtures" / "kubelet" / "kubeadm-config.yaml").read_text()
    write(lab.root, "/var/lib/kubelet/config.yaml", config)
    write(lab.root, "/var/lib/kubelet/cpu_manager_state", '{"policyName":"none","defaultCpuSet":"","checksum":1}')
    state = read(lab, capsys, parts=["kubelet"], kubelet={"strict_cpu_reservation": "true"})
    kubelet = state["kubelet"]
    assert (kubelet["installed"], kubelet["running"], kubelet["version"]) == (True, False, None)
    assert kubelet["strict_cpu_reservation"] is True
    assert kubelet["cpu_manager_state"] == {"present": True, "policyName": "none"}
    assert kubelet["config"]["documents"] == [{"path": "/var/lib/kubelet/config.yaml", "text": config}]
    # what the verify role reports of it
    items = node_differences(PLAN, state, parts=["kubelet"])
    assert items[0] == {"area": "kubelet", "item": "cpuManagerPolicy", "expected": "static", "actual": None}
    assert items[-1] == {"area": "kubelet", "item": "checkpoints", "expected": "the planned policies",
                         "actual": "cpu_manager_state holds policy none, the plan says static"}


def test_the_kubelet_commands_go_through_run_command():
    with patch_module_args({}):
        module = AnsibleModule(argument_spec={})
    run = node_state_info.command_runner(module)
    assert run(["sh", "-c", "echo out; echo err >&2; exit 3"]) == (3, "out\n", "err\n")
    # A command that cannot be started: an OSError for read_node_kubelet, not a failed module.
    with pytest.raises(OSError):
        run(["/nonexistent/kubelet", "--version"])
