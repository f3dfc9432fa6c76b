# -*- coding: utf-8 -*-
# Copyright: bot4 platform team
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""bot4.hft.node_manifest on a scratch root: record what is there, write over
it as the roles do, put it back, and compare a listing with hashes of the
whole tree before and after."""

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest


from ansible_collections.bot4.hft.plugins.module_utils import manifest as nm
from ansible_collections.bot4.hft.plugins.modules import node_manifest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures"))
from module_harness import run_module  # noqa: E402

MANIFEST = "/var/lib/bot4-hft/manifest.json"
CMDLINE = "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro console=ttyS0"


def run(root, capsys, check_mode=False, diff=False, **params):
    params.setdefault("root", str(root))
    return run_module(node_manifest.main, capsys, params, check_mode, diff)


def listing(root):
    """Every path below root: type, mode, owner and a hash of the content or the link target."""
    out = {}
    for base, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(base, name)
            info = os.lstat(full)
            rel = "/" + os.path.relpath(full, root)
            if os.path.islink(full):
                out[rel] = ("link", os.readlink(full))
            elif os.path.isdir(full):
                out[rel] = ("dir", oct(info.st_mode), info.st_uid)
            else:
                out[rel] = ("file", oct(info.st_mode), info.st_uid,
                            hashlib.sha256(Path(full).read_bytes()).hexdigest())
    return out


def put(root, path, text, mode=0o644):
    target = Path(root) / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    os.chmod(target, mode)


def remove(root, path):
    os.unlink(Path(root) / path.lstrip("/"))


@pytest.fixture
def node(tmp_path):
    root = tmp_path / "node"
    put(root, "/proc/cmdline", CMDLINE + "\n")
    put(root, "/etc/default/irqbalance", "#IRQBALANCE_ONESHOT=\nIRQBALANCE_BANNED_CPULIST=7\n", 0o640)
    put(root, "/etc/sysctl.d/10-distro.conf", "kernel.printk = 4 4 1 7\n")
    (root / "etc/systemd/system/sysinit.target.wants").mkdir(parents=True)
    (root / "var/lib").mkdir(parents=True)
    os.symlink("/lib/systemd/system/systemd-udevd.service", root / "etc/systemd/system/sysinit.target.wants/udev")
    return root


# What the roles record before they write (a subset of the real lists).
PATHS = [
    {"path": "/etc/bot4-hft", "owned": True, "tree": True},
    {"path": "/etc/sysctl.d/90-bot4-hft.conf", "owned": True},
    {"path": "/etc/default/grub.d/90-bot4-hft.cfg", "owned": True},
    {"path": "/etc/systemd/system/system.slice.d/90-bot4-hft.conf", "owned": True},
    {"path": "/etc/default/irqbalance"},
    {"path": "/etc/systemd/system/dev-hugepages1G.mount"},
    {"path": "/etc/systemd/system/sysinit.target.wants/dev-hugepages1G.mount"},
]


def tune(root):
    """What the roles write."""
    put(root, "/etc/bot4-hft/runtime.d/50-housekeeping.json", "{}\n")
    put(root, "/etc/bot4-hft/tuned.json", "{}\n")
    put(root, "/etc/sysctl.d/90-bot4-hft.conf", "kernel.timer_migration = 0\n")
    put(root, "/etc/default/grub.d/90-bot4-hft.cfg", "GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX nohz_full=2-3\"\n")
    put(root, "/etc/systemd/system/system.slice.d/90-bot4-hft.conf", "[Slice]\nAllowedCPUs=0-1\n")
    put(root, "/etc/default/irqbalance", "IRQBALANCE_BANNED_CPULIST=2-3\n")
    put(root, "/etc/systemd/system/dev-hugepages1G.mount", "[Mount]\n")
    os.symlink("../dev-hugepages1G.mount", root / "etc/systemd/system/sysinit.target.wants/dev-hugepages1G.mount")
    put(root, "/var/lib/bot4-hft/kubelet-originals.json", "{}\n")


def test_record_tune_restore_gives_back_the_same_tree(node, capsys):
    before = listing(node)
    recorded = run(node, capsys, paths=PATHS)
    assert recorded["_rc"] == 0 and recorded["changed"], recorded
    assert recorded["cmdline"] == CMDLINE
    # Missing parents are recorded before their children, the state directory first.
    assert recorded["recorded"][:3] == ["/var/lib/bot4-hft", "/etc/bot4-hft", "/etc/sysctl.d/90-bot4-hft.conf"]
    assert "/etc/default/grub.d" in recorded["recorded"]
    assert "/etc/systemd/system/system.slice.d" in recorded["recorded"]
    tune(node)
    assert run(node, capsys, state="written")["_rc"] == 0
    # The same record again adds nothing: the first record of a path wins.
    again = run(node, capsys, paths=PATHS)
    assert not again["changed"] and again["recorded"] == []

    preview = run(node, capsys, check_mode=True, diff=True, state="restored")
    assert preview["changed"] and listing(node) != before
    assert "remove_tree: /etc/bot4-hft" in preview["diff"]["after"]

    restored = run(node, capsys, state="restored")
    assert restored["_rc"] == 0 and restored["changed"] and restored["cmdline"] == CMDLINE
    assert listing(node) == before
    assert [a["action"] for a in restored["actions"]].count("backup") == 0


def test_a_shared_file_changed_after_the_run_is_kept_aside(node, capsys):
    run(node, capsys, paths=PATHS)
    tune(node)
    run(node, capsys, state="written")
    put(node, "/etc/default/irqbalance", "IRQBALANCE_BANNED_CPULIST=2-3\nIRQBALANCE_ARGS=--policyscript=x\n")
    restored = run(node, capsys, state="restored")
    backups = [a for a in restored["actions"] if a["action"] == "backup"]
    assert [a["path"] for a in backups] == ["/etc/default/irqbalance"]
    assert (node / backups[0]["to"].lstrip("/")).read_text().endswith("--policyscript=x\n")
    assert (node / "etc/default/irqbalance").read_text() == "#IRQBALANCE_ONESHOT=\nIRQBALANCE_BANNED_CPULIST=7\n"
    assert oct(os.stat(node / "etc/default/irqbalance").st_mode & 0o777) == "0o640"


def test_a_directory_someone_else_filled_is_left_with_a_warning(node, capsys):
    run(node, capsys, paths=PATHS)
    tune(node)
    put(node, "/etc/default/grub.d/50-other.cfg", "GRUB_TIMEOUT=1\n")
    restored = run(node, capsys, state="restored")
    assert restored["_rc"] == 0
    assert (node / "etc/default/grub.d/50-other.cfg").exists()
    assert not (node / "etc/default/grub.d/90-bot4-hft.cfg").exists()
    warnings = [json.dumps(w) for w in restored["warnings"]]  # strings, or event dicts on ansible-core >= 2.19
    assert any("/etc/default/grub.d: left in place" in w for w in warnings), warnings


def test_an_owned_path_from_an_older_release_is_the_collections_own(node, capsys):
    """A node tuned before the manifest existed: its owned files count as absent before,
    and its kernel arguments are not the untouched ones."""
    put(node, "/etc/sysctl.d/90-bot4-hft.conf", "kernel.timer_migration = 0\n")
    before = listing(node)
    recorded = run(node, capsys, paths=PATHS)
    assert recorded["cmdline"] is None
    restored = run(node, capsys, state="restored")
    assert restored["cmdline"] is None
    del before["/etc/sysctl.d/90-bot4-hft.conf"]
    assert listing(node) == before


def test_no_manifest_no_untune(node, capsys):
    result = run(node, capsys, state="restored")
    assert result["_rc"] == 1 and "run playbooks/tune_nodes.yml once" in result["msg"]
    assert not result.get("changed")


@pytest.mark.parametrize("path, reason", [
    ("etc/x", "not an absolute path"),
    ("/etc/../root/.ssh/authorized_keys", "not a normalised path"),
    ("/etc/sysctl.d/", "not a normalised path"),
    ("/", "the root directory"),
])
def test_bad_paths_are_refused_before_anything_is_written(node, capsys, path, reason):
    before = listing(node)
    result = run(node, capsys, paths=[{"path": "/etc/sysctl.d/90-bot4-hft.conf", "owned": True}, {"path": path}])
    assert result["_rc"] == 1 and reason in result["msg"], result
    assert listing(node) == before


def test_a_shared_directory_and_an_unowned_tree_are_refused(node, capsys):
    result = run(node, capsys, paths=[{"path": "/etc/default"}])
    assert result["_rc"] == 1 and "/etc/default: is a directory" in result["msg"]
    result = run(node, capsys, paths=[{"path": "/etc/x", "tree": True}])
    assert result["_rc"] == 1 and "a tree must be owned" in result["msg"]


def test_a_file_replaced_by_a_directory_stops_untune_before_any_write(node, capsys):
    run(node, capsys, paths=PATHS)
    tune(node)
    remove(node, "/etc/systemd/system/dev-hugepages1G.mount")
    (node / "etc/systemd/system/dev-hugepages1G.mount").mkdir()
    snapshot = listing(node)
    result = run(node, capsys, state="restored")
    assert result["_rc"] == 1 and "now it is a directory" in result["msg"]
    assert listing(node) == snapshot


def test_check_mode_records_nothing(node, capsys):
    result = run(node, capsys, check_mode=True, diff=True, paths=PATHS)
    assert result["changed"] and "recorded /etc/bot4-hft\n" in result["diff"]["after"]
    assert not (node / MANIFEST.lstrip("/")).exists()


def test_a_damaged_manifest_is_named(node, capsys):
    put(node, MANIFEST, "{\"format\": 9}")
    result = run(node, capsys, state="restored")
    assert result["_rc"] == 1 and result["msg"] == "manifest: %s: not a format-%d manifest" % (
        MANIFEST, nm.MANIFEST_FORMAT)


def test_a_path_the_collection_never_wrote_is_left_to_whoever_wrote_it_later(node, capsys):
    """irqbalance's configuration is recorded when the role runs; without irqbalance the
    collection writes nothing there. A package installed after the run keeps its file."""
    run(node, capsys, paths=[{"path": "/etc/sysconfig/irqbalance"}])
    run(node, capsys, state="written")
    put(node, "/etc/sysconfig/irqbalance", "IRQBALANCE_ARGS=\n")
    restored = run(node, capsys, state="restored")
    assert restored["_rc"] == 0
    assert (node / "etc/sysconfig/irqbalance").read_text() == "IRQBALANCE_ARGS=\n"


def test_a_file_marked_leave_is_put_back_whole_or_left_to_the_caller(node, capsys):
    """The kubelet's configuration: unchanged since the run, its recorded bytes come back;
    changed by someone else since, it is left for the caller's key-level merge."""
    put(node, "/var/lib/kubelet/config.yaml", "kind: KubeletConfiguration\ncgroupDriver: systemd\n")
    paths = [{"path": "/var/lib/kubelet/config.yaml", "if_changed": "leave"}]
    run(node, capsys, paths=paths)
    put(node, "/var/lib/kubelet/config.yaml", "kind: KubeletConfiguration\ncpuManagerPolicy: static\n")
    run(node, capsys, state="written")
    whole = run(node, capsys, check_mode=True, state="restored")
    assert whole["left"] == [] and any(a["path"] == "/var/lib/kubelet/config.yaml" and a["action"] == "write"
                                       for a in whole["actions"])
    put(node, "/var/lib/kubelet/config.yaml", "kind: KubeletConfiguration\ncpuManagerPolicy: static\nx: 1\n")
    left = run(node, capsys, state="restored")
    assert left["left"] == ["/var/lib/kubelet/config.yaml"]
    assert (node / "var/lib/kubelet/config.yaml").read_text().endswith("x: 1\n")


def test_an_unknown_if_changed_is_refused(node, capsys):
    result = run(node, capsys, paths=[{"path": "/etc/x", "if_changed": "merge"}])
    assert result["_rc"] == 1 and "if_changed" in result["msg"]
