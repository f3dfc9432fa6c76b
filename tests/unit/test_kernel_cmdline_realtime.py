"""bot4.hft.kernel_cmdline's default kernel (kernel.realtime) on fixture roots.

The fixture's stand-in grub-mkconfig lists the kernels of ROOT/boot newest
first, as Debian's 10_linux sorts them (so a PREEMPT_RT kernel of the same ABI
comes first, and GRUB_DEFAULT=0 would boot it); the module must make the
wanted kernel the default by its menu entry id, check the regenerated
grub.cfg, and report the kernel switch as a reason to reboot.
"""

import json
import shutil
import sys
from pathlib import Path

import pytest

from test_kernel_cmdline_module import DROPIN, FIXTURES, GRUB_CFG, KEYS, PLAN, run, set_running, snapshot

from ansible_collections.bot4.hft.plugins.module_utils.kernel_cmdline import (
    default_entry,
    entry_release,
    parse_grub_cfg,
)

UUID = "0d7c6a1e-5a55-4c4e-9d51-3b2e8f7d9a10"
GENERIC = "6.1.0-28-amd64"
RT = "6.1.0-28-rt-amd64"
OLD_RT = "6.1.0-25-rt-amd64"
PROBE = [sys.executable, "-c", "print(%r)" % UUID]


def entry_id(release):
    return "gnulinux-advanced-%s>gnulinux-%s-advanced-%s" % (UUID, release, UUID)


def install(root, *releases):
    for release in releases:
        (root / "boot" / ("vmlinuz-" + release)).write_bytes(b"kernel image")
        (root / "boot" / ("initrd.img-" + release)).write_bytes(b"initrd")


def boot(root, release, args=()):
    """The node as it runs after a reboot into ``release`` with ``args``."""
    (root / "proc/sys/kernel").mkdir(parents=True, exist_ok=True)
    (root / "proc/sys/kernel/osrelease").write_text(release + "\n")
    set_running(root, list(args))


def booted_next(root):
    """The release the default entry of grub.cfg boots."""
    entry, _selector = default_entry(parse_grub_cfg((root / GRUB_CFG).read_text()))
    return entry_release(entry)


def run_kernel(root, capsys, **params):
    params.setdefault("grub_probe_command", PROBE)
    params.setdefault("owned_keys", KEYS)
    return run(root, capsys, **params)


@pytest.fixture
def root(tmp_path):
    target = tmp_path / "root"
    shutil.copytree(FIXTURES / "debian12", target)
    return target


@pytest.fixture
def node(root):
    """A Debian 12 node running the generic kernel, with the RT kernel installed next to it."""
    install(root, GENERIC, RT)
    boot(root, GENERIC)
    return root


def test_realtime_makes_the_rt_kernel_the_default_by_its_entry_id_and_needs_a_reboot(node, capsys):
    result = run_kernel(node, capsys, args=PLAN, kernel="realtime")
    assert result["_rc"] == 0, result
    assert result["changed"] is True
    assert result["grub_default"] == entry_id(RT)
    assert result["grub_default_before"] is None
    assert result["kernel_release_running"] == GENERIC
    assert result["kernel_release_next"] == RT
    assert result["kernel_switch_required"] is True
    assert result["reboot_required"] is True
    assert result["default_entry"] == "Debian GNU/Linux, with Linux %s" % RT
    assert 'GRUB_DEFAULT="%s"' % entry_id(RT) in (node / DROPIN).read_text().splitlines()
    assert booted_next(node) == RT
    # Re-run: nothing to change; after the reboot into the RT kernel with the arguments, no reboot.
    again = run_kernel(node, capsys, args=PLAN, kernel="realtime")
    assert again["changed"] is False and again["actions"] == []
    assert again["reboot_required"] is True
    boot(node, RT, PLAN)
    booted = run_kernel(node, capsys, args=PLAN, kernel="realtime")
    assert booted["changed"] is False
    assert booted["reboot_required"] is False and booted["kernel_switch_required"] is False


def test_the_kernel_alone_is_a_reason_to_reboot(node, capsys):
    boot(node, GENERIC, PLAN)
    run_kernel(node, capsys, args=PLAN)
    assert run_kernel(node, capsys, args=PLAN)["reboot_required"] is False
    result = run_kernel(node, capsys, args=PLAN, kernel="realtime")
    assert result["running_missing"] == [] and result["running_unexpected"] == []
    assert result["reboot_required"] is True and result["kernel_switch_required"] is True


def test_the_newest_rt_kernel_is_chosen(node, capsys):
    install(node, OLD_RT)
    result = run_kernel(node, capsys, args=PLAN, kernel="realtime")
    assert result["kernel_release_next"] == RT
    assert booted_next(node) == RT


def test_check_mode_before_the_package_is_installed_reports_the_switch_and_changes_nothing(root, capsys):
    install(root, GENERIC)
    boot(root, GENERIC)
    before = snapshot(root)
    result = run_kernel(root, capsys, check_mode=True, args=PLAN, kernel="realtime")
    assert result["_rc"] == 0, result
    assert result["changed"] is True
    assert "make the newest PREEMPT_RT kernel the GRUB default (none is installed yet)" in result["actions"]
    assert result["reboot_required"] is True and result["kernel_switch_required"] is True
    assert snapshot(root) == before


def test_without_an_rt_kernel_the_run_fails_before_any_change(root, capsys):
    install(root, GENERIC)
    boot(root, GENERIC)
    before = snapshot(root)
    result = run_kernel(root, capsys, args=PLAN, kernel="realtime")
    assert result["failed"] is True
    assert result["msg"] == ("kernel=realtime: no PREEMPT_RT kernel is installed under /boot "
                             "(installed: %s)" % GENERIC)
    assert snapshot(root) == before


def test_generic_leaves_grubs_own_choice_on_a_node_never_switched(root, capsys):
    install(root, GENERIC)
    boot(root, GENERIC)
    result = run_kernel(root, capsys, args=PLAN, kernel="generic")
    assert result["grub_default"] is None
    assert "GRUB_DEFAULT" not in (root / DROPIN).read_text()
    assert result["kernel_switch_required"] is False


def test_generic_after_realtime_boots_the_generic_kernel_again(node, capsys):
    run_kernel(node, capsys, args=PLAN, kernel="realtime")
    boot(node, RT, PLAN)
    result = run_kernel(node, capsys, args=PLAN, kernel="generic")
    assert result["changed"] is True
    assert result["grub_default_before"] == entry_id(RT)
    assert result["grub_default"] == entry_id(GENERIC)
    assert result["reboot_required"] is True and result["kernel_switch_required"] is True
    assert booted_next(node) == GENERIC
    # It stays pinned: without the pin GRUB_DEFAULT=0 would boot the RT kernel, sorted first.
    boot(node, GENERIC, PLAN)
    again = run_kernel(node, capsys, args=PLAN, kernel="generic")
    assert again["changed"] is False and again["reboot_required"] is False


def test_generic_pins_the_generic_kernel_when_grub_would_boot_an_rt_one(node, capsys):
    run_kernel(node, capsys, args=PLAN)
    assert booted_next(node) == RT  # sorted first: what GRUB_DEFAULT=0 boots
    result = run_kernel(node, capsys, args=PLAN, kernel="generic")
    assert result["grub_default"] == entry_id(GENERIC)
    assert booted_next(node) == GENERIC


def test_absent_removes_the_pin_and_kernel_release_pins_the_previous_kernel(node, capsys):
    run_kernel(node, capsys, args=PLAN, kernel="realtime")
    boot(node, RT, PLAN)
    removed = run_kernel(node, capsys, state="absent")
    assert removed["grub_default_before"] == entry_id(RT)
    assert not (node / DROPIN).exists()
    assert booted_next(node) == RT  # GRUB's own order: the reason untune pins the previous kernel
    pinned = run_kernel(node, capsys, state="absent", kernel_release=GENERIC)
    assert pinned["changed"] is True
    assert pinned["args_after"] == []
    assert booted_next(node) == GENERIC
    text = (node / DROPIN).read_text()
    assert 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX"' in text.splitlines()
    assert 'GRUB_DEFAULT="%s"' % entry_id(GENERIC) in text.splitlines()
    assert pinned["reboot_required"] is True and pinned["running_unexpected"] == PLAN
    boot(node, GENERIC)
    assert run_kernel(node, capsys, state="absent", kernel_release=GENERIC)["reboot_required"] is False


def test_a_kernel_release_that_is_not_installed_is_refused(node, capsys):
    before = snapshot(node)
    result = run_kernel(node, capsys, state="absent", kernel_release="6.1.0-9-amd64")
    assert result["failed"] is True
    assert result["msg"].startswith("kernel_release: /boot/vmlinuz-6.1.0-9-amd64 is not installed")
    assert snapshot(node) == before


def test_a_failing_grub_probe_stops_before_any_change(node, capsys):
    before = snapshot(node)
    result = run_kernel(node, capsys, args=PLAN, kernel="realtime",
                        grub_probe_command=[sys.executable, "-c", "import sys; sys.exit('no such device')"])
    assert result["failed"] is True
    assert "so the menu entry of %s is unknown: no such device" % RT in result["msg"]
    assert snapshot(node) == before


def test_an_entry_id_grub_does_not_have_restores_the_dropin(node, capsys):
    # Another uuid than grub-mkconfig's: GRUB would fall back to the first entry (the RT kernel).
    run_kernel(node, capsys, args=PLAN)
    before = snapshot(node)
    result = run_kernel(node, capsys, args=PLAN, kernel_release=GENERIC,
                        grub_probe_command=[sys.executable, "-c", "print('1111-2222')"])
    assert result["failed"] is True
    assert "boots %s, not %s" % (RT, GENERIC) in result["msg"]
    assert "the previous /etc/default/grub.d/90-bot4-hft.cfg was restored" in result["msg"]
    assert snapshot(node) == before


def test_node_state_info_reads_the_kernel_and_what_the_bootloader_needs(node, capsys):
    from ansible_collections.bot4.hft.plugins.modules import node_state_info
    from module_harness import run_module

    (node / "proc/sys/kernel/version").write_text("#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)\n")
    params = {"root": str(node), "parts": ["kernel"],
              "kernel_args": {"args": PLAN, "owned_keys": KEYS, "kernel": "realtime",
                              "grub_probe_command": PROBE}}
    result = run_module(node_state_info.main, capsys, params)
    assert result["_rc"] == 0, result
    state = result["state"]
    assert state["kernel"] == {"release": GENERIC, "realtime": False,
                               "version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)"}
    assert "write /etc/default/grub.d/90-bot4-hft.cfg" in state["bootloader"]["actions"]
    assert state["bootloader"]["kernel_release_next"] == RT
    assert not (node / DROPIN).exists()
    (node / "proc/sys/kernel/version").write_text("#1 SMP PREEMPT_RT Debian 6.1.119-1 (2024-11-22)\n")
    assert run_module(node_state_info.main, capsys, params)["state"]["kernel"]["realtime"] is True


def test_grubby_refuses_to_switch_kernels(node, capsys):
    result = run_kernel(node, capsys, backend="grubby", grubby_command=str(Path(sys.executable)),
                        args=PLAN, kernel="realtime")
    assert result["failed"] is True
    assert result["msg"] == "kernel=realtime: the grubby backend does not set the default kernel; only grub_dropin does"


def test_absent_with_generic_pins_the_generic_kernel_only_where_grub_would_boot_an_rt_one(node, capsys):
    run_kernel(node, capsys, args=PLAN, kernel="realtime")
    run_kernel(node, capsys, state="absent")
    result = run_kernel(node, capsys, state="absent", kernel="generic")
    assert result["grub_default"] == entry_id(GENERIC)
    assert booted_next(node) == GENERIC
    # Without an RT kernel installed there is nothing to pin.
    (node / "boot" / ("vmlinuz-" + RT)).unlink()
    run_kernel(node, capsys, state="absent")
    assert run_kernel(node, capsys, state="absent", kernel="generic")["grub_default"] is None
    assert not (node / DROPIN).exists()


def test_a_previous_kernel_removed_since_falls_back_to_the_newest_generic_one(node, capsys):
    install(node, "6.1.0-29-amd64")
    run_kernel(node, capsys, args=PLAN, kernel="realtime")
    run_kernel(node, capsys, state="absent")
    result = run_kernel(node, capsys, state="absent", kernel="generic", kernel_release="6.1.0-9-amd64")
    assert result["_rc"] == 0, result
    assert result["kernel_release_next"] == "6.1.0-29-amd64"
    # Strings, or event dicts on ansible-core >= 2.19.
    assert any("6.1.0-9-amd64 is not installed any more" in json.dumps(w) for w in result["warnings"]), result
    assert booted_next(node) == "6.1.0-29-amd64"
