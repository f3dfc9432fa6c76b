"""Lab state handling that needs no VM: names, node lookup, reserved ports, status."""

import json

import pytest

from bot4lab import lab as labmod
from bot4lab.common import LabError


@pytest.fixture
def labs(tmp_path, monkeypatch):
    monkeypatch.setenv("BOT4_LAB_DIR", str(tmp_path))
    return tmp_path


def make_lab(root, name, ports):
    d = root / name
    d.mkdir()
    nodes = [{"name": f"{name}-node-{i}", "index": i, "ssh_port": p,
              "mgmt_mac": "52:54:00:00:00:01", "data_mac": "52:54:00:00:00:02"}
             for i, p in enumerate(ports, start=1)]
    (d / "lab.json").write_text(json.dumps({"name": name, "nodes": nodes}))
    return labmod.Lab(name, root)


@pytest.mark.parametrize("bad", ["", "Dev", "-x", "a_b", "a/b", "x" * 32, "../etc"])
def test_bad_lab_names(bad):
    with pytest.raises(LabError, match="invalid lab name"):
        labmod.Lab(bad)


def test_state_dir_follows_env(labs):
    assert labmod.Lab("dev").dir == labs / "dev"


def test_reserved_ports_cover_every_other_lab(labs):
    make_lab(labs, "a", [10022, 10023])
    make_lab(labs, "b", [10030])
    (labs / "junk").mkdir()  # a directory without lab.json is not a lab
    assert [lab.name for lab in labmod.all_labs()] == ["a", "b"]
    assert labmod.all_reserved_ports() == {10022, 10023, 10030}
    assert labmod.all_reserved_ports(exclude="a") == {10030}


def test_find_node_by_name_index_or_short_name(labs):
    lab = make_lab(labs, "dev", [10022, 10023])
    assert lab.find_node("2")["name"] == "dev-node-2"
    assert lab.find_node("node-1")["ssh_port"] == 10022
    assert lab.find_node("dev-node-2")["index"] == 2
    with pytest.raises(LabError, match="no node"):
        lab.find_node("3")


def test_status_of_stopped_lab(labs):
    lab = make_lab(labs, "dev", [10022])
    st = lab.status()
    assert st["running"] == 0 and st["exists"] is True
    node = st["nodes"][0]
    assert node["running"] is False and node["pid"] is None and node["ssh_port"] == 10022
    assert node["console_log"].endswith("dev/dev-node-1.console.log")


def test_boots_are_counted_from_kernel_banners_on_the_console(labs):
    lab = make_lab(labs, "dev", [10022])
    assert lab.status()["nodes"][0]["boots"] == 0  # no console log yet
    banner = b"[    0.000000] Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org)\r\n"
    grub = b"\x1b[2;24HGNU GRUB  version 2.06-13+deb12u2\r\n"
    later = b"[    3.141592] Linux version mentioned later is not a boot\r\n"
    (lab.dir / "dev-node-1.console.log").write_bytes(grub + banner + later + grub + banner)
    assert lab.status()["nodes"][0]["boots"] == 2


def test_stale_pidfile_is_not_a_running_node(labs):
    lab = make_lab(labs, "dev", [10022])
    import os
    (lab.dir / "dev-node-1.pid").write_text(str(os.getpid()))  # alive, but not our QEMU
    assert lab.pid("dev-node-1") is None


def test_ssh_argv_uses_lab_key_and_known_hosts(labs):
    lab = make_lab(labs, "dev", [10022])
    argv = lab.ssh_argv(lab.find_node("1"))
    assert argv[0] == "ssh" and argv[-1] == "root@127.0.0.1"
    assert ["-i", str(lab.dir / "id_ed25519")] == argv[1:3]
    assert "-p" in argv and "10022" in argv
    assert f"UserKnownHostsFile={lab.dir / 'known_hosts'}" in argv
    assert "StrictHostKeyChecking=accept-new" in argv
    assert "HostKeyAlias=dev-node-1" in argv
