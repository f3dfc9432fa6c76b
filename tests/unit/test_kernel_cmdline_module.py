"""bot4.hft.kernel_cmdline on fixture roots.

The GRUB backend runs for real (sh -n, the drop-in, grub.cfg parsing and the
atomic rename) with a stand-in generator and checker from the fixtures; the
grubby backend runs a recording stand-in for grubby. bot4.hft.node_state_info
reads the same bootloader with the same code, in check mode.
"""

import json
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest


from ansible_collections.bot4.hft.plugins.module_utils.kernel_cmdline import render_dropin
from ansible_collections.bot4.hft.plugins.modules import kernel_cmdline, node_state_info

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
from module_harness import run_module  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "kernel_cmdline"
DROPIN = "etc/default/grub.d/90-bot4-hft.cfg"
GRUB_CFG = "boot/grub/grub.cfg"

PLAN = [
    "isolcpus=managed_irq,domain,2-3,6-7",
    "nohz_full=2-3,6-7",
    "rcu_nocbs=2-3,6-7",
    "irqaffinity=0-1,4-5",
    "default_hugepagesz=1G",
    "hugepagesz=1G",
    "hugepages=0:0,1:1",
    "hugepagesz=2M",
    "hugepages=0:128,1:0",
    "nosoftlockup",
]
KEYS = sorted({a.split("=", maxsplit=1)[0] for a in PLAN} | {"nosmt", "intel_iommu", "iommu", "transparent_hugepage"})


@pytest.fixture
def root(tmp_path):
    target = tmp_path / "root"
    shutil.copytree(FIXTURES / "debian12", target)
    return target


def snapshot(root):
    """Every file under root with its bytes (to prove nothing changed)."""
    files = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            files[str(path.relative_to(root))] = path.read_bytes()
    return files


def run(root, capsys, check_mode=False, diff=False, mkconfig_flags=(), **params):
    params.setdefault("root", str(root))
    params.setdefault("backend", "grub_dropin")
    params.setdefault(
        "mkconfig_command",
        [sys.executable, str(FIXTURES / "fake_grub_mkconfig.py"), "--root", str(root), "-o", "{output}"]
        + list(mkconfig_flags),
    )
    params.setdefault("script_check_command", [sys.executable, str(FIXTURES / "fake_grub_script_check.py")])
    return run_module(kernel_cmdline.main, capsys, params, check_mode, diff)


def read_bootloader(root, capsys, **kernel_args):
    """state.bootloader as bot4.hft.node_state_info reads it below ``root`` (the result on failure)."""
    params = {"root": str(root), "parts": ["kernel"], "kernel_args": kernel_args}
    result = run_module(node_state_info.main, capsys, params)
    return result if result["_rc"] else result["state"]["bootloader"]


def boot_line(root):
    """The linux line of the default entry of the fixture's grub.cfg."""
    for line in (root / GRUB_CFG).read_text().splitlines():
        if line.strip().startswith("linux"):
            return line.split(None, 1)[1]
    raise AssertionError("no linux line")


def set_running(root, args):
    base = "BOOT_IMAGE=/boot/vmlinuz-6.1.0-28-cloud-amd64 root=UUID=0d7c6a1e-5a55-4c4e-9d51-3b2e8f7d9a10 ro console=tty0 console=ttyS0,115200n8"
    tail = " quiet"
    (root / "proc" / "cmdline").write_text(base + "".join(" " + a for a in args) + tail + "\n")


# ---------------------------------------------------------------------------
# grub_dropin: apply, idempotence, reboot decision


def test_fresh_node_writes_dropin_regenerates_and_requires_reboot(root, capsys):
    result = run(root, capsys, args=PLAN, owned_keys=KEYS)
    assert result["_rc"] == 0, result
    assert result["changed"] is True
    assert result["backend"] == "grub_dropin"
    assert result["args_before"] == []
    assert result["args_after"] == PLAN
    assert result["args_added"] == PLAN
    assert result["reboot_required"] is True
    assert result["running_missing"] == PLAN
    assert result["actions"] == ["write /etc/default/grub.d/90-bot4-hft.cfg", "regenerate /boot/grub/grub.cfg"]
    assert result["default_entry"] == "Debian GNU/Linux"
    assert result["cmdline_running"].startswith("BOOT_IMAGE=")
    dropin = (root / DROPIN).read_text()
    assert dropin.splitlines()[-1] == 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX %s"' % " ".join(PLAN)
    assert stat.S_IMODE((root / DROPIN).stat().st_mode) == 0o644
    assert " ".join(PLAN) in boot_line(root)
    assert not (root / (GRUB_CFG + ".new")).exists()
    assert [p.name for p in (root / "etc/default/grub.d").iterdir() if p.name.startswith(".")] == []


def test_regenerated_grub_cfg_keeps_the_mode_of_the_one_it_replaces(root, capsys):
    (root / GRUB_CFG).chmod(0o444)
    run(root, capsys, args=PLAN, owned_keys=KEYS)
    assert stat.S_IMODE((root / GRUB_CFG).stat().st_mode) == 0o444
    (root / GRUB_CFG).chmod(0o600)
    run(root, capsys, args=PLAN[:2], owned_keys=KEYS)
    assert stat.S_IMODE((root / GRUB_CFG).stat().st_mode) == 0o600


def test_real_debian12_grub_cfg_of_the_lab_is_read(root, capsys):
    """grub.cfg captured from a lab VM (Debian 12, grub-mkconfig 2.06) before any tuning."""
    shutil.copy(FIXTURES / "grub_cfg" / "debian12-lab.cfg", root / GRUB_CFG)
    (root / DROPIN).write_text(render_dropin([]))
    # its default entry carries no owned argument: an empty plan is already applied
    result = run(root, capsys, check_mode=True, args=[], owned_keys=KEYS)
    assert result["default_entry"] == "Debian GNU/Linux"
    assert result["actions"] == []
    (root / DROPIN).write_text(render_dropin(["nosoftlockup"]))
    result = run(root, capsys, check_mode=True, args=["nosoftlockup"], owned_keys=KEYS)
    assert result["actions"] == ["regenerate /boot/grub/grub.cfg (its default entry does not carry the planned arguments)"]


def test_rerun_changes_nothing(root, capsys):
    run(root, capsys, args=PLAN, owned_keys=KEYS)
    before = snapshot(root)
    result = run(root, capsys, args=PLAN, owned_keys=KEYS)
    assert result["changed"] is False
    assert result["actions"] == []
    assert result["args_before"] == result["args_after"] == PLAN
    assert snapshot(root) == before


def test_after_reboot_nothing_is_required(root, capsys):
    run(root, capsys, args=PLAN, owned_keys=KEYS)
    set_running(root, PLAN)
    result = run(root, capsys, args=PLAN, owned_keys=KEYS)
    assert result["changed"] is False
    assert result["reboot_required"] is False
    assert result["running_missing"] == [] and result["running_unexpected"] == []


def test_running_kernel_with_longer_cpulist_needs_reboot(root, capsys):
    """isolcpus=2-31 on the running kernel is not isolcpus=2-3: tokens, not substrings."""
    run(root, capsys, args=["isolcpus=2-3", "nosmt"], owned_keys=["isolcpus", "nosmt"])
    set_running(root, ["isolcpus=2-31", "nosmt=force"])
    result = run(root, capsys, args=["isolcpus=2-3", "nosmt"], owned_keys=["isolcpus", "nosmt"])
    assert result["changed"] is False
    assert result["reboot_required"] is True
    assert result["running_missing"] == ["isolcpus=2-3", "nosmt"]
    assert result["running_unexpected"] == ["isolcpus=2-31", "nosmt=force"]


def test_owned_key_no_longer_planned_still_running_needs_reboot(root, capsys):
    run(root, capsys, args=["isolcpus=2-3"], owned_keys=KEYS)
    set_running(root, ["isolcpus=2-3", "nosmt"])
    result = run(root, capsys, args=["isolcpus=2-3"], owned_keys=KEYS)
    assert result["reboot_required"] is True
    assert result["running_unexpected"] == ["nosmt"]
    assert "nosmt" in result["args_removed"]


def test_changed_plan_rewrites_and_reports_both_lists(root, capsys):
    run(root, capsys, args=["isolcpus=2-3", "nohz_full=2-3"], owned_keys=KEYS)
    new = ["isolcpus=2-3,6-7", "nohz_full=2-3,6-7"]
    result = run(root, capsys, args=new, owned_keys=KEYS)
    assert result["changed"] is True
    assert result["args_before"] == ["isolcpus=2-3", "nohz_full=2-3"]
    assert result["args_after"] == new
    assert result["args_removed"] == ["isolcpus=2-3", "nohz_full=2-3"]
    line = boot_line(root)
    assert "isolcpus=2-3,6-7 nohz_full=2-3,6-7" in line
    assert "isolcpus=2-3 " not in line


def test_quoted_argument_round_trip(root, capsys):
    args = ['dyndbg="file drivers/net/e1000e/* +p"', "nosoftlockup"]
    result = run(root, capsys, args=args, owned_keys=["dyndbg", "nosoftlockup"])
    assert result["changed"] is True, result
    assert 'dyndbg="file drivers/net/e1000e/* +p"' in boot_line(root)
    set_running(root, ['"dyndbg=file drivers/net/e1000e/* +p"', "nosoftlockup"])
    result = run(root, capsys, args=args, owned_keys=["dyndbg", "nosoftlockup"])
    assert result["changed"] is False and result["reboot_required"] is False


# ---------------------------------------------------------------------------
# check mode and diff


def test_check_mode_changes_nothing_and_reports_everything(root, capsys):
    before = snapshot(root)
    result = run(root, capsys, check_mode=True, diff=True, args=PLAN, owned_keys=KEYS)
    assert result["changed"] is True
    assert result["reboot_required"] is True
    assert result["args_before"] == [] and result["args_after"] == PLAN
    assert result["diff"]["before"] == ""
    assert result["diff"]["after"] == "".join(a + "\n" for a in PLAN)
    assert "90-bot4-hft.cfg" in result["diff"]["after_header"]
    assert snapshot(root) == before


def test_check_mode_diff_of_a_change(root, capsys):
    run(root, capsys, args=["isolcpus=2-3"], owned_keys=KEYS)
    before = snapshot(root)
    result = run(root, capsys, check_mode=True, diff=True, args=["isolcpus=2-3,6-7", "nosmt"], owned_keys=KEYS)
    assert result["changed"] is True
    assert result["diff"]["before"] == "isolcpus=2-3\n"
    assert result["diff"]["after"] == "isolcpus=2-3,6-7\nnosmt\n"
    assert snapshot(root) == before


def test_check_mode_rerun_reports_no_change(root, capsys):
    run(root, capsys, args=PLAN, owned_keys=KEYS)
    result = run(root, capsys, check_mode=True, diff=True, args=PLAN, owned_keys=KEYS)
    assert result["changed"] is False
    assert result["diff"]["before"] == result["diff"]["after"]


# ---------------------------------------------------------------------------
# interrupted runs and failures: nothing half-applied


def test_regenerates_when_dropin_is_right_but_grub_cfg_is_stale(root, capsys):
    """An earlier run wrote the drop-in and was interrupted before grub.cfg was regenerated."""
    original_cfg = (root / GRUB_CFG).read_bytes()
    run(root, capsys, args=PLAN, owned_keys=KEYS)
    (root / GRUB_CFG).write_bytes(original_cfg)
    result = run(root, capsys, args=PLAN, owned_keys=KEYS)
    assert result["changed"] is True
    assert result["actions"] == ["regenerate /boot/grub/grub.cfg (its default entry does not carry the planned arguments)"]
    assert " ".join(PLAN) in boot_line(root)
    assert run(root, capsys, args=PLAN, owned_keys=KEYS)["changed"] is False


def test_regenerates_when_grub_cfg_is_missing(root, capsys):
    run(root, capsys, args=PLAN, owned_keys=KEYS)
    (root / GRUB_CFG).unlink()
    result = run(root, capsys, args=PLAN, owned_keys=KEYS)
    assert result["changed"] is True
    assert (root / GRUB_CFG).exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--fail"], "simulated failure"),
        (["--syntax-error"], "on the new GRUB configuration"),
        (["--drop-args"], "does not carry the planned arguments"),
    ],
)
def test_failed_regeneration_restores_the_previous_dropin(root, capsys, flags, message):
    old = ["isolcpus=2-3"]
    run(root, capsys, args=old, owned_keys=KEYS)
    before = snapshot(root)
    result = run(root, capsys, mkconfig_flags=flags, args=PLAN, owned_keys=KEYS)
    assert result["_rc"] == 1
    assert result["failed"] is True
    assert message in result["msg"]
    assert "the previous /etc/default/grub.d/90-bot4-hft.cfg was restored" in result["msg"]
    assert "/boot/grub/grub.cfg was left untouched" in result["msg"]
    assert snapshot(root) == before


def test_failed_first_run_leaves_no_dropin(root, capsys):
    before = snapshot(root)
    result = run(root, capsys, mkconfig_flags=["--drop-args"], args=PLAN, owned_keys=KEYS)
    assert result["failed"] is True
    assert "missing: " + " ".join(PLAN) in result["msg"]
    assert snapshot(root) == before


def test_dropin_sorted_after_ours_that_resets_the_line_is_caught(root, capsys):
    """A later drop-in that overwrites GRUB_CMDLINE_LINUX would drop our args: the check catches it."""
    (root / "etc/default/grub.d/99-reset.cfg").write_text('GRUB_CMDLINE_LINUX="console=ttyS0,115200n8"\n')
    before = snapshot(root)
    result = run(root, capsys, args=PLAN, owned_keys=KEYS)
    assert result["failed"] is True
    assert "does not carry the planned arguments" in result["msg"]
    assert snapshot(root) == before


def test_bad_argument_fails_before_anything(root, capsys):
    before = snapshot(root)
    result = run(root, capsys, args=["isolcpus=2-3", "x=$(reboot)"], owned_keys=KEYS)
    assert result["failed"] is True
    assert "args: kernel argument 'x=$(reboot)'" in result["msg"]
    assert snapshot(root) == before


def test_mkconfig_command_needs_output_placeholder(root, capsys):
    result = run(root, capsys, args=PLAN, mkconfig_command=["grub-mkconfig", "-o", "/boot/grub/grub.cfg"])
    assert result["failed"] is True
    assert "{output}" in result["msg"]


def test_foreign_file_at_dropin_path_is_not_overwritten(root, capsys):
    (root / DROPIN).write_text('GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX mitigations=off"\n')
    before = snapshot(root)
    result = run(root, capsys, args=PLAN, owned_keys=KEYS)
    assert result["failed"] is True
    assert "is not managed by bot4.hft" in result["msg"]
    assert snapshot(root) == before


# ---------------------------------------------------------------------------
# conflicts with the base configuration


def test_owned_key_in_etc_default_grub_fails_naming_file_variable_and_arg(root, capsys):
    grub = root / "etc/default/grub"
    grub.write_text(grub.read_text().replace('console=tty0 console=ttyS0,115200n8"', 'console=tty0 console=ttyS0,115200n8 isolcpus=1"'))
    before = snapshot(root)
    result = run(root, capsys, args=PLAN, owned_keys=KEYS)
    assert result["failed"] is True
    assert "'isolcpus=1'" in result["msg"]
    assert "/etc/default/grub (GRUB_CMDLINE_LINUX)" in result["msg"]
    assert "conflicts=warn" in result["msg"]
    assert result["conflicts"] == [
        {"arg": "isolcpus=1", "key": "isolcpus", "source": "/etc/default/grub", "variable": "GRUB_CMDLINE_LINUX"}
    ]
    assert snapshot(root) == before


def test_owned_key_in_another_dropin_default_variable(root, capsys):
    (root / "etc/default/grub.d/50-local.cfg").write_text(
        'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT transparent_hugepage=madvise"\n'
    )
    result = run(root, capsys, args=PLAN, owned_keys=KEYS)
    assert result["failed"] is True
    assert "/etc/default/grub.d/50-local.cfg (GRUB_CMDLINE_LINUX_DEFAULT)" in result["msg"]
    assert "'transparent_hugepage=madvise'" in result["msg"]


def test_substring_of_an_owned_key_is_not_a_conflict(root, capsys):
    (root / "etc/default/grub.d/50-local.cfg").write_text('GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX nohz=on nosmtx"\n')
    result = run(root, capsys, args=["nohz_full=2-3", "nosmt"], owned_keys=["nohz_full", "nosmt"])
    assert result["_rc"] == 0, result
    assert result["conflicts"] == []


def test_conflicts_warn_goes_on_and_ignores_the_base_token_for_reboot(root, capsys):
    grub = root / "etc/default/grub"
    grub.write_text(grub.read_text().replace('GRUB_CMDLINE_LINUX_DEFAULT="quiet"', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet nosoftlockup"'))
    result = run(root, capsys, args=PLAN, owned_keys=KEYS, conflicts="warn")
    assert result["_rc"] == 0, result
    assert result["changed"] is True
    warnings = [json.dumps(w) for w in result["warnings"]]  # strings, or event dicts on ansible-core >= 2.19
    assert any("'nosoftlockup'" in w and "conflicts=warn" in w for w in warnings)
    # the next boot carries our list followed by the base's own nosoftlockup
    (root / "proc/cmdline").write_text("BOOT_IMAGE=/vmlinuz ro console=tty0 console=ttyS0,115200n8 %s quiet nosoftlockup\n" % " ".join(PLAN))
    result = run(root, capsys, args=PLAN, owned_keys=KEYS, conflicts="warn")
    assert result["changed"] is False
    assert result["reboot_required"] is False


# ---------------------------------------------------------------------------
# state=absent (untune)


def test_absent_removes_the_dropin_and_restores_the_boot_line(root, capsys):
    original_line = boot_line(root)
    run(root, capsys, args=PLAN, owned_keys=KEYS)
    set_running(root, PLAN)
    result = run(root, capsys, state="absent", owned_keys=KEYS, diff=True)
    assert result["changed"] is True
    assert result["actions"] == ["remove /etc/default/grub.d/90-bot4-hft.cfg", "regenerate /boot/grub/grub.cfg"]
    assert result["args_before"] == PLAN and result["args_after"] == []
    assert result["reboot_required"] is True
    assert result["running_unexpected"] == PLAN
    assert result["diff"]["after"] == ""
    assert not (root / DROPIN).exists()
    assert boot_line(root) == original_line
    again = run(root, capsys, state="absent", owned_keys=KEYS)
    assert again["changed"] is False
    assert again["reboot_required"] is True  # the running kernel still has them until the reboot
    set_running(root, [])
    assert run(root, capsys, state="absent", owned_keys=KEYS)["reboot_required"] is False


def test_absent_without_owned_keys_still_knows_what_it_wrote(root, capsys):
    run(root, capsys, args=PLAN, owned_keys=KEYS)
    set_running(root, PLAN)
    result = run(root, capsys, state="absent")
    assert result["changed"] is True
    assert result["reboot_required"] is True
    assert set(["isolcpus", "hugepages", "nosoftlockup"]) <= set(result["owned_keys"])


def test_absent_does_not_fail_on_conflicts(root, capsys):
    grub = root / "etc/default/grub"
    grub.write_text(grub.read_text().replace('GRUB_CMDLINE_LINUX_DEFAULT="quiet"', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet isolcpus=1"'))
    result = run(root, capsys, state="absent", owned_keys=KEYS)
    assert result["_rc"] == 0, result
    assert result["changed"] is False
    assert result["conflicts"][0]["arg"] == "isolcpus=1"


def test_absent_check_mode_changes_nothing(root, capsys):
    run(root, capsys, args=PLAN, owned_keys=KEYS)
    before = snapshot(root)
    result = run(root, capsys, check_mode=True, state="absent", owned_keys=KEYS)
    assert result["changed"] is True
    assert snapshot(root) == before


def test_failed_absent_restores_the_dropin(root, capsys):
    run(root, capsys, args=PLAN, owned_keys=KEYS)
    before = snapshot(root)
    result = run(root, capsys, mkconfig_flags=["--fail"], state="absent", owned_keys=KEYS)
    assert result["failed"] is True
    assert snapshot(root) == before


# ---------------------------------------------------------------------------
# backend choice


def test_auto_backend_from_os_release(root, capsys):
    result = run(root, capsys, backend="auto", args=["nosoftlockup"])
    assert result["backend"] == "grub_dropin"


# ---------------------------------------------------------------------------
# grubby (EL 8/9): a recording stand-in


FAKE_GRUBBY = r'''#!/usr/bin/env python3
"""Stand-in for grubby-bls: boot entries' args in a JSON file, every call logged."""
import json, os, sys
state = os.environ.get("FAKE_GRUBBY_STATE") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "entries.json")
log = state + ".log"
entries = json.load(open(state))
with open(log, "a") as handle:
    handle.write(json.dumps(sys.argv[1:]) + "\n")
argv = sys.argv[1:]
if argv == ["--info=ALL"]:
    for i, e in enumerate(entries):
        print("index=%d" % i)
        print('kernel="%s"' % e["kernel"])
        print('args="%s"' % e["args"])
    sys.exit(0)
if os.path.exists(state + ".fail"):
    sys.stderr.write("grubby: simulated failure\n")
    sys.exit(1)
assert argv[0] == "--update-kernel=ALL", argv
for option in argv[1:]:
    name, value = option.split("=", 1)
    for e in entries:
        args = e["args"].split()
        if name == "--remove-args":
            for r in value.split():
                args = [a for a in args if a != r and ("=" in r or a.split("=")[0] != r)]
        elif name == "--args":
            keys = [v.split("=")[0] for v in value.split()]
            args = [a for a in args if a.split("=")[0] not in keys] + value.split()
        e["args"] = " ".join(args)
json.dump(entries, open(state, "w"))
'''


@pytest.fixture
def el9(tmp_path):
    base = tmp_path / "el9"
    (base / "proc").mkdir(parents=True)
    (base / "etc").mkdir()
    (base / "etc/os-release").write_text('NAME="Red Hat Enterprise Linux"\nID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.3"\n')
    (base / "proc/cmdline").write_text("BOOT_IMAGE=(hd0,msdos1)/vmlinuz-5.14.0 root=/dev/mapper/rhel-root ro crashkernel=auto\n")
    grubby = base / "grubby"
    grubby.write_text(FAKE_GRUBBY.replace("#!/usr/bin/env python3", "#!" + sys.executable, 1))
    grubby.chmod(0o755)
    (base / "entries.json").write_text(
        json.dumps(
            [
                {"kernel": "/boot/vmlinuz-5.14.0", "args": "ro crashkernel=auto rhgb quiet"},
                {"kernel": "/boot/vmlinuz-0-rescue", "args": "ro crashkernel=auto"},
            ]
        )
    )
    return base


def grubby_calls(el9):
    log = el9 / "entries.json.log"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [c for c in calls if c != ["--info=ALL"]]


def entries(el9):
    return json.loads((el9 / "entries.json").read_text())


def run_grubby(el9, capsys, **params):
    params.setdefault("backend", "grubby")
    params.setdefault("grubby_command", str(el9 / "grubby"))
    return run(el9, capsys, **params)


def test_grubby_apply_rerun_and_absent(el9, capsys):
    args = ["isolcpus=managed_irq,2-3", "nohz_full=2-3", "hugepagesz=1G", "hugepages=2", "hugepagesz=2M", "hugepages=64"]
    keys = ["isolcpus", "nohz_full", "hugepagesz", "hugepages", "nosmt"]
    result = run_grubby(el9, capsys, args=args, owned_keys=keys)
    assert result["_rc"] == 0, result
    assert result["changed"] is True and result["reboot_required"] is True
    assert result["backend"] == "grubby"
    assert grubby_calls(el9) == [["--update-kernel=ALL", "--args=" + " ".join(args)]]
    assert all(e["args"].endswith(" ".join(args)) for e in entries(el9))
    state = json.loads((el9 / "var/lib/bot4-hft/kernel_cmdline.json").read_text())
    assert state == {"added": args, "replaced": []}

    again = run_grubby(el9, capsys, args=args, owned_keys=keys)
    assert again["changed"] is False and again["commands"] == []
    assert len(grubby_calls(el9)) == 1

    (el9 / "proc/cmdline").write_text("BOOT_IMAGE=/vmlinuz ro crashkernel=auto rhgb quiet %s\n" % " ".join(args))
    assert run_grubby(el9, capsys, args=args, owned_keys=keys)["reboot_required"] is False

    gone = run_grubby(el9, capsys, state="absent", owned_keys=keys)
    assert gone["changed"] is True and gone["reboot_required"] is True
    assert grubby_calls(el9)[-1] == ["--update-kernel=ALL", "--remove-args=" + " ".join(args)]
    assert [e["args"] for e in entries(el9)] == ["ro crashkernel=auto rhgb quiet", "ro crashkernel=auto"]
    assert not (el9 / "var/lib/bot4-hft/kernel_cmdline.json").exists()


def test_grubby_check_mode_runs_only_info(el9, capsys):
    result = run_grubby(el9, capsys, check_mode=True, diff=True, args=["nosmt"], owned_keys=["nosmt"])
    assert result["changed"] is True
    assert result["commands"] == [[str(el9 / "grubby"), "--update-kernel=ALL", "--args=nosmt"]]
    assert result["diff"]["after"] == "nosmt\n"
    assert grubby_calls(el9) == []
    assert not (el9 / "var").exists()


def test_grubby_conflict_fails_then_warn_replaces_and_absent_restores(el9, capsys):
    data = entries(el9)
    data[0]["args"] += " isolcpus=1"
    (el9 / "entries.json").write_text(json.dumps(data))
    result = run_grubby(el9, capsys, args=["isolcpus=2-3"], owned_keys=["isolcpus"])
    assert result["failed"] is True
    assert "'isolcpus=1'" in result["msg"] and "grubby boot entries" in result["msg"]
    assert grubby_calls(el9) == []

    result = run_grubby(el9, capsys, args=["isolcpus=2-3"], owned_keys=["isolcpus"], conflicts="warn")
    assert result["_rc"] == 0, result
    assert grubby_calls(el9) == [
        ["--update-kernel=ALL", "--remove-args=isolcpus=1"],
        ["--update-kernel=ALL", "--args=isolcpus=2-3"],
    ]
    assert json.loads((el9 / "var/lib/bot4-hft/kernel_cmdline.json").read_text())["replaced"] == ["isolcpus=1"]

    result = run_grubby(el9, capsys, state="absent", owned_keys=["isolcpus"])
    assert result["_rc"] == 0, result
    assert grubby_calls(el9)[-2:] == [
        ["--update-kernel=ALL", "--remove-args=isolcpus=2-3"],
        ["--update-kernel=ALL", "--args=isolcpus=1"],
    ]


def test_grubby_failure_is_reported(el9, capsys):
    (el9 / "entries.json.fail").write_text("")
    result = run_grubby(el9, capsys, args=["nosmt"], owned_keys=["nosmt"])
    assert result["failed"] is True
    assert "simulated failure" in result["msg"]
    assert not (el9 / "var/lib/bot4-hft/kernel_cmdline.json").exists()


def test_auto_backend_on_el9(el9, capsys):
    result = run_grubby(el9, capsys, backend="auto", args=["nosmt"], owned_keys=["nosmt"], check_mode=True)
    assert result["backend"] == "grubby"


def test_the_os_family_gives_the_grub_paths_and_given_ones_win(el9, capsys):
    # EL's GRUB paths, even with the GRUB backend forced (nothing is run in check mode)
    result = run(el9, capsys, check_mode=True, args=["nosmt"], owned_keys=["nosmt"],
                 mkconfig_command=None, script_check_command=None)
    assert result["_rc"] == 0, result
    assert result["actions"] == ["write /etc/default/grub.d/90-bot4-hft.cfg", "regenerate /boot/grub2/grub.cfg"]
    result = run(el9, capsys, check_mode=True, args=["nosmt"], owned_keys=["nosmt"], grub_cfg="/boot/efi/grub.cfg")
    assert result["actions"][-1] == "regenerate /boot/efi/grub.cfg"


# ---------------------------------------------------------------------------
# node_state_info: the same bootloader, read only


def test_node_state_info_reads_what_a_fresh_node_needs_and_changes_nothing(root, capsys):
    before = snapshot(root)
    bootloader = read_bootloader(root, capsys, args=PLAN, owned_keys=KEYS)
    assert bootloader["actions"] == ["write /etc/default/grub.d/90-bot4-hft.cfg", "regenerate /boot/grub/grub.cfg"]
    assert bootloader["backend"] == "grub_dropin"  # from the fixture's /etc/os-release
    assert bootloader["reboot_required"] is True
    assert bootloader["running_missing"] == PLAN and bootloader["running_unexpected"] == []
    assert bootloader["args_after"] == PLAN
    assert "changed" not in bootloader and "diff" not in bootloader
    assert snapshot(root) == before


def test_node_state_info_after_the_module_ran_and_the_node_rebooted(root, capsys):
    assert run(root, capsys, args=PLAN, owned_keys=KEYS)["changed"] is True
    bootloader = read_bootloader(root, capsys, args=PLAN, owned_keys=KEYS)
    assert bootloader["actions"] == [] and bootloader["reboot_required"] is True
    set_running(root, PLAN)
    bootloader = read_bootloader(root, capsys, args=PLAN, owned_keys=KEYS)
    assert (bootloader["actions"], bootloader["reboot_required"], bootloader["running_missing"]) == ([], False, [])
    # a plan without an argument the running kernel still has
    bootloader = read_bootloader(root, capsys, args=PLAN[:-1], owned_keys=KEYS)
    assert bootloader["actions"] == ["write /etc/default/grub.d/90-bot4-hft.cfg", "regenerate /boot/grub/grub.cfg"]
    assert bootloader["running_unexpected"] == ["nosoftlockup"]


def test_node_state_info_fails_on_a_conflict_unless_warned(root, capsys):
    grub = root / "etc/default/grub"
    grub.write_text(grub.read_text().replace('console=tty0 console=ttyS0,115200n8"', 'console=tty0 console=ttyS0,115200n8 isolcpus=1"'))
    result = read_bootloader(root, capsys, args=PLAN, owned_keys=KEYS)
    assert result["failed"] is True
    assert "'isolcpus=1'" in result["msg"] and "/etc/default/grub (GRUB_CMDLINE_LINUX)" in result["msg"]
    bootloader = read_bootloader(root, capsys, args=PLAN, owned_keys=KEYS, conflicts="warn")
    assert bootloader["conflicts"] == [
        {"arg": "isolcpus=1", "key": "isolcpus", "source": "/etc/default/grub", "variable": "GRUB_CMDLINE_LINUX"}]
