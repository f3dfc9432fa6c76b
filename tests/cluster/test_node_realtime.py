"""kernel.realtime on the joined lab VM: Debian's PREEMPT_RT kernel, booted with
the plan's kernel arguments in one reboot, then untuned back to the kernel the
node ran before.

Run it on its own, with its own joined VM (it leaves the node untuned, with the
RT kernel installed and the GRUB drop-in holding only GRUB_DEFAULT, which the
snapshot comparison of test_node_tuning_change.py would count as differences):
`make test-realtime` (marker ``realtime``; `make test` leaves it out).

* A tuning run with the lab group's profile plus ``kernel.realtime: true``
  installs ``linux-image-rt-amd64`` next to the generic kernel, makes the RT
  kernel GRUB's default by its menu entry id and reboots the node exactly once:
  it then runs a PREEMPT_RT kernel (``uname -v``) with every planned argument.
* A second run takes the fast path (no reboot), and drift finds nothing; drift
  with the group's generic profile names the running kernel.
* Untune reboots once into the kernel of the command line from before the
  first tuning, with that command line; the RT kernel stays installed.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from conftest import REPO, boots, node_ready, run_playbook, run_tune, wait_until

pytestmark = pytest.mark.realtime

_spec = importlib.util.spec_from_file_location("bot4_node_profiles", REPO / "molecule" / "node" / "tests" / "profiles.py")
node_profiles = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(node_profiles)

DROPIN = "/etc/default/grub.d/90-bot4-hft.cfg"


def realtime_profile() -> dict:
    return node_profiles.merge(node_profiles.group_profile(), {"kernel": {"realtime": True}})


def boot_release(cmdline: str) -> str:
    image = next(t for t in cmdline.split() if t.startswith("BOOT_IMAGE="))
    return image.rsplit("/", 1)[-1][len("vmlinuz-"):]


def grub_default(vm) -> str:
    lines = [line for line in vm.ssh(f"cat {DROPIN}").splitlines() if line.startswith("GRUB_DEFAULT=")]
    assert len(lines) == 1, lines
    return lines[0].split("=", 1)[1].strip('"')


def entry_id(vm, release: str) -> str:
    uuid = vm.ssh("grub-probe --target=fs_uuid /").strip()
    return f"gnulinux-advanced-{uuid}>gnulinux-{release}-advanced-{uuid}"


@pytest.fixture(scope="module")
def realtime(joined_vm):
    vm = joined_vm
    plan_dir = vm.inventory.parent / "plans-realtime"
    before = boots(vm)
    run = run_tune(vm, "realtime", "-e", f"preflight_plan_dir={plan_dir}", profile=realtime_profile())
    wait_until(lambda: node_ready(vm), timeout=600, interval=5, what="the node Ready on the RT kernel")
    plan = json.loads((plan_dir / f"{vm.node}.json").read_text())["plan"]
    return {"run": run, "reboots": boots(vm) - before, "plan": plan}


def test_the_rt_kernel_boots_with_the_plans_arguments_in_one_reboot(joined_vm, realtime):
    vm, plan = joined_vm, realtime["plan"]
    assert plan["kernel"] == {"realtime": True, "flavour": "realtime"}
    assert realtime["run"]["recap"]["failed"] == 0
    assert realtime["reboots"] == 1, "the kernel and its arguments arrive in the same single reboot"
    assert "PREEMPT_RT" in vm.ssh("uname -v").split()
    release = vm.ssh("uname -r").strip()
    assert release.endswith("-rt-amd64"), release
    cmdline = vm.ssh("cat /proc/cmdline").split()
    assert [arg for arg in plan["kernel_args"] if arg not in cmdline] == []
    assert vm.ssh("cat /sys/devices/system/cpu/isolated").strip() == plan["cpu"]["isolated"]
    # GRUB's default is the RT kernel's menu entry id, not an index.
    assert grub_default(vm) == entry_id(vm, release)
    # The kernel the node ran before is still installed.
    previous = boot_release(vm.original_cmdline)
    assert previous != release
    vm.ssh(f"test -e /boot/vmlinuz-{previous} && dpkg-query -W linux-image-amd64 linux-image-rt-amd64")


def test_a_second_run_takes_the_fast_path_and_drift_finds_nothing(joined_vm, realtime):
    vm = joined_vm
    before = boots(vm)
    again = run_tune(vm, "realtime-again", profile=realtime_profile())
    assert again["recap"]["changed"] == 0, again["stdout"][-3000:]
    assert boots(vm) == before
    report_dir = vm.inventory.parent / "drift-realtime"
    run_playbook(vm, "drift.yml", "realtime-drift", "-e", f"drift_report_dir={report_dir}",
                 profile=realtime_profile())
    assert json.loads((report_dir / "drift.json").read_text())["drifted"] == []


def test_drift_with_a_generic_plan_names_the_running_rt_kernel(joined_vm, realtime):
    vm = joined_vm
    report_dir = vm.inventory.parent / "drift-generic"
    run_playbook(vm, "drift.yml", "generic-drift", "-e", f"drift_report_dir={report_dir}",
                 profile=node_profiles.group_profile(), expect_rc=None)
    report = json.loads((report_dir / "drift.json").read_text())
    assert report["drifted"] == [vm.node]
    items = {(i["area"], i["item"]): i for i in report["nodes"][0]["items"]}
    kernel = items[("kernel", "running kernel (uname -v)")]
    assert kernel["expected"] == "a kernel without PREEMPT_RT" and "PREEMPT_RT" in kernel["actual"], kernel


def test_untune_boots_the_previous_kernel(joined_vm, realtime):
    vm = joined_vm
    before = boots(vm)
    run_playbook(vm, "untune_nodes.yml", "realtime-untune", profile=realtime_profile())
    assert boots(vm) == before + 1, "untune reboots exactly once"
    wait_until(lambda: node_ready(vm), timeout=600, interval=5, what="the node Ready after untune")
    previous = boot_release(vm.original_cmdline)
    assert vm.ssh("uname -r").strip() == previous
    assert "PREEMPT_RT" not in vm.ssh("uname -v").split()
    assert vm.ssh("cat /proc/cmdline").strip() == vm.original_cmdline
    # The RT kernel stays installed; the drop-in keeps only the previous kernel as GRUB's default.
    vm.ssh("dpkg-query -W linux-image-rt-amd64")
    assert grub_default(vm) == entry_id(vm, previous)
    assert 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX"' in vm.ssh(f"cat {DROPIN}").splitlines()
    assert vm.ssh("test -e /var/lib/bot4-hft && echo left || echo gone").strip() == "gone"
