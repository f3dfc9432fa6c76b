"""The image cache key covers every build input, and only them."""

import os
import shutil
from pathlib import Path

import pytest

from bot4lab import image
from bot4lab.common import IMAGE_SRC_DIR


@pytest.fixture
def src(tmp_path):
    d = tmp_path / "image"
    shutil.copytree(IMAGE_SRC_DIR, d)
    return d


def iid(src, **kw):
    return image.image_id(image.ImageSpec(source_dir=src, **kw))


def test_stable(src, tmp_path):
    first = iid(src)
    assert first == iid(src)
    # same content elsewhere, other mtimes: same image
    other = tmp_path / "copy"
    shutil.copytree(src, other)
    for p in other.rglob("*"):
        os.utime(p, (1, 1))
    assert iid(other) == first
    assert len(first) == 20


def test_the_repository_image_id_is_deterministic():
    assert image.image_id(image.ImageSpec()) == image.image_id(image.ImageSpec())


def test_package_list_changes_the_hash(src):
    before = iid(src)
    pkgs = src / "packages.txt"
    pkgs.write_text(pkgs.read_text() + "tuned\n")
    assert iid(src) != before


def test_guest_files_change_the_hash(src):
    before = iid(src)
    grub = src / "rootfs/etc/default/grub"
    grub.write_text(grub.read_text().replace("GRUB_TIMEOUT=1", "GRUB_TIMEOUT=2"))
    changed = iid(src)
    assert changed != before
    (src / "rootfs/etc/motd").write_text("hi\n")
    assert iid(src) != changed


def test_executable_bit_changes_the_hash(src):
    before = iid(src)
    seed = src / "rootfs/usr/local/sbin/bot4-lab-seed"
    seed.chmod(0o755)
    assert iid(src) != before


def test_install_script_suite_version_and_size_change_the_hash(src):
    before = iid(src)
    assert iid(src, suite="trixie") != before
    assert iid(src, build_version="bot4-lab-image/999") != before
    assert iid(src, disk_size_mib=8192) != before
    assert iid(src, security_mirror="http://example.invalid/debian-security") != before
    script = src / "install-boot.sh"
    script.write_text(script.read_text() + "\n# changed\n")
    assert iid(src) != before


def test_comments_are_not_packages(tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("# comment\nlinux-image-amd64  # kernel\n\n  grub-pc\n")
    assert image.read_list(f) == ["linux-image-amd64", "grub-pc"]


def test_package_list_has_what_the_lab_needs():
    pkgs = set(image.read_list(image.ImageSpec().packages_file))
    for must in ("linux-image-amd64", "grub-pc", "openssh-server", "python3", "python3-apt",
                 "numactl", "hwloc-nox", "irqbalance", "rt-tests", "pciutils", "ethtool"):
        assert must in pkgs
    assert "linux-image-cloud-amd64" not in pkgs  # no e1000e in the cloud kernel


def test_sources_are_debian_bookworm_main_updates_security():
    assert image.ImageSpec().apt_sources() == [
        "deb http://deb.debian.org/debian bookworm main",
        "deb http://deb.debian.org/debian bookworm-updates main",
        "deb http://deb.debian.org/debian-security bookworm-security main",
    ]


def test_find_image_needs_a_complete_build(src, tmp_path, monkeypatch):
    monkeypatch.setenv("BOT4_CACHE_DIR", str(tmp_path / "cache"))
    spec = image.ImageSpec(source_dir=src)
    assert image.find_image(spec) is None
    d = tmp_path / "cache/images" / image.image_id(spec)
    d.mkdir(parents=True)
    (d / "base.qcow2").write_bytes(b"x")
    assert image.find_image(spec) is None  # no manifest: not a finished build
    (d / "manifest.json").write_text('{"image_id": "%s"}' % d.name)
    assert image.find_image(spec) == d / "base.qcow2"
    # an interrupted build's temp directory is never taken for an image
    (tmp_path / "cache/images" / f".tmp-{d.name}-1-abc").mkdir()
    assert image.find_image(spec) == d / "base.qcow2"


def test_no_secrets_in_the_image_sources():
    for p in Path(IMAGE_SRC_DIR).rglob("*"):
        assert not p.name.startswith("ssh_host_")
        assert not p.name.startswith("id_")


def test_no_executable_in_the_image_sources():
    """Tools that scan the checkout (an Ansible inventory directory runs every
    executable file it finds with --list) must never run guest scripts on the host."""
    for p in Path(IMAGE_SRC_DIR).rglob("*"):
        if p.is_file():
            assert not p.stat().st_mode & 0o111, f"{p} is executable"
    assert image.EXECUTABLES == {"usr/local/sbin/bot4-lab-seed"}
    for rel in image.EXECUTABLES:
        assert (IMAGE_SRC_DIR / "rootfs" / rel).is_file()


def test_guest_scripts_refuse_to_run_outside_their_context():
    install = (IMAGE_SRC_DIR / "install-boot.sh").read_text()
    guard = install.index('if [ "$$" -ne 1 ]')
    for destructive in ("rm -", "mount ", "grub-install", "sysrq-trigger", ": > /etc/machine-id"):
        assert guard < install.index(destructive), destructive
    seed = (IMAGE_SRC_DIR / "rootfs/usr/local/sbin/bot4-lab-seed").read_text()
    guard = seed.index("INVOCATION_ID")
    for action in ("modprobe qemu_fw_cfg", "hostname \"$name\"", "install -d -m"):
        assert guard < seed.index(action), action


MOUNTINFO = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:5 / /b/.tmp-x/rootfs/dev rw shared:2 - devtmpfs devtmpfs rw
31 30 0:6 / /b/.tmp-x/rootfs/dev/pts rw shared:3 - devpts devpts rw
32 22 0:7 / /b/.tmp-x/rootfs/proc rw shared:4 - proc proc rw
33 22 0:8 / /b/.tmp-xy/rootfs/proc rw shared:5 - proc proc rw
34 22 0:9 / /b/.tmp-x/with\\040space rw shared:6 - tmpfs tmpfs rw
"""


def test_mounts_under_a_build_dir_deepest_first():
    found = image.mounts_under(Path("/b/.tmp-x"), MOUNTINFO)
    assert found[0] == "/b/.tmp-x/rootfs/dev/pts"
    assert set(found) == {"/b/.tmp-x/rootfs/dev", "/b/.tmp-x/rootfs/dev/pts",
                          "/b/.tmp-x/rootfs/proc", "/b/.tmp-x/with space"}


def test_safe_rmtree_removes_a_plain_tree(tmp_path):
    d = tmp_path / "build" / "rootfs" / "etc"
    d.mkdir(parents=True)
    (d / "f").write_text("x")
    image.safe_rmtree(tmp_path / "build")
    assert not (tmp_path / "build").exists()
    image.safe_rmtree(tmp_path / "missing")  # no error


def test_host_packages_cover_the_tools_the_lab_runs():
    from bot4lab.common import HOST_PACKAGES_FILE

    pkgs = set(image.read_list(HOST_PACKAGES_FILE))
    for must in ("qemu-system-x86", "qemu-utils", "mmdebstrap", "fdisk", "e2fsprogs",
                 "openssh-client", "systemd", "debian-archive-keyring"):
        assert must in pkgs
